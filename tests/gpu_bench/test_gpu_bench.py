"""The GPU bench cannot rot: its --smoke mode (tiny sizes, CPU) runs the same code paths as the GPU run
and writes the same keys; the preflight names what is missing; the peak table gives MFU its peak."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from benchmarks.gpu.__main__ import main as gpu_bench_main
from benchmarks.gpu.peaks import bf16_peak_tflops
from benchmarks.gpu.preflight import missing_imports, report
from shared.paths import REPO_ROOT

MODELS, METHODS = ("dinov2_small", "dinov2_base"), ("supervised", "unimatch_v2", "mvpmatch")
TRAIN_FIELDS = ("step_s", "imgs_per_s", "gflop_per_step", "tflops", "mfu", "peak_mem_gib", "finite")
INFER_FIELDS = ("step_s", "imgs_per_s", "gflop_per_step", "tflops", "mfu", "peak_mem_gib")


def expected_keys() -> list[str]:
    keys = ["device_name", "torch", "cuda", "bf16_peak_tflops", "precision", "wall_s_total_with_imports", "errors"]
    for model in MODELS:
        keys += [f"semiseg_train_{model}_{m}_{f}" for m in METHODS for f in TRAIN_FIELDS]
        keys += [f"semiseg_train_{model}_ratio_mvpmatch_over_unimatch_v2"]
        keys += [f"semiseg_infer_{model}_{s}_{f}" for s in ("384", "518") for f in INFER_FIELDS]
        keys += [f"semiseg_infer_{model}_384_side_computed", f"semiseg_infer_{model}_speedup_384_over_518"]
    keys += ["semiseg_fit_ok", "semiseg_fit_steps", "semiseg_fit_losses_finite", "semiseg_fit_queue_pushes"]
    keys += ["variational_batched_256_imgs_per_s", "variational_batched_256_dsc_device",
             "variational_batched_256_dsc_cpu", "variational_batched_256_dsc_equal"]
    for name in ("msff_ecomnet", "resnet50", "efficientnet_lite0"):
        keys += [f"classification_infer_{name}_{f}" for f in INFER_FIELDS] + [f"classification_infer_{name}_weights"]
    keys += ["quality_infer_timm_iqa_efficientnet_lite0_imgs_per_s"]
    return keys


@pytest.mark.slow
def test_smoke_mode_writes_every_key_of_the_gpu_run(tmp_path):
    out = tmp_path / "gpu.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu", "--smoke", "--output", str(out)], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["errors"] == {}
    missing = [k for k in expected_keys() if k not in results]
    assert not missing, missing
    assert results["mode"] == "smoke" and results["precision"] == "bf16-mixed"
    assert results["semiseg_fit_ok"] is True and results["semiseg_fit_queue_pushes"] >= 1
    assert results["variational_batched_256_dsc_equal"] is True
    for model in MODELS:
        for method in METHODS:
            prefix = f"semiseg_train_{model}_{method}"
            assert results[f"{prefix}_finite"] is True
            assert results[f"{prefix}_step_s"] > 0 and results[f"{prefix}_gflop_per_step"] > 0
        # MvpMatch adds history forwards, so it counts more FLOPs than UniMatch V2, which adds the
        # teacher and two strong views to supervised: the FLOP counter sees the real work.
        flops = {m: results[f"semiseg_train_{model}_{m}_gflop_per_step"] for m in METHODS}
        assert flops["supervised"] < flops["unimatch_v2"] < flops["mvpmatch"]


def test_preflight_names_the_module_and_the_pip_line():
    missing = missing_imports({"surely_not_a_module_xyz": "surely-not-a-package==1.0", "json": "json"})
    assert list(missing) == ["surely_not_a_module_xyz"]
    assert "pip install 'surely-not-a-package==1.0'" in report(missing)


def test_full_mode_refuses_to_run_without_a_gpu(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert gpu_bench_main(["--output", str(tmp_path / "x.json")]) == 2   # the exit status of python -m
    assert "no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize(("name", "peak"), [("NVIDIA H200", 989.4), ("NVIDIA H100 PCIe", 756.0),
                                            ("NVIDIA A100-SXM4-80GB", 312.0), ("cpu", None)])
def test_bf16_peaks_by_device_name(name, peak):
    assert bf16_peak_tflops(name) == peak


def test_a_spent_budget_skips_sections_and_says_so(tmp_path):
    import torch

    out = tmp_path / "gpu.json"
    args = ["--smoke", "--budget-s", "0", "--only", "variational", "--output", str(out)]
    precision = torch.get_float32_matmul_precision()
    try:
        assert gpu_bench_main(args) == 1   # the exit status of python -m
    finally:
        torch.set_float32_matmul_precision(precision)   # the bench sets it for the whole process
    assert json.loads(out.read_text())["errors"] == {
        "variational": "skipped: the 0 s budget was spent before it started"}


def test_an_unwritable_output_fails_in_one_line_before_any_work(tmp_path):
    (tmp_path / "file").write_text("x")
    args = ["--smoke", "--output", str(tmp_path / "file" / "g.json")]
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2 and "cannot write the results file" in proc.stderr
    assert "Traceback" not in proc.stderr and "[gpu bench]" not in proc.stdout
