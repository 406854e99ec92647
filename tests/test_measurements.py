"""docs/measurements.md is what benchmarks/measurements.py makes of the committed benchmark JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import measurements  # noqa: E402


def test_measurements_document_is_up_to_date() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks/measurements.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_every_benchmark_json_and_recorded_row_reaches_the_document(tmp_path: Path) -> None:
    (tmp_path / "recorded.json").write_text(json.dumps(
        {"note": "n", "context": "c", "rows": [{"what": "w|x", "target": ">= 1", "measured": "2.5",
                                               "script": "fake.py"}]}))
    (tmp_path / "fake.json").write_text(json.dumps({"fps": 12.345678, "nested": {"ms": [1.0, 2.0]}, "ok": True}))
    text = measurements.render(tmp_path)
    assert "### `fake.json`" in text and "| fps | 12.35 |" in text and "| nested.ms | [1, 2] |" in text
    assert "| ok | True |" in text and "| w/x | >= 1 | 2.5 | `benchmarks/fake.py` |" in text
    (tmp_path / "tab.json").write_text(json.dumps({"table": {"columns": ["variant", "psnr"],
                                                             "rows": [["base", 32.123456], ["x", None]]}, "n": 2}))
    text = measurements.render(tmp_path)
    assert "| variant | psnr |\n|---|---|\n| base | 32.12 |\n| x | None |" in text and "| n | 2 |" in text


def test_check_fails_on_a_stale_document(tmp_path: Path) -> None:
    stale = tmp_path / "m.md"
    stale.write_text("old\n")
    assert measurements.main(["--check", "--out", str(stale)]) == 1
    assert measurements.main(["--out", str(stale)]) == 0 and measurements.main(["--check", "--out", str(stale)]) == 0


def test_readme_stays_a_user_guide() -> None:
    """The README is short and points to the measurements instead of holding them."""
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) < 150
    assert "docs/measurements.md" in readme and "make demo" in readme and "make test" in readme
