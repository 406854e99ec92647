"""68 2D landmarks per frame (iBUG 300-W layout), tracked through a video.

One streaming pass: the face box of frame i comes from the landmarks of frame i-1 (in the detector's box
convention, learnt at each detection). The HOG detector runs on a downscaled image only when there is no
track, when tracking fails (the face patch, aligned by the landmarks, no longer matches the patch seen at
the last detection), and every `detect_every` frames to check the track. With several faces, the one that
continues the track is kept (the largest one when a track starts). Very dark frames are contrast-
equalised (logged). Gaps without a face of up to `max_gap` frames are interpolated; longer gaps stop the
step with the list of frames.

Output (CONTRACTS.md): landmarks.npz with lms float32 [N,68,2], valid bool [N] (face found),
interpolated bool [N], score float32 [N] (0..1 match of the aligned face patch; 0 where interpolated).

CLI: python -m gtalker.face.landmarks --frames DIR --out landmarks.npz [--backend dlib ...]
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from typing import Iterable

import cv2
import numpy as np
from tqdm import tqdm

from gtalker.common import InputError, atomic_path, reports_input_errors, setup_logging
from gtalker.face.detectors import Detection, HogDetector, box_iou, make_landmarker
from gtalker.io.frames import frame_paths, read_image
from gtalker.notices import Notices
from gtalker.settings import add_flags, from_args

log = logging.getLogger("gtalker.face.landmarks")

JAW = list(range(0, 17))
BROWS = list(range(17, 27))
NOSE = list(range(27, 36))
LEFT_EYE = list(range(36, 42))   # subject's right eye, image left (iBUG numbering)
RIGHT_EYE = list(range(42, 48))
OUTER_LIPS = list(range(48, 60))
INNER_LIPS = list(range(60, 68))
RIGID = BROWS + NOSE + LEFT_EYE + RIGHT_EYE  # points that move little with expressions
PATCH = 40  # side of the aligned face patch used to check the track


@dataclass
class LandmarkConfig:
    """Settings of the landmark tracker (config section `landmarks`); each field is a CLI flag."""

    backend: str = "dlib"         # dlib | face_alignment
    fan_weights: str = "resources/2DFAN4-cd938726ad.zip"  # face_alignment's FAN weights
    detect_every: int = 10        # check the track with the detector every K frames
    detect_size: int = 256        # the detector runs on the image downscaled to this longer side
    min_patch_score: float = 0.5  # tracking fails below this correlation of the aligned face patch
    max_gap: int = 12             # longest run of frames without a face that is interpolated
    dark_threshold: float = 40.0  # mean grey level below which a frame is contrast-equalised
    upscale: int = 2              # dlib: the face crop is enlarged this many times (sub-pixel points)


@dataclass
class LandmarkTrack:
    """Per-video landmark arrays."""

    lms: np.ndarray
    valid: np.ndarray
    interpolated: np.ndarray
    score: np.ndarray
    stats: dict = field(default_factory=dict)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares 2x3 similarity transform mapping src points [K,2] onto dst [K,2] (Umeyama)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    var = (s ** 2).sum() / len(src)
    scale = (sig * np.diag(sign)).sum() / var if var > 0 else 1.0
    t = md - scale * rot @ ms
    return np.hstack([scale * rot, t[:, None]])


def landmark_box(lms: np.ndarray) -> np.ndarray:
    """Bounding box (x0, y0, x1, y1) of landmarks."""
    return np.array([lms[:, 0].min(), lms[:, 1].min(), lms[:, 0].max(), lms[:, 1].max()], np.float64)


def box_relation(det_box: np.ndarray, lms: np.ndarray) -> np.ndarray:
    """The detector box expressed relative to the landmark box (offsets in landmark-box sizes)."""
    lb = landmark_box(lms)
    w, h = max(lb[2] - lb[0], 1.0), max(lb[3] - lb[1], 1.0)
    return (det_box - lb) / np.array([w, h, w, h])


def box_from_landmarks(lms: np.ndarray, relation: np.ndarray) -> np.ndarray:
    """A detector-convention box for the face whose landmarks are `lms`."""
    lb = landmark_box(lms)
    w, h = max(lb[2] - lb[0], 1.0), max(lb[3] - lb[1], 1.0)
    return lb + relation * np.array([w, h, w, h])


class PatchCheck:
    """Compares the face patch aligned by the landmarks with the patch at the last detection."""

    def __init__(self) -> None:
        self.canon: np.ndarray | None = None
        self.patch: np.ndarray | None = None

    def _warp(self, gray: np.ndarray, lms: np.ndarray) -> np.ndarray:
        M = similarity(lms[RIGID], self.canon)
        patch = cv2.warpAffine(gray, M, (PATCH, PATCH), flags=cv2.INTER_AREA | cv2.WARP_FILL_OUTLIERS,
                               borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        patch -= patch.mean()
        return patch / (np.linalg.norm(patch) + 1e-6)

    def reset(self, gray: np.ndarray, lms: np.ndarray) -> None:
        """Take the patch of this frame as the reference (after a detection)."""
        pts = lms[RIGID].astype(np.float64)
        lo, hi = pts.min(0), pts.max(0)
        scale = 0.8 * PATCH / max(hi[0] - lo[0], hi[1] - lo[1], 1.0)
        self.canon = (pts - (lo + hi) / 2) * scale + PATCH / 2
        self.patch = self._warp(gray, lms)

    def score(self, gray: np.ndarray, lms: np.ndarray) -> float:
        """Normalised correlation (clipped to 0..1) of this frame's aligned patch with the reference."""
        if self.patch is None:
            return 0.0
        return float(np.clip((self._warp(gray, lms) * self.patch).sum(), 0.0, 1.0))


