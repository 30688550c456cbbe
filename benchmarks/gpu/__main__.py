"""``python -m benchmarks.gpu [--smoke] [--output PATH] [--only SECTION ...]`` (``make bench-gpu``).

Checks the imports first (and says exactly what is missing), then measures each section; a section
that fails is recorded with its error and the others still run, so one call on a lent GPU gives
every figure it can. Writes one JSON (default ``benchmarks/results/gpu.json``; ``--smoke`` writes
``runs/gpu_smoke.json``) and exits 1 if any section failed, 2 if an import is missing or no GPU.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

from benchmarks.gpu.preflight import OPTIONAL, REQUIRED, missing_imports, report  # noqa: E402

SECTIONS = ("semiseg_train", "semiseg_infer", "semiseg_fit", "variational", "classify")
REPO = Path(__file__).resolve().parents[2]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU (the CI test)")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--budget-s", type=float, default=450.0,
                        help="start no new section after this many seconds (the whole run must fit 8 minutes)")
    parser.add_argument("--fit-data", choices=("ccp", "synthetic"), default=None,
                        help="data of the 50-step fit (default: ccp, synthetic with --smoke)")
    return parser.parse_args(argv)


def environment() -> dict:
    import torch

    from benchmarks.gpu.peaks import bf16_peak_tflops

    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {"device_name": name, "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
            "bf16_peak_tflops": bf16_peak_tflops(name), "precision": "bf16-mixed"}


def run_section(name: str, args: argparse.Namespace, scale, peak: float | None) -> dict:
    if name == "semiseg_train":
        from benchmarks.gpu.semiseg import train_fields
        return train_fields(scale, peak)
    if name == "semiseg_infer":
        from benchmarks.gpu.semiseg import infer_fields
        return infer_fields(scale, peak)
    if name == "semiseg_fit":
        from benchmarks.gpu.semiseg import fit_fields
        return fit_fields(scale, args.fit_data or ("synthetic" if args.smoke else "ccp"))
    if name == "variational":
        from benchmarks.gpu.variational import variational_fields
        return variational_fields(scale)
    from benchmarks.gpu.classify import classify_fields
    return classify_fields(scale, peak)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    output = args.output or REPO / ("runs/gpu_smoke.json" if args.smoke else "benchmarks/results/gpu.json")
    try:  # before any measurement: a result that cannot be written is lost time on a lent GPU
        output.parent.mkdir(parents=True, exist_ok=True)
        if output.is_dir() or not os.access(output.parent, os.W_OK):
            raise PermissionError(13, "not a writable file path")
    except OSError as exc:
        print(f"error: cannot write the results file {output}: {exc.strerror}", file=sys.stderr)
        return 2
    missing = missing_imports(REQUIRED)
    if missing:
        print(f"error: the GPU bench cannot start:\n{report(missing)}", file=sys.stderr)
        return 2
    import torch

    if not args.smoke and not torch.cuda.is_available():
        print("error: no CUDA device visible (torch.cuda.is_available() is False); use --smoke on the CPU",
              file=sys.stderr)
        return 2
    from benchmarks.gpu.scale import FULL, SMOKE

    scale = SMOKE if args.smoke else FULL
    torch.set_float32_matmul_precision("high")
    results: dict = {"mode": "smoke" if args.smoke else "full", **environment(),
                     "optional_missing": sorted(missing_imports(OPTIONAL)), "sections": {}, "errors": {}}
    peak = results["bf16_peak_tflops"]
    for name in args.only:
        if time.perf_counter() - STARTED > args.budget_s:
            results["errors"][name] = f"skipped: the {args.budget_s:.0f} s budget was spent before it started"
            continue
        start = time.perf_counter()
        print(f"[gpu bench] {name} ...", flush=True)
        try:
            results.update(run_section(name, args, scale, peak))
            results["sections"][name] = round(time.perf_counter() - start, 1)
        except Exception as exc:  # noqa: BLE001 - record and go on: one call must give every figure it can
            traceback.print_exc()
            results["errors"][name] = f"{type(exc).__name__}: {exc}"
        print(f"[gpu bench] {name} done in {time.perf_counter() - start:.1f} s", flush=True)
    results["wall_s_total_with_imports"] = round(time.perf_counter() - STARTED, 1)
    results["measured_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results -> {output}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("WANDB_MODE", "offline")
    sys.exit(main(sys.argv[1:]))
