"""Rasteriser backends behind gtalker.splat.rasterize.rasterize."""
