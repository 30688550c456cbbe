"""Assertions shared by the benchmark tests."""

from __future__ import annotations


def ratio_within_rounding(ratio: float, numerator: float, denominator: float, half_ulp: float = 5e-5,
                          slack: float = 1e-3) -> bool:
    """True when ``ratio`` (stored after computing it from unrounded times) lies between the extremes that
    ``numerator / denominator`` can take given that both were stored rounded to ``half_ulp``."""
    low = (numerator - half_ulp) / (denominator + half_ulp)
    high = (numerator + half_ulp) / max(denominator - half_ulp, 1e-9)
    return low - slack <= ratio <= high + slack
