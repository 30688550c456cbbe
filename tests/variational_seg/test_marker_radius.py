"""markers.radius reaches the solver: each marker is dilated to a disk of that radius at working
resolution (it used to be recorded in summary.json but never passed on: DSC was the same at 0 and 5)."""

import csv
from pathlib import Path

import numpy as np
import pytest

from projects.variational_seg import pipeline
from projects.variational_seg.markers import points_to_mask

TINY = ["data.options.sizes.test=2", "data.options.image_size=48", "data.batch_size=2", "+data.solver.max_iter=60"]


def test_points_to_mask_dilates_to_a_disk():
    point = np.array([[5, 5]])
    assert points_to_mask(point, (11, 11), 0).sum() == 1
    assert points_to_mask(point, (11, 11), 2).sum() == 13      # the 13 pixels with dy^2 + dx^2 <= 4


def test_marker_radius_reaches_the_solver_and_the_records(run_project, monkeypatch, tmp_path):
    seen: dict[int, list] = {}
    solve = pipeline.solve

    def spy(x, markers, *args, **kwargs):
        seen.setdefault(radius, []).append(markers.clone())
        return solve(x, markers, *args, **kwargs)

    monkeypatch.setattr(pipeline, "solve", spy)
    rows, summaries = {}, {}
    for radius in (0, 2):
        cfg, summaries[radius] = run_project("variational_seg", [*TINY, f"markers.radius={radius}",
                                                                 f"paths.output_dir={tmp_path}/r{radius}"],
                                             task="eval")
        rows[radius] = list(csv.DictReader((Path(cfg.paths.output_dir) / "per_image.csv").open()))
    m0, m2 = (np.concatenate([m.cpu().numpy() for m in seen[r]]) for r in (0, 2))
    assert m0.sum() > 0 and m2.sum() > 3 * m0.sum()            # disks, not single pixels, reached solve()
    assert (m2 | m0).sum() == m2.sum()                         # every marker pixel is inside its disk
    used = {r: [int(row["marker_px_working"]) for row in rows[r]] for r in rows}
    assert all(b > a for a, b in zip(used[0], used[2]))
    assert summaries[2]["markers"]["radius"] == 2
    assert [row["dice"] for row in rows[0]] != pytest.approx([row["dice"] for row in rows[2]])
