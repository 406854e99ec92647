"""Reuse of a recorded passage's poses, blinks and torso images for audio of any length.

Frames are visited back and forth (0, 1, ..., L-1, L-2, ..., 1, 0, 1, ...) so that the head never
jumps from the last pose back to the first.
"""

from __future__ import annotations

from typing import Sequence


def pingpong(i: int, length: int) -> int:
    """Position in a passage of `length` frames of output frame i, looping back and forth."""
    if length < 1:
        raise ValueError("cannot loop an empty passage")
    if length == 1:
        return 0
    period = 2 * length - 2
    j = i % period
    return j if j < length else period - j


def looped_indices(passage: Sequence[int], n_frames: int) -> list[int]:
    """Source frame indices of `passage` for n_frames output frames, back-and-forth."""
    return [int(passage[pingpong(i, len(passage))]) for i in range(n_frames)]
