"""Product classification: MSFF-EComNet (multi-scale parallel conv + IASM attention) and timm baselines."""
