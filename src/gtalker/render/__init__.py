"""Rendering of a trained talking head: validation passage, new speech, attention maps."""
