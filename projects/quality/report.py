"""The audit's results: one :class:`AuditRow` per file and the self-contained HTML page made of them
(thumbnails inline as base64 JPEG, worst score first)."""

from __future__ import annotations

import base64
import html
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from shared.files import write_atomic


@dataclass
class AuditRow:
    """One audited file: its verdict, top defects and thumbnail (a card of the page) or its error (a row of
    the page's error table); ``csv()`` is its line of audit.csv."""

    file: str
    score: float | None = None
    accept: bool | None = None
    p_reject: float | None = None
    defects: list[tuple[str, float]] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    error: str = ""
    thumb: str = ""

    def csv(self) -> list:
        if self.error:
            return [self.file, "", "", "", "", "", "", self.error]
        top = ";".join(f"{n}:{p:.2f}" for n, p in self.defects)
        return [self.file, f"{self.score:.4f}", int(bool(self.accept)), f"{self.p_reject:.4f}", top, self.width,
                self.height, ""]


CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin:0 0 .3em} .meta{color:#555;font-size:.9em;margin-bottom:1em}
.summary span{display:inline-block;margin-right:1.2em;font-weight:600}
.grid{display:flex;flex-wrap:wrap;gap:10px}
.card{width:150px;border:1px solid #ddd;border-radius:6px;padding:6px;font-size:12px;background:#fafafa}
.card img{display:block;margin:0 auto 4px;max-width:140px;max-height:140px}
.reject{border-color:#d33;background:#fff4f4} .accept{border-color:#3a3}
.badge{font-weight:700} .reject .badge{color:#c00} .accept .badge{color:#070}
.name{word-break:break-all;color:#333} .reasons{color:#a30}
table{border-collapse:collapse;font-size:13px} td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
.errors{margin:1em 0 1.5em}
"""


def thumbnail_data_uri(image: np.ndarray, size: int = 112) -> str:
    im = Image.fromarray(image)
    im.thumbnail((size, size))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _card(row: AuditRow, has_defects: bool) -> str:
    verdict = "accept" if row.accept else "reject"
    if row.defects:
        reasons = ", ".join(f"{html.escape(n)} {p:.0%}" for n, p in row.defects)
    elif not has_defects:
        reasons = "<i>this model gives no reasons</i>" if not row.accept else ""
    else:
        reasons = "<i>no single defect above threshold</i>" if not row.accept else ""
    return (f'<div class="card {verdict}"><img src="{row.thumb}" alt="">'
            f'<div class="badge">{verdict.upper()} &middot; score {row.score:.3f}</div>'
            f'<div class="reasons">{reasons}</div>'
            f'<div class="name" title="{html.escape(row.file)}">{html.escape(row.file)} '
            f'({row.width}&times;{row.height})</div></div>')


def render(rows: Sequence[AuditRow], folder: str, model: str, seconds: float, has_defects: bool = True) -> str:
    scored = [r for r in rows if not r.error]
    errors = [r for r in rows if r.error]
    rejected = sum(1 for r in scored if not r.accept)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Image quality audit</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Product image quality audit</h1>",
        f"<div class='meta'>folder <code>{html.escape(folder)}</code> &middot; model {html.escape(model)} &middot; "
        f"{time.strftime('%Y-%m-%d %H:%M:%S')} &middot; {seconds:.1f} s</div>",
        f"<div class='summary'><span>{len(rows)} files</span><span>{len(scored) - rejected} accepted</span>"
        f"<span style='color:#c00'>{rejected} rejected</span><span>{len(errors)} errors</span></div>",
    ]
    if errors:
        parts.append("<div class='errors'><h2>Errors (not scored)</h2><table><tr><th>file</th><th>reason</th></tr>")
        parts += [f"<tr><td>{html.escape(r.file)}</td><td>{html.escape(r.error)}</td></tr>" for r in errors]
        parts.append("</table></div>")
    parts.append("<h2>Images, worst score first</h2><div class='grid'>")
    parts += [_card(r, has_defects) for r in scored]
    parts.append("</div><p class='meta'>score in [0, 1], higher is better; reasons = defects with probability "
                 "&ge; the threshold (top 3).</p></body></html>")
    return "\n".join(parts)


def write_report(path: str | Path, rows: Sequence[AuditRow], folder: str, model: str, seconds: float,
                 has_defects: bool = True) -> Path:
    """Written atomically (temporary file + rename) and readable by others, like the CSV."""
    html_text = render(rows, folder, model, seconds, has_defects)
    return write_atomic(path, lambda f: f.write(html_text))
