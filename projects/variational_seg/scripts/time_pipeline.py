"""Where the per-image time goes, and a repeat-robust speed ratio (README "Benchmark").

    .venv/bin/python -m projects.variational_seg.scripts.time_pipeline [--images 10] [--repeats 5] [--threads 1]

On the first ``--images`` GrabCut test images at the bench's working size and tuned ``wbh`` model:
milliseconds per image of each preparation stage (resize, D_G, weights, init disks), of the ADMM loop
and per iteration, then the whole pipeline and ``chan_vese`` as the minimum over ``--repeats`` runs
(the shared VM's noise only ever adds time, so the minimum is the stable figure). Last, the cost of one
ADMM iteration from solves with a fixed number of iterations (110 minus 10, minimum over the repeats)
on the first image and on that image shrunk to 16 x 24, where the time is almost all per-kernel
overhead. ``--threads`` overrides the config's torch/OpenCV threads (1). Not a test and not the
benchmark file: ``make bench PROJECT=variational_seg`` stays the reference.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import torch
import torch.nn.functional as F

from projects.variational_seg import solver
from projects.variational_seg.bench import skimage_chan_vese
from projects.variational_seg.data import build_dataset
from projects.variational_seg.geodesic import geodesic_distance
from projects.variational_seg.methods import model_config
from projects.variational_seg.params import resolve_params
from projects.variational_seg.pipeline import segment, set_threads, to_working
from projects.variational_seg.regularisation_maps import weight_maps
from shared.config import compose


def _ms(fn, *args) -> tuple[float, object]:
    """(milliseconds of fn(*args), its result)."""
    start = time.perf_counter()
    out = fn(*args)
    return 1e3 * (time.perf_counter() - start), out


def iteration_ms(x, m, p, repeats: int) -> float:
    """Milliseconds per ADMM iteration: (solve with 110 iterations - solve with 10) / 100, each the
    minimum over ``repeats`` runs (the stopping test never fires: tol is tiny and min_iter = max_iter)."""
    def best(n: int) -> float:
        fixed = p.with_(tol=1e-12, min_iter=n, max_iter=n)
        return min(_ms(partial(solver.solve, diagnostics=False), x, m, fixed)[0] for _ in range(repeats))
    best(10)  # warm-up
    return (best(110) - best(10)) / 100


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=positive_int, default=10, help="first N GrabCut test images")
    parser.add_argument("--repeats", type=positive_int, default=5, help="runs per image for the minimum")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch/OpenCV threads (config: 1)")
    args = parser.parse_args()
    overrides = [f"working.threads={args.threads}"] if args.threads else []
    cfg = compose("variational_seg", ["data=grabcut", "logger=none", *overrides], task="bench")
    set_threads(cfg.working)
    max_side, mu = int(cfg.working.max_side), float(cfg.bench.skimage_mu)
    dataset = build_dataset(cfg.data, cfg.markers, cfg.seed, split=cfg.bench.split)
    samples = [dataset[i] for i in range(min(args.images, len(dataset)))]
    p = resolve_params(model_config("wbh"), cfg.data)
    segment([samples[0]["image"]], [samples[0]["points"]], p, max_side)  # warm-up
    stages = dict.fromkeys(("resize", "geodesic", "weights", "disks", "solve", "pipeline_min", "chan_vese_min"), 0.0)
    iterations = 0
    for s in samples:
        image, points = s["image"], s["points"]
        t, (x, m) = _ms(to_working, image, points, max_side)
        stages["resize"] += t
        z = solver.minmax(x)
        stages["geodesic"] += _ms(geodesic_distance, z, m, p.geodesic, p.eps_d, p.beta_g, p.sigma_g,
                                  p.geodesic_sweeps)[0]
        stages["weights"] += _ms(weight_maps, z, solver.per_sample(p.alpha0, 1, z), solver.per_sample(p.beta0, 1, z),
                                 p.weights, p.alpha_source, p.beta_source, p.weight_sigma, p.quantile, p.k_min)[0]
        stages["disks"] += _ms(solver.disks, m, solver.init_radius(*m.shape[-2:], p.init_radius))[0]
        t, (_, k, _) = _ms(partial(solver.solve, diagnostics=False), x, m, p)
        stages["solve"] += t
        iterations += int(k[0])
        stages["pipeline_min"] += min(_ms(segment, [image], [points], p, max_side)[0] for _ in range(args.repeats))
        stages["chan_vese_min"] += min(skimage_chan_vese(image, points, max_side, mu)[1] * 1e3
                                       for _ in range(args.repeats))
    n = len(samples)
    prep = sum(stages[k] for k in ("resize", "geodesic", "weights", "disks"))
    loop = stages["solve"] - prep + stages["resize"]  # solve() re-does D_G, weights and disks
    print(f"{n} images, ms per image: " + ", ".join(f"{k} {v / n:.1f}" for k, v in stages.items()))
    print(f"ADMM loop ~{loop / n:.1f} ms = {loop / iterations:.2f} ms per iteration ({iterations / n:.1f} iterations)")
    print(f"speed ratio chan_vese / ours (minimum of {args.repeats} runs each): "
          f"{stages['chan_vese_min'] / stages['pipeline_min']:.2f}x")
    x, m = to_working(samples[0]["image"], samples[0]["points"], max_side)
    tiny = (F.interpolate(x, size=(16, 24), mode="area"), torch.zeros(1, 16, 24, dtype=torch.bool))
    tiny[1][0, 8, 12] = True
    print(f"one ADMM iteration ({cfg.working.threads} thread(s)): {iteration_ms(x, m, p, args.repeats):.3f} ms on "
          f"{tuple(x.shape[-2:])}, {iteration_ms(*tiny, p, args.repeats):.3f} ms on (16, 24)")


if __name__ == "__main__":
    main()
