"""Data: the synthetic generator, real-data readers, the dataset registry and split preparers."""
