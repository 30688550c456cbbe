"""Weak labels: title parsing and KNN label propagation, combined and refreshed during training."""
