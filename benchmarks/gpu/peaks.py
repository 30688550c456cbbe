"""Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) by device name, for MFU.

Vendor data-sheet figures for the SXM / PCIe parts named; a device not in the table gets no MFU
(null) rather than a guess.
"""

from __future__ import annotations

BF16_DENSE_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989.4),
    ("H100 PCIe", 756.0),
    ("H100", 989.4),
    ("GH200", 989.4),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("L40S", 362.1),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
)


def bf16_peak_tflops(device_name: str) -> float | None:
    """The first table entry whose name occurs in ``device_name`` (more specific names come first)."""
    for name, peak in BF16_DENSE_TFLOPS:
        if name in device_name:
            return peak
    return None