def prepare_gray(rgb: np.ndarray, dark_threshold: float) -> tuple[np.ndarray, bool]:
    """Grey image for detection/landmarks; very dark frames are histogram-equalised (CLAHE)."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if dark_threshold > 0 and float(gray.mean()) < dark_threshold:
        clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8))
        return clahe.apply(cv2.equalizeHist(gray)), True
    return gray, False


def pick_detection(dets: list[Detection], prev_box: np.ndarray | None) -> tuple[Detection | None, float]:
    """The detection that continues the track (best overlap with prev_box), else the largest one.

    Returns the detection and its overlap with prev_box (1.0 when there is no previous box).
    """
    if not dets:
        return None, 0.0
    if prev_box is None:
        return max(dets, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1])), 1.0
    ious = [box_iou(d.box, prev_box) for d in dets]
    best = int(np.argmax(ious))
    return dets[best], ious[best]


def track_landmarks(frames: Iterable[np.ndarray], landmarker, detector: HogDetector,
                    cfg: LandmarkConfig, n_frames: int | None = None) -> LandmarkTrack:
    """Landmarks for every frame of a stream (no gap filling; see `fill_gaps`)."""
    lms_all, valid, scores = [], [], []
    relation = np.array([-0.05, -0.05, 0.05, 0.05])  # replaced at the first detection
    check = PatchCheck()
    prev: np.ndarray | None = None
    last_box: np.ndarray | None = None  # box of the last frame with a face (kept through gaps)
    since_detect = 0
    stats = {"detections": 0, "track_failures": 0, "dark_frames": 0, "multi_face_frames": 0}
    for rgb in tqdm(frames, total=n_frames, desc="landmarks", file=sys.stderr, mininterval=2.0):
        gray, dark = prepare_gray(rgb, cfg.dark_threshold)
        stats["dark_frames"] += int(dark)
        pts, score, ok = None, 0.0, False
        if prev is not None:
            box = box_from_landmarks(prev, relation)
            pts, _ = landmarker.fit(rgb, gray, box)
            score = check.score(gray, pts)
            ok = score >= cfg.min_patch_score
            stats["track_failures"] += int(not ok)
        if prev is None or not ok or since_detect >= cfg.detect_every:
            since_detect = 0
            stats["detections"] += 1
            prev_box = box_from_landmarks(prev, relation) if prev is not None else None
            dets = detector.detect(gray)
            stats["multi_face_frames"] += int(len(dets) > 1)
            det, overlap = pick_detection(dets, prev_box if prev_box is not None else last_box)
            if det is not None and prev_box is not None and overlap < 0.3:
                det = None  # only other faces: the tracked face is gone
            if det is not None and prev_box is None and last_box is not None and len(dets) > 1 and overlap == 0:
                det = max(dets, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
            if det is not None and not (ok and overlap >= 0.5):
                pts, _ = landmarker.fit(rgb, gray, det.box)
                relation = 0.7 * relation + 0.3 * box_relation(det.box, pts) if prev is not None \
                    else box_relation(det.box, pts)
                check.reset(gray, pts)
                score, ok = 1.0, True
            elif det is not None:
                check.reset(gray, pts)  # the track agrees with the detector: refresh the reference
            elif not ok:
                pts = None
        since_detect += 1
        if pts is not None and ok:
            prev = pts
            last_box = box_from_landmarks(pts, relation)
            lms_all.append(pts)
            valid.append(True)
            scores.append(score)
        else:
            prev = None
            lms_all.append(np.full((68, 2), np.nan, np.float32))
            valid.append(False)
            scores.append(0.0)
    n = len(valid)
    if n == 0:
        raise InputError("no frames to process")
    return LandmarkTrack(lms=np.stack(lms_all).astype(np.float32), valid=np.array(valid, bool),
                 interpolated=np.zeros(n, bool), score=np.array(scores, np.float32), stats=stats)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs [start, end) where mask is True."""
    out, start = [], None
    for i, m in enumerate(mask):
        if m and start is None:
            start = i
        elif not m and start is not None:
            out.append((start, i))
            start = None
    if start is not None:
        out.append((start, len(mask)))
    return out


