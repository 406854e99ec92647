"""Benchmark: does a trained talker's mouth follow voices it was not trained on?

Takes a finished run (a working directory where `snakemake` built results/<dataset>/<variant>/) and renders
new speech with it, as `render.custom_audio` does (audio features of the run's backend, poses of the
validation passage): the demo's own kind of voice (results/_demo/custom_speech.wav and the first 8 s of the demo's own audio: the reference), espeak-ng
voices it never heard (male and female English, German, French, Spanish) and real human recordings
(the public-domain LibriVox and other clips of Debian's pocketsphinx-testdata), plus any --audio given.

Per clip, from the rendered frames' mouth opening (dlib landmarks, as evaluate measures it):
  energy_r_at_0 / energy_r_best (offset): Pearson r with the audio's log energy per frame (evaluate's
    weight-free measure; best over +-max_offset frames);
  mouth_motion_sd and motion_ratio: the spread of the opening, and that over the reference voice's;
  phone classes (gtalker.metrics.phoneclass): mean opening per class and the bilabial closure accuracy, with
    the phones from espeak-ng's timings (espeak voices, the reference) or a pocketsphinx alignment (forced
    to the transcript when there is one, else phone decoding).
Summaries per group (reference, espeak, real). Prints and saves JSON (default
benchmarks/unseen_voices.json, git-ignored).

  python benchmarks/unseen_voices.py --workdir DIR [--dataset demo] [--variant base] [--size 256]
                                     [--audio NAME=PATH[::TRANSCRIPT] ...] [--no-testdata] [--no-espeak]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from lipsync_control import render_settings, run  # noqa: E402

from gtalker.io.audio import load_audio, write_wav  # noqa: E402
from gtalker.metrics.lipsync import best_offset, energy_envelope, shifted_correlations  # noqa: E402
from gtalker.metrics.phoneclass import phone_class_scores  # noqa: E402
from gtalker.phones import Phone  # noqa: E402

TESTDATA = Path("/usr/share/pocketsphinx/test/data")
# Unseen espeak-ng voices (the demo speaker uses en-us, en+f3, en-us+m3, en+f4, en-us+f2).
ESPEAK_VOICES = {
    "espeak_en_scotland_m": ("en-gb-scotland", "en"),
    "espeak_en_caribbean_f": ("en-029+f5", "en"),
    "espeak_de_f": ("de+f1", "de"),
    "espeak_fr_m": ("fr", "fr"),
    "espeak_es_m": ("es+m2", "es"),
}
TEXTS = {
    "en": "My brother painted a big map of the bay, but maybe the weather will be bad.",
    "de": "Mein Vater hat heute mit Mama einen großen Apfel gekauft.",
    "fr": "Ma mère a bu un bon café ce matin avec papa.",
    "es": "Mi mamá compró una manzana grande para papá.",
}
MAX_OFFSET = 10
REFERENCE_SECONDS = 8.0


def testdata_clips(tmp: Path) -> dict[str, tuple[Path, str | None]]:
    """The human recordings of pocketsphinx-testdata as wav files, with their transcripts where known."""
    clips: dict[str, tuple[Path, str | None]] = {}
    trans = {}
    listing = TESTDATA / "librivox" / "transcription"
    if listing.is_file():
        for line in listing.read_text().splitlines():
            text, _, fid = line.rpartition("(")
            trans[fid.strip(") ")] = text.replace("<s>", "").replace("</s>", "").strip()
    for wav in sorted((TESTDATA / "librivox").glob("*.wav")):
        clips[f"real_librivox_{wav.stem[-4:]}"] = (wav, trans.get(wav.stem))
    for name, text in (("goforward", "go forward ten meters"), ("numbers", None), ("something", None)):
        raw = TESTDATA / f"{name}.raw"
        if raw.is_file():
            wav = tmp / f"{name}.wav"
            write_wav(wav, np.fromfile(raw, dtype="<i2").astype(np.float32) / 32768.0)
            clips[f"real_{name}"] = (wav, text)
    return clips


def measure_mouth(video: Path, tmp: Path, size: int) -> np.ndarray:
    """Mouth opening per frame of a rendered video (dlib; the face box of every 10th frame, filled in)."""
    from PIL import Image

    from gtalker.io.video import extract_frames
    from gtalker.metrics.landmarks import MouthMeter, fill_boxes, mouth_opening

    frames_dir = tmp / (video.stem + "_frames")
    n = extract_frames(video, frames_dir, 25.0, size)
    meter = MouthMeter()
    imgs = [np.asarray(Image.open(frames_dir / f"{i:06d}.jpg").convert("RGB")) for i in range(n)]
    boxes = fill_boxes([meter.face_box(img) if i % 10 == 0 else None for i, img in enumerate(imgs)])
    out = np.full(n, np.nan)
    for i, (img, box) in enumerate(zip(imgs, boxes)):
        if box is not None:
            out[i] = mouth_opening(meter.landmarks(img, box))
    return out


def clip_figures(mouth: np.ndarray, samples: np.ndarray, phones: list[Phone], fps: float = 25.0) -> dict:
    """Energy correlation, motion and phone-class figures of one rendered clip."""
    n = len(mouth)
    energy = energy_envelope(samples, n, fps)
    corrs = shifted_correlations(mouth, np.arange(n), energy, MAX_OFFSET)
    d, r = best_offset(corrs)
    return {"frames": n, "energy_r_at_0": corrs[0], "energy_r_best": r, "energy_offset_frames": d,
            "mouth_motion_sd": float(np.nanstd(mouth)), **phone_class_scores(mouth, phones, fps)}


def reference_phones(truth_path: Path) -> list[Phone]:
    """The phones of the demo's custom speech clip (espeak voice), from its truth npz."""
    t = np.load(truth_path)
    if "phone_start" not in t:
        return []
    return [Phone(float(s), float(e), str(nm), "espeak")
            for s, e, nm in zip(t["phone_start"], t["phone_end"], t["phone_name"])]


