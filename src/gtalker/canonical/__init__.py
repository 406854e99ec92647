"""Canonical (static) Gaussian head: tri-plane features, appearance MLPs, training."""
