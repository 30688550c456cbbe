"""working.threads reaches every CPU pool a click uses: torch, OpenCV, and the BLAS / OpenMP pools numpy and
scipy load (their idle workers spin, so a 'one thread' time per click counted a second core)."""

import cv2
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from projects.variational_seg.pipeline import set_threads


def test_one_thread_limits_torch_opencv_and_the_blas_pools():
    opencv_before = cv2.getNumThreads()
    with threadpool_limits(limits=2):   # restores the pools' sizes on exit
        set_threads({"threads": 1})
        pools = threadpool_info()
        assert pools, "numpy / scipy load at least one BLAS pool"
        assert {p["num_threads"] for p in pools} == {1}
        assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
    cv2.setNumThreads(opencv_before)


def test_no_threads_setting_leaves_the_pools_alone():
    with threadpool_limits(limits=2):
        before = [p["num_threads"] for p in threadpool_info()]
        set_threads({})
        assert [p["num_threads"] for p in threadpool_info()] == before