def fill_gaps(track: LandmarkTrack, max_gap: int) -> LandmarkTrack:
    """Interpolate runs of frames without a face of up to max_gap frames (hold at the ends).

    Raises InputError listing the longer runs (or when no frame has a face).
    """
    if not track.valid.any():
        raise InputError(f"no face found in any of the {len(track.valid)} frames; check the video shows "
                         "one face, large enough, not too dark")
    gaps = runs(~track.valid)
    long = [(a, b) for a, b in gaps if b - a > max_gap]
    if long:
        listing = ", ".join(f"{a}-{b - 1} ({b - a} frames)" for a, b in long)
        raise InputError(f"no face in frames {listing}: longer than landmarks.max_gap={max_gap}. Cut these "
                         "passages out of the video (datasets.<name>.start/end) or raise landmarks.max_gap")
    lms = track.lms.copy()
    interp = track.interpolated.copy()
    n = len(lms)
    for a, b in gaps:
        if a == 0:
            lms[a:b] = lms[b]
        elif b == n:
            lms[a:b] = lms[a - 1]
        else:
            w = ((np.arange(a, b) - (a - 1)) / (b - (a - 1)))[:, None, None]
            lms[a:b] = (1 - w) * lms[a - 1] + w * lms[b]
        interp[a:b] = True
    return LandmarkTrack(lms=lms, valid=track.valid, interpolated=interp, score=track.score, stats=track.stats)


