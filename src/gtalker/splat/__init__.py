"""Gaussian splatting core: Gaussian model, densification, PLY files, rasterisers."""
