"""Back-and-forth reuse of a passage's poses for audio of any length."""

from __future__ import annotations

import pytest

from gtalker.render.looping import looped_indices, pingpong


def test_pingpong_goes_back_and_forth_without_jumps() -> None:
    seq = [pingpong(i, 4) for i in range(12)]
    assert seq == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1]
    assert all(abs(a - b) == 1 for a, b in zip(seq, seq[1:]))


def test_pingpong_edge_cases() -> None:
    assert [pingpong(i, 1) for i in range(3)] == [0, 0, 0]
    assert [pingpong(i, 2) for i in range(4)] == [0, 1, 0, 1]
    with pytest.raises(ValueError):
        pingpong(0, 0)


def test_looped_indices_map_into_the_passage() -> None:
    passage = [454, 455, 456]
    out = looped_indices(passage, 7)
    assert out == [454, 455, 456, 455, 454, 455, 456]
    # shorter than the passage: a plain prefix
    assert looped_indices(passage, 2) == [454, 455]
