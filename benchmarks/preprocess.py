"""Quality, speed and memory of the face/audio preprocessing (issue 3) on the demo video.

  python benchmarks/preprocess.py [--seconds 20 60] [--size 512] [--cores 2] [--workdir DIR]
                                  [--scenes default hard] [--quality-only]
      -> prints a table, writes benchmarks/preprocess.json

For each length it makes the demo video (gtalker.demo) and ingests it (not counted: issue 2's steps), then
runs every step of issue 3 as its rule does (`python -m ...`, one process per step, pinned to `--cores`
CPUs), timing each and reading each process's peak resident memory (wait4). Steps: landmarks, parsing
(heuristic), background, torso images, lip boxes, blinks, split, audio features (mel, when
gtalker.audio exists), export to the reference layout.

Quality against the generator's ground truth, per demo scene (`default`, and `hard`: moving background,
camera shake, flicker, low resolution, strong compression, 29.97 fps resampled to 25; gtalker.demo_scene):
head-mask IoU of the parsing (every 5th frame; mean and worst frame), the share of the head label farther
than 0.8 face heights from the landmarks' hull and of the torso above the nose tip (mean and worst frame;
gtalker.face.parsing_quality), on the hard scene the IoU of neck + torso with the body layer, landmark
error and mouth-opening correlation, blink correlation. `--quality-only` runs only the steps the quality
needs (landmarks, parsing, blinks). Baselines in the same run: landmarks with the
detector on every frame (no tracking) and head masks from landmark-seeded GrabCut alone (no background
model).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = Path(__file__).with_suffix(".json")
sys.path.insert(0, str(REPO / "src"))


def run(cmd: list[str], cores: list[int] | None) -> tuple[float, float, float]:
    """Run a command; return (wall seconds, CPU seconds, peak RSS in MiB) of its process."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS=str(len(cores) if cores else 2))
    t0 = time.perf_counter()
    # no preexec_fn: the child is vfork-ed, so its peak RSS counts only its own program (the CPU
    # affinity is inherited from this process, pinned in main)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err.decode(errors='replace')[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0


def prepare(work: Path, seconds: float, size: int, cores: list[int] | None, scene: str = "default") -> dict:
    """Demo video + ingest (frames, audio) in work/; returns their times (not part of issue 3)."""
    py = sys.executable
    times = {}
    if not (work / "demo.mp4").exists():
        times["demo"], _, _ = run([py, "-m", "gtalker.demo", "--out", str(work / "demo.mp4"), "--truth",
                                str(work / "truth.npz"), "--seconds", str(seconds), "--size", str(size),
                                "--scene", scene, "--voice", "formant"], cores)
    if not (work / "frames.json").exists():
        run([py, "-m", "gtalker.ingest", "probe", "--video", str(work / "demo.mp4"), "--out",
             str(work / "probe.json")], cores)
        times["ingest_frames"], _, _ = run([py, "-m", "gtalker.ingest", "frames", "--video", str(work / "demo.mp4"),
                                         "--probe", str(work / "probe.json"), "--out-dir", str(work / "frames"),
                                         "--index", str(work / "frames.json"), "--fps", "25", "--size",
                                         str(size)], cores)
        times["ingest_audio"], _, _ = run([py, "-m", "gtalker.ingest", "audio", "--video", str(work / "demo.mp4"),
                                        "--index", str(work / "frames.json"), "--out", str(work / "audio.wav")],
                                       cores)
    return times


