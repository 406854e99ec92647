"""Cameras without a face model (gtalker.fit.rigid) against the morphable fit, on the demo's truth.

    python benchmarks/landmark_cameras.py [--workdir .] [--out benchmarks/landmark_cameras.json]

Pose errors (gtalker.fit.accuracy.demo_accuracy: roll about the nose tip after removing the median
offset, image-plane translation of the nose tip, depth scale, out-of-plane angles that the flat demo
head does not have, the mouth leaking into the pose) of
- the landmark cameras (rigid 68-point template, no face model), and
- the morphable fit (builtin face model, gtalker.fit.tracker),
1. with the pipeline's own landmarks, <workdir>/results/demo/face/landmarks.npz (the face stage's dlib
   landmarks of the default 20 s demo; make them with snakemake up to that file), against
   <workdir>/results/_demo/truth.npz; the morphable track is <workdir>/results/demo/fit/track.npz when
   it exists (the pipeline's own), else fitted here;
2. with the generator's landmarks plus 0.5 px noise (always);
3. on a synthetic clip with exact truth (the template projected under known out-of-plane poses and a
   known focal, 0.5 px noise, every 17th frame garbage): rotation error (deg, after the best constant
   change of head frame), translation error (mm) and the focal found.
Figures are printed and saved to the JSON. Timings depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from gtalker.fit.accuracy import demo_accuracy  # noqa: E402
from gtalker.fit.facemodel import FaceModel, load  # noqa: E402
from gtalker.fit.rigid import MODEL_NAME, RigidConfig, landmark_cameras, project  # noqa: E402
from gtalker.fit.rotation import R_from_euler  # noqa: E402
from gtalker.fit.synthetic import relative_rotation_error_deg  # noqa: E402
from gtalker.fit.template import template  # noqa: E402
from gtalker.fit.tracker import FitConfig, HeadFit, fit_video, load_head_fit, load_landmarks  # noqa: E402

KEYS = ("roll_error_deg_mean", "roll_error_deg_max", "translation_error_px_mean", "translation_error_pct_of_size",
        "scale_error_mean", "out_of_plane_deg_abs_mean", "out_of_plane_deg_max", "reproj_rmse_px_mean_at_512",
        "max_frame_step_roll_error_deg", "max_frame_step_translation_error_px", "pitch_mouth_corr",
        "translation_y_mouth_corr")


def template_model() -> FaceModel:
    """The rigid template as a face model without modes (so that demo_accuracy reads its nose tip)."""
    return FaceModel(name=MODEL_NAME, mean=template(), id_basis=np.zeros((0, 68, 3)),
                     exp_basis=np.zeros((0, 68, 3)), lmk_idx=np.arange(68))


def compare(model: FaceModel, lms: np.ndarray, valid: np.ndarray, size: int, truth: dict,
            morph: HeadFit | None = None) -> dict:
    """Both paths' pose errors against the truth (and the landmark cameras' time)."""
    t0 = time.perf_counter()
    rigid = landmark_cameras(lms, valid, size, RigidConfig())
    seconds = time.perf_counter() - t0
    morph_seconds = None
    if morph is None:
        t0 = time.perf_counter()
        morph = fit_video(model, lms, valid, size, FitConfig())
        morph_seconds = time.perf_counter() - t0
    pick = lambda acc: {k: acc[k] for k in KEYS}  # noqa: E731
    return {"frames": int(len(lms)),
            "landmark_cameras": {"seconds": seconds, "focal": rigid.focal, "frames_fitted": int(rigid.used.sum()),
                                 **pick(demo_accuracy(template_model(), rigid, truth))},
            "morphable_fit": {"seconds": morph_seconds, "focal": morph.focal,
                              **pick(demo_accuracy(model, morph, truth))}}


def synthetic(frames: int = 500) -> dict:
    """Known poses and focal: the template projected, 0.5 px noise, every 17th frame garbage."""
    size, focal = 512, 1000.0
    k = np.arange(frames)
    rng = np.random.default_rng(0)
    R = R_from_euler(np.stack([0.15 * np.sin(k / 20), 0.3 * np.sin(k / 31), 0.1 * np.cos(k / 17)], axis=1))
    t = np.stack([0.01 * np.sin(k / 13), 0.005 * np.cos(k / 11), 0.55 + 0.03 * np.sin(k / 40)], axis=1)
    lms = project(template(), R, t, focal, (size - 1) / 2) + rng.standard_normal((frames, 68, 2)) * 0.5
    bad = k % 17 == 0
    lms[bad] = rng.random((int(bad.sum()), 68, 2)) * size
    track = landmark_cameras(lms, ~bad, size, RigidConfig())
    rot = relative_rotation_error_deg(track.R, R)
    return {"frames": frames, "focal_true": focal, "focal_found": track.focal,
            "rotation_error_deg_mean": float(rot.mean()), "rotation_error_deg_max": float(rot.max()),
            "translation_xy_error_mm_mean": float(1000 * np.abs(track.t[:, :2] - t[:, :2]).mean()),
            "depth_error_pct_mean": float(100 * np.abs(track.t[:, 2] / t[:, 2] - 1).mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=REPO)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/landmark_cameras.json")
    args = ap.parse_args()
    from gtalker.demo import make_truth, truth_landmarks

    model = load(REPO / "resources/face_models/builtin.npz")
    result: dict = {"synthetic_template": synthetic()}
    truth_path = args.workdir / "results/_demo/truth.npz"
    lm_path = args.workdir / "results/demo/face/landmarks.npz"
    if truth_path.exists() and lm_path.exists():
        truth = dict(np.load(truth_path))
        lms, valid = load_landmarks(lm_path)
        size = json.loads((args.workdir / "results/demo/ingest/frames.json").read_text())["size"]
        track_path = args.workdir / "results/demo/fit/track.npz"
        morph = load_head_fit(track_path) if track_path.exists() else None
        result["demo_pipeline_landmarks"] = compare(model, lms, valid, size, truth, morph)
    truth, _ = make_truth(seconds=20.0, size=512, seed=0)
    n = len(truth["rotation_deg"])
    lms = np.stack([truth_landmarks(truth, i) for i in range(n)])
    lms = lms + np.random.default_rng(0).standard_normal(lms.shape) * 0.5
    result["demo_generator_landmarks_noise_0.5px"] = compare(model, lms, np.ones(n, bool), 512, truth)
    s = result["synthetic_template"]
    print(f"synthetic: focal {s['focal_found']:.0f} (true {s['focal_true']:.0f}), rotation "
          f"{s['rotation_error_deg_mean']:.3f} deg (max {s['rotation_error_deg_max']:.3f}), xy "
          f"{s['translation_xy_error_mm_mean']:.3f} mm, depth {s['depth_error_pct_mean']:.2f}%")
    for label, block in result.items():
        if label == "synthetic_template":
            continue
        print(f"{label}:")
        for name in ("landmark_cameras", "morphable_fit"):
            a = block[name]
            print(f"  {name:17s} focal {a['focal']:.0f}: roll {a['roll_error_deg_mean']:.3f} deg (max "
                  f"{a['roll_error_deg_max']:.3f}), translation {a['translation_error_px_mean']:.2f} px "
                  f"({a['translation_error_pct_of_size']:.3f}% of size), scale {a['scale_error_mean']:.4f}, "
                  f"out-of-plane {a['out_of_plane_deg_abs_mean']:.2f} deg (max {a['out_of_plane_deg_max']:.2f}), "
                  f"pitch-mouth r {a['pitch_mouth_corr']:+.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
