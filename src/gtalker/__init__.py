"""gtalker: audio-driven 3D Gaussian talking heads (GaussianTalker) as a Snakemake pipeline."""

__version__ = "0.1.0"
