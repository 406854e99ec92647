"""The Snakemake report of a tiny run: built with its plots, then opened in a headless Chromium."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest

from browser import Browser, chromium_binary
from conftest import TINY, snakemake

PLOTS = {"Metrics": ["results/report/metrics.png"], "Training": ["results/report/demo/training.png"],
         "Lip sync": ["results/report/demo/base/mouth.png"], "Attention": ["results/report/demo/base/attention.png"]}
VIDEOS = ["results/report/demo/base/val.mp4", "results/report/demo/base/attention.mp4",
          "results/report/demo/base/custom_speech.mp4"]


# The menu link with this text.
LINK = "(text => [...document.querySelectorAll('nav a')].find(a => a.innerText.trim() === text))"
# The 'eye' buttons of the result list that open a view (downloads have a data: href instead of '#').
EYES = "[...document.querySelectorAll('nav a[iconname=\\'eye\\'][href=\\'#\\']')]"
# [file name, bounding box] of the plot in the content area once it has loaded (['html', null]: a page).
SHOWN = """(() => { if (document.querySelector('iframe')) return ['html', null];
    const img = document.querySelector('img[src^="data:image/png"]');
    if (!img || !img.complete || img.naturalWidth === 0) return null;
    const m = img.src.slice(0, 300).match(/filename=([^;,]+)/); const r = img.getBoundingClientRect();
    return [m ? m[1] : '?', [r.x, r.y, r.width, r.height]]; })()"""


@pytest.fixture(scope="module")
def report_html(tiny_run: Path) -> Path:
    out = tiny_run / "report.html"
    snakemake(tiny_run, TINY, extra=["--report", str(out)])
    return out


def png_pixels(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def non_blank(pixels: np.ndarray) -> bool:
    """More than 2% of the pixels differ from the most common colour, and they are not all one colour."""
    flat = pixels.reshape(-1, 3).astype(int)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    background = colours[counts.argmax()]
    differ = np.abs(flat - background).sum(axis=1) > 30
    return bool(differ.mean() > 0.02 and len(colours) > 16)


@pytest.mark.slow
def test_plots_are_made_and_registered(tiny_run: Path, report_html: Path) -> None:
    for paths in PLOTS.values():
        for rel in paths:
            pixels = png_pixels((tiny_run / rel).read_bytes())
            assert pixels.shape[0] > 200 and non_blank(pixels), rel
    html = report_html.read_text()
    for rel in [p for ps in PLOTS.values() for p in ps] + VIDEOS + ["results/report/warnings.html"]:
        assert rel in html, f"{rel} is not in the report"


@pytest.mark.slow
def test_report_opens_in_chromium_with_plots_and_videos(report_html: Path, tmp_path: Path) -> None:
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no Chromium installed (Debian: apt-get install chromium)")
    with Browser(binary) as page:
        page.open(report_html.as_uri())
        page.wait_for("document.readyState === 'complete' && typeof app !== 'undefined' && "
                      "document.querySelector('nav') !== null && document.body.innerText.includes('RESULTS')")
        entries = json.loads(page.evaluate(
            "JSON.stringify(Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.mime_type])))"))
        for rel in [p for ps in PLOTS.values() for p in ps]:
            assert entries.get(rel) == "image/png", f"{rel} missing from the report's results"
        shown: dict[str, bool] = {}
        for category in PLOTS:
            # As a user: the category in the menu, then the eye button of each of its entries.
            page.evaluate(f"{LINK}('Results')?.click()")  # back to the list of categories (breadcrumb)
            page.wait_for(f"!!{LINK}({json.dumps(category)})")
            page.evaluate(f"{LINK}({json.dumps(category)}).click()")
            n_buttons = page.wait_for(f"{EYES}.length")
            for i in range(n_buttons):
                page.evaluate(f"{EYES}[{i}].click()")
                name, box = page.wait_for(SHOWN, timeout=20)
                if name == "html":  # the ablation / warnings tables
                    continue
                x, y, w, h = (int(round(v)) for v in box)
                screen = page.screenshot()
                (tmp_path / f"{name}.screen.png").write_bytes(screen)
                crop = png_pixels(screen)[max(y, 0):y + h, max(x, 0):x + w]
                shown[name] = bool(crop.size) and non_blank(crop)
        want = {Path(p).name for ps in PLOTS.values() for p in ps}
        assert want <= set(shown), f"plots never shown: {want - set(shown)}"
        assert all(shown[n] for n in want), f"blank on screen: {[n for n in want if not shown[n]]}"
        # The warnings table opens as a page of its own.
        page.evaluate(f"{LINK}('Results')?.click()")
        page.wait_for(f"!!{LINK}('Warnings')")
        page.evaluate(f"{LINK}('Warnings').click()")
        page.wait_for(f"{EYES}.length")
        page.evaluate(f"{EYES}[0].click()")
        assert page.wait_for("document.querySelector('iframe')?.src.startsWith('data:text/html') || null")
        page.evaluate(f"{LINK}('Results')?.click()")
        page.wait_for(f"!!{LINK}('Videos')")
        page.evaluate(f"{LINK}('Videos').click()")
        links = json.loads(page.wait_for(
            "(() => { const a = [...document.querySelectorAll('nav a[download]')]"
            ".filter(x => x.href.startsWith('data:video/mp4')).map(x => [x.download, x.href.length]);"
            " return a.length ? JSON.stringify(a) : null; })()"))
        assert sorted(n for n, _ in links) == sorted(Path(v).name for v in VIDEOS)
        for rel in VIDEOS:
            uri = page.evaluate(f"results[{json.dumps(rel)}].data_uri")
            mp4 = base64.b64decode(uri.split(",", 1)[1])
            assert mp4[4:8] == b"ftyp" and len(mp4) > 1000, rel
