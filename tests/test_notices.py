"""gtalker.notices: steps record what they decided about the input; gathered and summarised per dataset."""

from __future__ import annotations

import json

import pytest

from gtalker.common import InputError
from gtalker.notices import Notices, gather, main, read_notices, summary_lines


def test_notices_roundtrip_and_gather(tmp_path):
    a = Notices("probe")
    a.warn("variable_frame_rate", "v.mp4: variable frame rate", median_fps=25.0)
    a.write(tmp_path / "probe.json")
    b = Notices("extract_audio")
    b.write(tmp_path / "extract_audio.json")  # nothing noticed: an empty list, still written
    assert json.loads((tmp_path / "extract_audio.json").read_text()) == []
    c = Notices("extract_audio")
    c.warn("audio_padded", "a.wav: audio is 1.20 s shorter", seconds=1.2)
    c.write(tmp_path / "c.json")

    out = tmp_path / "warnings.json"
    assert main(["gather", "--dataset", "me", "--out", str(out), str(tmp_path / "probe.json"),
                 str(tmp_path / "extract_audio.json"), str(tmp_path / "c.json")]) == 0
    data = json.loads(out.read_text())
    assert data["dataset"] == "me" and data["n_warnings"] == 2
    assert [w["code"] for w in data["warnings"]] == ["variable_frame_rate", "audio_padded"]
    assert read_notices(out)[1].figures == {"seconds": 1.2}
    lines = summary_lines(out)
    assert lines[0].startswith("  me: 2 warning(s)")
    assert "[extract_audio] a.wav: audio is 1.20 s shorter" in lines[2]


def test_summary_is_silent_without_warnings(tmp_path):
    gather([], "demo", tmp_path / "warnings.json")
    assert summary_lines(tmp_path / "warnings.json") == []
    assert summary_lines(tmp_path / "missing.json") == []


def test_corrupt_notice_file_names_the_file(tmp_path):
    bad = tmp_path / "probe.json"
    bad.write_text(json.dumps([{"step": "probe"}]))
    with pytest.raises(InputError, match="probe.json: not a notice file"):
        read_notices(bad)
