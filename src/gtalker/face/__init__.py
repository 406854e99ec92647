"""Face preprocessing: landmarks, parsing, background, torso images, lip boxes, blinks, split.

Each step is a module with pure functions and a thin CLI (`python -m gtalker.face.<step>`), called by one
Snakemake rule per video (workflow/rules/face.smk). File formats: CONTRACTS.md, section "Face".
"""
