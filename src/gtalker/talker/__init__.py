"""Audio-driven deformation of the canonical Gaussians (GaussianTalker spatial-audio attention)."""