def face_steps(work: Path) -> list[tuple[str, list[str]]]:
    """(name, command) of every issue-3 step, as the rules run them."""
    py = sys.executable
    w = str(work)
    r = f"{w}/results"
    steps = [
        ("landmarks", [py, "-m", "gtalker.face.landmarks", "--frames", f"{w}/frames",
                       "--out", f"{r}/face/landmarks.npz"]),
        ("parsing", [py, "-m", "gtalker.face.parsing", "--frames", f"{w}/frames", "--landmarks",
                     f"{r}/face/landmarks.npz", "--out", f"{r}/face/parsing", "--out-fine", f"{r}/face/parsing_fine"]),
        ("background", [py, "-m", "gtalker.face.background", "--frames", f"{w}/frames", "--parsing",
                        f"{r}/face/parsing", "--out", f"{r}/face/bc.jpg"]),
        ("torso", [py, "-m", "gtalker.face.torso", "--frames", f"{w}/frames", "--parsing", f"{r}/face/parsing",
                   "--background", f"{r}/face/bc.jpg", "--out-torso", f"{r}/face/torso", "--out-gt",
                   f"{r}/face/gt", "--out-torso-bg", f"{r}/face/torso_bg"]),
        ("lips", [py, "-m", "gtalker.face.lips", "--landmarks", f"{r}/face/landmarks.npz", "--frames-json",
                  f"{w}/frames.json", "--out", f"{r}/face/lips.npy"]),
        ("blinks", [py, "-m", "gtalker.face.blinks", "--landmarks", f"{r}/face/landmarks.npz", "--out",
                    f"{r}/face/blinks.npy", "--au", f"{r}/face/au.csv"]),
        ("split", [py, "-m", "gtalker.face.split", "--frames-json", f"{w}/frames.json", "--out", f"{r}/split.json"]),
    ]
    if importlib.util.find_spec("gtalker.audio") is not None:
        steps.append(("audio_features", [py, "-m", "gtalker.audio", "features", "--audio", f"{w}/audio.wav",
                                         "--frames-json", f"{w}/frames.json", "--backend", "mel", "--threads", "2",
                                         "--out", f"{r}/audio/features_mel.npy"]))
    return steps


def export_step(work: Path) -> tuple[str, list[str]]:
    """The export to the reference layout (needs the steps above)."""
    r = f"{work}/results"
    feats = ["--features", f"{r}/audio/features_mel.npy"] if Path(f"{r}/audio/features_mel.npy").exists() else []
    return ("export", [sys.executable, "-m", "gtalker.refdata", "export", "--results", r, "--out",
                       f"{r}/reference"] + feats)


def link_ingest(work: Path) -> None:
    """results/ingest -> the ingested files (the export reads results/<dataset>/ingest/)."""
    ing = work / "results" / "ingest"
    ing.mkdir(parents=True, exist_ok=True)
    for name in ("frames", "frames.json", "audio.wav"):
        if not (ing / name).exists():
            (ing / name).symlink_to(work / name)


def quality(work: Path) -> dict:
    """Parsing and landmark quality against the demo's ground truth."""
    import cv2

    from gtalker.demo import truth_head_mask, truth_landmarks
    from gtalker.demo_scene import resample_truth
    from gtalker.face.parsing_quality import head_beyond_hull, head_iou, torso_above_nose

    r = work / "results" / "face"
    lms = np.load(r / "landmarks.npz")["lms"]
    n = len(lms)
    truth = resample_truth(dict(np.load(work / "truth.npz")), 25)
    ious, precision, recall, beyond, above, body_iou = [], [], [], [], [], []
    for i in range(0, n, 5):
        labels = cv2.imread(str(r / "parsing" / f"{i:06d}.png"), cv2.IMREAD_GRAYSCALE)
        gt = truth_head_mask(truth, i)
        iou, p, rc = head_iou(labels, gt)
        ious.append(iou)
        precision.append(p)
        recall.append(rc)
        beyond.append(head_beyond_hull(labels, lms[i]))
        above.append(torso_above_nose(labels, lms[i]))
        if "body_mask_ref" in truth:  # the hard scene's body layer, moved by the camera, under the head
            body = cv2.warpAffine(truth["body_mask_ref"], truth["camera"][i].astype(np.float64),
                                  gt.shape[::-1]) > 0
            body &= ~gt
            pb = (labels == 2) | (labels == 3)
            body_iou.append(float((pb & body).sum() / max((pb | body).sum(), 1)))
    body_fig = {"body_iou_mean": float(np.mean(body_iou)), "body_iou_min": float(np.min(body_iou))} if body_iou else {}
    gt_lms = np.stack([truth_landmarks(truth, i) for i in range(n)])
    iod = np.linalg.norm(lms[:, 36:42].mean(1) - lms[:, 42:48].mean(1), axis=1)
    mouth = np.linalg.norm(lms[:, [61, 62, 63]] - lms[:, [67, 66, 65]], axis=2).mean(1) / iod
    blinks = np.load(r / "blinks.npy")
    return {
        "head_iou_mean": float(np.mean(ious)), "head_iou_min": float(np.min(ious)),
        "head_iou_frames": len(ious), "head_precision": float(np.mean(precision)),
        "head_recall": float(np.mean(recall)),
        "head_beyond_hull_mean": float(np.mean(beyond)), "head_beyond_hull_max": float(np.max(beyond)),
        "torso_above_nose_mean": float(np.mean(above)), "torso_above_nose_max": float(np.max(above)),
        **body_fig,
        "landmark_error_px": float(np.linalg.norm(lms - gt_lms, axis=2).mean()),
        "mouth_open_r": float(np.corrcoef(mouth, truth["mouth_open"][:n])[0, 1]),
        "blink_r": float(np.corrcoef(blinks, truth["blink"][:n])[0, 1]),
    }


