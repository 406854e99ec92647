"""Figures and tables of the Snakemake report (`snakemake --report report.html`), made from the files the
pipeline writes (train logs, metrics.json, audio, attention video, warnings.json)."""
