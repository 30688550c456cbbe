"""One torch thread inside this folder: the solver is many small kernels, and on a busy 2-core machine
two threads oversubscribe (about 10x slower per ADMM iteration). Restored after each test."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