def tracking_speed(work: Path, detect_every: int, frames: int = 250) -> float:
    """Frames per second of the landmark loop (JPEG decode included) in this process."""
    from gtalker.face.detectors import HogDetector, make_landmarker
    from gtalker.face.landmarks import LandmarkConfig, track_landmarks
    from gtalker.io.frames import frame_paths, read_image

    paths = frame_paths(work / "frames")[:frames]
    cfg = LandmarkConfig(detect_every=detect_every)
    landmarker, detector = make_landmarker("dlib"), HogDetector(cfg.detect_size)
    t0 = time.perf_counter()
    track_landmarks((read_image(p) for p in paths), landmarker, detector, cfg, len(paths))
    return len(paths) / (time.perf_counter() - t0)


def baseline_head_iou(work: Path, step: int = 25) -> float:
    """Head IoU of landmark-seeded GrabCut alone (no background model), every `step`-th frame."""
    from gtalker.demo import truth_head_mask
    from gtalker.demo_scene import resample_truth
    from gtalker.face.heuristic import HeuristicParser
    from gtalker.io.frames import read_frame

    truth = resample_truth(dict(np.load(work / "truth.npz")), 25)
    lms = np.load(work / "results" / "face" / "landmarks.npz")["lms"]
    parser = HeuristicParser()
    ious = []
    for i in range(0, len(lms), step):
        head = parser.head_mask(read_frame(work / "frames", i), lms[i], None, refit=True)
        gt = truth_head_mask(truth, i)
        ious.append(float((head & gt).sum() / (head | gt).sum()))
    return float(np.mean(ious))


QUALITY_STEPS = ("landmarks", "parsing", "blinks")


