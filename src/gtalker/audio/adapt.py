"""Feature statistics matching: new speech's audio features moved to the training audio's statistics.

A talker learns its audio token from one voice. Another voice's features (another speaker, microphone or
level) sit elsewhere in feature space, where the model has seen nothing, and the mouth moves little. At
render time, each feature channel of the new audio is standardised over the clip and given the mean and
spread that channel had in the training audio (per-utterance normalisation, here done toward the
speaker the model knows). It keeps what changes over time within the clip (what is said) and drops the
clip's constant offsets (who says it, and how it was recorded).
"""

from __future__ import annotations

import numpy as np

MIN_SD = 1e-6


def channel_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of every channel (the last axis) over all frames and window steps."""
    flat = np.asarray(features, dtype=np.float64).reshape(-1, features.shape[-1])
    return flat.mean(axis=0), flat.std(axis=0)


def match_feature_stats(features: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`features` ([..., C]) with each channel's mean and spread set to those of `reference` ([..., C]);
    a channel that is constant in `features` takes the reference's mean."""
    if features.shape[-1] != reference.shape[-1]:
        raise ValueError(f"features have {features.shape[-1]} channels, the training audio's {reference.shape[-1]}: "
                         "they come from different backends")
    mean, sd = channel_stats(features)
    ref_mean, ref_sd = channel_stats(reference)
    z = (features - mean) / np.where(sd > MIN_SD, sd, np.inf)
    return (z * ref_sd + ref_mean).astype(features.dtype)