def save_landmark_track(path: str, track: LandmarkTrack) -> None:
    """Write landmarks.npz atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, lms=track.lms.astype(np.float32), valid=track.valid, interpolated=track.interpolated,
                     score=track.score.astype(np.float32))


def load_landmark_track(path: str) -> LandmarkTrack:
    """Read landmarks.npz, checking its arrays."""
    try:
        data = np.load(path)
        track = LandmarkTrack(lms=data["lms"], valid=data["valid"], interpolated=data["interpolated"],
                      score=data["score"])
    except (OSError, KeyError, ValueError) as err:
        raise InputError(f"{path}: not a landmarks file ({err}); rerun rule detect_landmarks") from err
    if track.lms.ndim != 3 or track.lms.shape[1:] != (68, 2):
        raise InputError(f"{path}: lms has shape {track.lms.shape}, expected [N,68,2]")
    if not np.isfinite(track.lms).all():
        raise InputError(f"{path}: landmarks contain NaN; rerun rule detect_landmarks")
    return track


def frames_cut(lms: np.ndarray, width: int, height: int, margin: float = 0.5) -> int:
    """How many frames of landmarks [N,68,2] have a point beyond the image (by more than `margin` px)."""
    if len(lms) == 0:
        return 0
    out = ((lms[..., 0] < -margin) | (lms[..., 0] > width - 1 + margin)
           | (lms[..., 1] < -margin) | (lms[..., 1] > height - 1 + margin))
    return int(out.any(axis=1).sum())


def detect_video(frames_dir: str, cfg: LandmarkConfig | None = None, device: str = "auto",
                 notices: Notices | None = None) -> LandmarkTrack:
    """Landmarks for every frame of a frame store, gaps filled; dark frames, several faces and filled
    gaps are recorded in `notices` (gtalker.notices)."""
    cfg = cfg or LandmarkConfig()
    notices = notices or Notices("detect_landmarks", log)
    paths = frame_paths(frames_dir)
    if not paths:
        raise InputError(f"{frames_dir}: no frames; rerun the ingest rules")
    landmarker = make_landmarker(cfg.backend, cfg.fan_weights, device, cfg.upscale)
    detector = HogDetector(cfg.detect_size)
    track = track_landmarks((read_image(p) for p in paths), landmarker, detector, cfg, len(paths))
    s = track.stats
    log.info("%d frames: %d with a face, %d detector runs, %d tracking failures", len(paths),
             int(track.valid.sum()), s["detections"], s["track_failures"])
    n = len(paths)
    if s["dark_frames"]:
        notices.warn("dark_frames", f"{frames_dir}: {s['dark_frames']} of {n} frames are very dark (mean grey "
                     f"< {cfg.dark_threshold:g}); they were contrast-equalised to find the face, and their "
                     "landmarks and colours are less reliable", frames=int(s["dark_frames"]), of=n)
    if s["multi_face_frames"]:
        notices.warn("several_faces", f"{frames_dir}: {s['multi_face_frames']} of {n} frames show more than one "
                     "face; the one that continues the track (the largest when it starts) was kept: if that "
                     "is not the speaker, the model learns the wrong person", frames=int(s["multi_face_frames"]),
                     of=n)
    filled = fill_gaps(track, cfg.max_gap)
    h, w = read_image(paths[0]).shape[:2]
    cut = frames_cut(filled.lms[filled.valid], w, h)
    if cut:
        notices.warn("face_cut", f"{frames_dir}: in {cut} of {n} frames part of the face lies outside the "
                     "picture (landmarks beyond its edge); the head there is learnt from what is visible and "
                     "the pose is less certain. A wider source or preprocess.crop: face keeps it in",
                     frames=cut, of=n)
    if filled.interpolated.any():
        gaps = runs(filled.interpolated)
        listing = ", ".join(f"{a}-{b - 1}" for a, b in gaps[:10]) + (" ..." if len(gaps) > 10 else "")
        notices.warn("no_face_frames", f"{frames_dir}: no face found in {int(filled.interpolated.sum())} of {n} "
                     f"frames ({listing}); their landmarks are interpolated from the neighbours, so the head "
                     "pose there is a guess", frames=int(filled.interpolated.sum()), of=n)
    return filled


@reports_input_errors("gtalker.face.landmarks")
def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", required=True, help="frame folder (000000.jpg ...)")
    ap.add_argument("--out", required=True, help="output landmarks.npz")
    add_flags(ap, LandmarkConfig)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--notices", help="JSON file for what the step decided about the input")
    args = ap.parse_args(argv)
    setup_logging("gtalker.face.landmarks")
    notices = Notices("detect_landmarks", log)
    track = detect_video(args.frames, from_args(args, LandmarkConfig), args.device, notices)
    save_landmark_track(args.out, track)
    notices.write(args.notices)
    return 0


if __name__ == "__main__":
    sys.exit(main())
