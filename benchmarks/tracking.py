"""Head-tracking benchmark: speed on 1,500 frames and accuracy against known poses.

    python benchmarks/tracking.py [--frames 1500] [--workdir .] [--threads 1]

1. Speed and accuracy on a synthetic landmark video made by projecting the builtin model with known
   poses, identity, expressions and 0.7 px noise (5% of frames garbage and marked invalid): the full
   fit (focal search included) against the baseline of a closed-form weak-perspective pose per frame.
2. The demo video's ground truth (results/_demo/truth.npz): with the pipeline's own landmarks when
   <workdir>/results/demo/face/landmarks.npz exists (the face stage's dlib landmarks), and always with
   the generator's landmarks plus 0.5 px noise. Same baseline. Besides the pose errors and the largest
   frame-to-frame steps (fit vs truth), the correlation of the fitted pitch and vertical translation
   with the true mouth opening (the jaw leaking into the head pose; the truth's is 0).
Figures are printed and saved to benchmarks/tracking.json. Timings depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from gtalker.fit.accuracy import demo_accuracy  # noqa: E402
from gtalker.fit.facemodel import FaceModel, load  # noqa: E402
from gtalker.fit.rotation import R_from_rvec  # noqa: E402
from gtalker.fit.synthetic import make_video, relative_rotation_error_deg  # noqa: E402
from gtalker.fit.tracker import (FitConfig, HeadFit, fit_video, load_landmarks,  # noqa: E402
                                 weak_perspective_init)


def baseline_track(model: FaceModel, lms: np.ndarray, size: int, focal: float) -> HeadFit:
    """Closed-form weak-perspective pose per frame with the mean shape (no optimisation, no smoothing)."""
    c = (size - 1) / 2.0
    rvec, t = weak_perspective_init(model.landmark_arrays()[0], lms, focal, c, c)
    n = len(lms)
    return HeadFit(focal=focal, cx=c, cy=c, size=size, R=R_from_rvec(rvec), t=t,
                 expression=np.zeros((n, 0)), identity=np.zeros(model.n_identity),
                 reproj_err=np.full(n, np.nan), used=np.ones(n, bool), model=model.name)


def synthetic(model: FaceModel, frames: int) -> dict:
    """Speed and accuracy on a synthetic video with exact truth."""
    video = make_video(model, n_frames=frames, seed=7, invalid_fraction=0.05)
    t0 = time.perf_counter()
    track = fit_video(model, video.lms, video.valid, video.size, FitConfig())
    seconds = time.perf_counter() - t0
    base = baseline_track(model, video.lms, video.size, track.focal)
    ok = video.valid

    def figures(tr: HeadFit) -> dict:
        rel = relative_rotation_error_deg(tr.R[ok], video.R[ok])
        d = (tr.t - video.t)[ok]
        return {"rotation_error_deg_mean": float(rel.mean()), "rotation_error_deg_max": float(rel.max()),
                "translation_xy_error_mm_mean": float(1000 * np.abs(d[:, :2] - d[:, :2].mean(0)).mean())}

    out = {"frames": frames, "seconds": seconds, "frames_per_second": frames / seconds,
           "focal_true": video.focal, "focal_found": track.focal,
           "reproj_rmse_px_mean": float(np.nanmean(track.reproj_err)),
           "fit": figures(track), "baseline_weak_perspective": figures(base),
           "invalid_frames_rotation_error_deg_mean":
               float(relative_rotation_error_deg(track.R, video.R)[~ok].mean()) if (~ok).any() else None}
    return out


def demo(model: FaceModel, workdir: Path) -> dict:
    """Accuracy against the demo truth, with the pipeline's and the generator's landmarks."""
    from gtalker.demo import make_truth, truth_landmarks

    out = {}
    truth_path = workdir / "results/_demo/truth.npz"
    lm_path = workdir / "results/demo/face/landmarks.npz"
    if truth_path.exists() and lm_path.exists():
        truth = dict(np.load(truth_path))
        lms, valid = load_landmarks(lm_path)
        frames_json = workdir / "results/demo/ingest/frames.json"
        size = json.loads(frames_json.read_text())["size"] if frames_json.exists() else int(truth["size"])
        t0 = time.perf_counter()
        track = fit_video(model, lms, valid, size, FitConfig())
        seconds = time.perf_counter() - t0
        out["pipeline_landmarks"] = {"seconds": seconds, "focal": track.focal,
                                     "fit": demo_accuracy(model, track, truth),
                                     "baseline_weak_perspective":
                                         demo_accuracy(model, baseline_track(model, lms, size, track.focal), truth)}
    truth, _ = make_truth(seconds=20.0, size=512, seed=0)
    n = len(truth["rotation_deg"])
    lms = np.stack([truth_landmarks(truth, i) for i in range(n)])
    lms = lms + np.random.default_rng(0).standard_normal(lms.shape) * 0.5
    track = fit_video(model, lms, np.ones(n, bool), 512, FitConfig())
    out["generator_landmarks_noise_0.5px"] = {
        "focal": track.focal, "fit": demo_accuracy(model, track, truth),
        "baseline_weak_perspective": demo_accuracy(model, baseline_track(model, lms, 512, track.focal), truth)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=1500)
    ap.add_argument("--workdir", type=Path, default=REPO)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for this size)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/tracking.json")
    args = ap.parse_args()
    torch.set_num_threads(min(args.threads, 2))
    model = load(REPO / "resources/face_models/builtin.npz")
    result = {"threads": torch.get_num_threads(), "synthetic": synthetic(model, args.frames),
              "demo": demo(model, args.workdir)}
    s = result["synthetic"]
    print(f"synthetic {s['frames']} frames: {s['seconds']:.1f} s ({s['frames_per_second']:.0f} frames/s), "
          f"focal {s['focal_found']:.0f} (true {s['focal_true']:.0f}), reprojection {s['reproj_rmse_px_mean']:.2f} px")
    for name in ("fit", "baseline_weak_perspective"):
        f = s[name]
        print(f"  {name:26s} rotation {f['rotation_error_deg_mean']:.2f} deg (max {f['rotation_error_deg_max']:.2f}), "
              f"xy translation {f['translation_xy_error_mm_mean']:.2f} mm")
    for label, block in result["demo"].items():
        print(f"demo, {label}:")
        for name in ("fit", "baseline_weak_perspective"):
            a = block[name]
            print(f"  {name:26s} roll {a['roll_error_deg_mean']:.3f} deg, translation "
                  f"{a['translation_error_pct_of_size']:.3f}% of size, out-of-plane {a['out_of_plane_deg_abs_mean']:.2f} "
                  f"deg (max {a['out_of_plane_deg_max']:.2f}), reprojection {a['reproj_rmse_px_mean_at_512']:.2f} px@512, "
                  f"max step roll {a['max_frame_step_roll_deg']:.3f} (truth {a['max_frame_step_roll_deg_truth']:.3f}) "
                  f"translation {a['max_frame_step_translation_px']:.2f} px "
                  f"(truth {a['max_frame_step_translation_px_truth']:.2f}), largest step of the error roll "
                  f"{a['max_frame_step_roll_error_deg']:.3f} translation {a['max_frame_step_translation_error_px']:.2f} px, "
                  f"mouth correlation: pitch "
                  f"{a['pitch_mouth_corr']:+.2f} ({a['pitch_deg_per_mouth_open']:+.2f} deg per unit opening), "
                  f"translation y {a['translation_y_mouth_corr']:+.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