def bench_length(seconds: float, size: int, workdir: Path, cores: list[int] | None, scene: str = "default",
                 quality_only: bool = False) -> dict:
    """Every step on one demo length (only QUALITY_STEPS with quality_only)."""
    work = workdir / (f"demo_{int(seconds)}s_{size}" + ("" if scene == "default" else f"_{scene}"))
    work.mkdir(parents=True, exist_ok=True)
    prep = prepare(work, seconds, size, cores, scene)
    link_ingest(work)
    steps = {}
    todo = [s for s in face_steps(work) if s[0] in QUALITY_STEPS] if quality_only else \
        face_steps(work) + [export_step(work)]
    for name, cmd in todo:
        wall, cpu, rss = run(cmd, cores)
        steps[name] = {"seconds": round(wall, 2), "cpu_seconds": round(cpu, 2), "peak_rss_mib": round(rss, 1)}
        print(f"  {seconds:>4.0f} s video  {name:<15} {wall:7.2f} s wall {cpu:7.2f} s CPU {rss:7.1f} MiB",
              flush=True)
    issue3 = sum(s["seconds"] for n, s in steps.items() if n != "export")
    cpu3 = sum(s["cpu_seconds"] for n, s in steps.items() if n != "export")
    export = steps["export"]["seconds"] if "export" in steps else 0.0
    return {"scene": scene, "seconds_of_video": seconds, "size": size, "frames": int(seconds * 25),
            "not_counted": prep, "steps": steps, "total_seconds_without_export": round(issue3, 2),
            "total_cpu_seconds_without_export": round(cpu3, 2), "total_seconds": round(issue3 + export, 2),
            "peak_rss_mib": max(s["peak_rss_mib"] for s in steps.values()), "work": str(work)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, nargs="+", default=[20, 60])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--cores", type=int, default=2, help="pin every step to this many CPUs (0 = no pinning)")
    ap.add_argument("--workdir", default="/tmp/gtalker_bench_preprocess")
    ap.add_argument("--scenes", nargs="+", default=["default", "hard"], choices=["default", "hard"],
                    help="demo scenes; speed is timed on every length of the first, quality on the first "
                    "length of each")
    ap.add_argument("--quality-only", action="store_true", help="only the steps the quality figures need")
    args = ap.parse_args()
    available = sorted(os.sched_getaffinity(0))
    cores = available[:args.cores] if args.cores and len(available) >= args.cores else None
    if cores:
        os.sched_setaffinity(0, cores)
    workdir = Path(args.workdir)
    print(f"preprocess benchmark: {args.seconds} s demo at {args.size} px, cores {cores or available}")
    runs = [bench_length(s, args.size, workdir, cores, args.scenes[0], args.quality_only) for s in args.seconds]
    runs += [bench_length(args.seconds[0], args.size, workdir, cores, scene, args.quality_only)
             for scene in args.scenes[1:]]
    first = Path(runs[0]["work"])
    import torch  # only now: imported earlier it would sit in every forked child's memory

    torch.set_num_threads(2)
    result = {
        "machine": {"cpus_used": len(cores or available), "cpus_available": len(available),
                    "processor": platform.processor() or platform.machine(), "python": platform.python_version()},
        "runs": runs,
        "quality": quality(first),
        "quality_by_scene": {r["scene"]: quality(Path(r["work"])) for r in runs
                             if r["seconds_of_video"] == args.seconds[0]},
        "landmarks_fps_tracking": round(tracking_speed(first, detect_every=10), 1),
        "baseline_landmarks_fps_detect_every_frame": round(tracking_speed(first, detect_every=1), 1),
        "baseline_head_iou_no_background_model": round(baseline_head_iou(first), 4),
    }
    for scene, qs in result["quality_by_scene"].items():
        print(f"  {scene:>8} scene: head IoU mean {qs['head_iou_mean']:.3f}, worst frame {qs['head_iou_min']:.3f}; "
              f"head beyond 0.8 face heights of the hull {100 * qs['head_beyond_hull_mean']:.2f}% "
              f"(worst {100 * qs['head_beyond_hull_max']:.2f}%); torso above the nose tip "
              f"{100 * qs['torso_above_nose_mean']:.2f}% (worst {100 * qs['torso_above_nose_max']:.2f}%)"
              + (f"; body IoU {qs['body_iou_mean']:.3f}" if "body_iou_mean" in qs else ""))
    q = result["quality"]
    print("\nquality (first length):")
    print(f"  head IoU mean {q['head_iou_mean']:.3f} (min {q['head_iou_min']:.3f}; precision "
          f"{q['head_precision']:.3f}, recall {q['head_recall']:.3f}); without the background model "
          f"{result['baseline_head_iou_no_background_model']:.3f}")
    print(f"  landmarks: mean error {q['landmark_error_px']:.2f} px, mouth-opening r {q['mouth_open_r']:.3f}, "
          f"blink r {q['blink_r']:.3f}")
    print(f"speed: landmarks {result['landmarks_fps_tracking']} fps tracking vs "
          f"{result['baseline_landmarks_fps_detect_every_frame']} fps detecting every frame")
    for r in runs:
        what = "quality steps" if args.quality_only else "all issue-3 steps"
        print(f"  {r['scene']} {r['seconds_of_video']:.0f} s: {what} "
              f"{r['total_seconds_without_export']:.1f} s wall, {r['total_cpu_seconds_without_export']:.1f} s CPU "
              f"(total {r['total_seconds']:.1f} s), peak RSS {r['peak_rss_mib']:.0f} MiB")
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