def summarise(clips: dict[str, dict]) -> dict[str, dict]:
    """Means per group (reference, espeak, real) and the pooled closure accuracy."""
    refs = [c["mouth_motion_sd"] for k, c in clips.items() if k.startswith("reference")]
    ref_sd = float(np.mean(refs)) if refs else None  # the training voice's mouth motion
    out = {}
    for group in ("reference", "espeak", "real"):
        members = [c for k, c in clips.items() if k.split("_")[0] == group]
        if not members:
            continue
        pairs = sum(c["closure_pairs"] for c in members)
        pooled = (sum((c["closure_accuracy"] or 0) * c["closure_pairs"] for c in members) / pairs) if pairs else None
        mean = lambda key: float(np.nanmean([c[key] if c[key] is not None else np.nan for c in members]))  # noqa: E731
        out[group] = {"clips": len(members), "energy_r_at_0": mean("energy_r_at_0"),
                      "energy_r_best": mean("energy_r_best"), "mouth_motion_sd": mean("mouth_motion_sd"),
                      "motion_ratio": (mean("mouth_motion_sd") / ref_sd) if ref_sd else None,
                      "closure_accuracy": pooled, "closure_pairs": pairs,
                      "open_minus_bilabial": mean("open_minus_bilabial")}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", required=True, help="working directory of a finished run")
    ap.add_argument("--dataset", default="demo")
    ap.add_argument("--variant", default="base")
    ap.add_argument("--configfile", default=str(REPO / "config.yaml"), help="the config the run used")
    ap.add_argument("--size", type=int, default=256, help="render size (px) of the measured clips")
    ap.add_argument("--audio", nargs="*", default=[], help="more clips: NAME=PATH[::TRANSCRIPT] (English)")
    ap.add_argument("--no-testdata", action="store_true", help="skip pocketsphinx-testdata's recordings")
    ap.add_argument("--no-espeak", action="store_true", help="skip the espeak-ng voices")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--match-stats", action="store_true",
                    help="render.match_features on: each clip's features take the training audio's channel statistics")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "unseen_voices.json"))
    args = ap.parse_args()

    from gtalker.align import align_phones

    work = Path(args.workdir)
    root = work / "results" / args.dataset
    features = sorted((root / "audio").glob("features_*.npy"))
    if not features:
        raise SystemExit(f"no audio features under {root / 'audio'}: is {work} a finished run?")
    backend = features[0].stem.removeprefix("features_")
    flags = render_settings(Path(args.configfile))
    flags["--size"] = str(args.size)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="unseen_voices_") as tmp_name:
        tmp = Path(tmp_name)
        # name -> (wav path, phones or None, transcript or None)
        jobs: dict[str, tuple[Path, list[Phone] | None, str | None]] = {}
        ref = work / "results" / "_demo" / "custom_speech.wav"
        if ref.is_file():
            jobs["reference"] = (ref, reference_phones(ref.with_name("custom_speech_truth.npz")) or None, None)
        demo_audio = root / "ingest" / "audio.wav"
        demo_phones = reference_phones(work / "results" / "_demo" / "truth.npz")
        if args.dataset == "demo" and demo_audio.is_file() and demo_phones:
            # the training voice itself: the first REFERENCE_SECONDS of the demo's audio (heard in training)
            wav = tmp / "reference_demo_audio.wav"
            write_wav(wav, load_audio(demo_audio)[: int(REFERENCE_SECONDS * 16000)])
            jobs["reference_demo_audio"] = (wav, [p for p in demo_phones if p.start < REFERENCE_SECONDS], None)
        if not args.no_testdata and TESTDATA.is_dir():
            jobs.update({k: (p, None, t) for k, (p, t) in testdata_clips(tmp).items()})
        for spec in args.audio:
            name, _, rest = spec.partition("=")
            path, _, text = rest.partition("::")
            jobs[f"real_{name}"] = (Path(path), None, text or None)
        if not args.no_espeak:
            from gtalker import espeak

            for name, (voice, lang) in ESPEAK_VOICES.items():
                utt = espeak.speak(TEXTS[lang], voice)
                wav = tmp / f"{name}.wav"
                write_wav(wav, 0.8 * utt.samples / (np.abs(utt.samples).max() + 1e-9))
                jobs[name] = (wav, utt.phones, None)
        for name, (wav, phones, text) in jobs.items():
            start = time.perf_counter()
            samples = load_audio(wav)
            how = "espeak-ng timings" if phones is not None else (
                "pocketsphinx forced alignment" if text else "pocketsphinx phone decoding")
            if phones is None:
                phones = align_phones(samples, text)
            feats = tmp / f"{name}.npy"
            run(["gtalker.audio", "features", "--audio", str(wav), "--fps", "25", "--backend", backend,
                 "--out", str(feats), "--device", "cpu"])
            video = tmp / f"{name}.mp4"
            run(["gtalker.render", "custom", "--model", str(root / args.variant / "talker" / "model.pt"),
                 "--dataset-dir", str(root), "--split", str(root / "split.json"), "--features", str(feats),
                 "--audio", str(wav), "--out-video", str(video), "--device", "cpu", "--threads", str(args.threads),
                 "--train-features", str(features[0]), "--match-features", "true" if args.match_stats else "false",
                 *[x for kv in flags.items() for x in kv]])
            mouth = measure_mouth(video, tmp, args.size)
            results[name] = {"audio": str(wav) if not str(wav).startswith(tmp_name) else wav.name,
                             "phones_from": how, **clip_figures(mouth, samples, phones),
                             "seconds": round(time.perf_counter() - start, 1)}
            c = results[name]
            save(args, work, backend, results)  # after every clip, so that an interrupted run keeps its figures
            print(f"{name:26s} r0={c['energy_r_at_0']:.3f} rbest={c['energy_r_best']:.3f} "
                  f"(d={c['energy_offset_frames']}) sd={c['mouth_motion_sd']:.4f} "
                  f"closure={c['closure_accuracy']} ({c['closure_pairs']} pairs) [{how}]", flush=True)
    for group, s in save(args, work, backend, results).items():
        print(f"{group:9s} " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in s.items()))
    print(f"saved {args.out}")
    return 0


def save(args: argparse.Namespace, work: Path, backend: str, results: dict[str, dict]) -> dict[str, dict]:
    """Write the JSON (settings, summary per group, figures per clip); returns the summary."""
    summary = summarise(results)
    out = {"workdir": str(work), "dataset": args.dataset, "variant": args.variant, "backend": backend,
           "match_stats": args.match_stats,
           "size": args.size, "max_offset": MAX_OFFSET, "summary": summary, "clips": results}
    Path(args.out).write_text(json.dumps(out, indent=2, default=float) + "\n")
    return summary


if __name__ == "__main__":
    sys.exit(main())
