"""Weakly-supervised multi-label tagging from image + title + industry (dual-channel cross-attention)."""
