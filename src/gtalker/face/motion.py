"""How far the static-camera assumption holds: background change and camera motion, measured.

The pipeline's default puts one static background image (bc.jpg) behind every frame. That is right for a
tripod in front of a wall and wrong for a phone in a hand, a car window, people walking behind. Two
figures, both on the background only (parsing label 0, eroded by `margin` px away from the person, whose
edges are uncertain):

- `changed_share`: share of the background pixels whose grey level differs from the static background by
  more than the noise (`noise_factor` x the frame's noise sigma, Immerkaer's estimate, at least
  `min_threshold` grey levels), mean over frames (and the worst frame). This is the share of the
  background that a static image gets wrong.
- camera motion: the position of the background in every frame relative to a key frame (median
  displacement of corner features tracked with pyramidal Lucas-Kanade, forward-backward checked; where
  too few corners agree, a coarse-to-fine ECC alignment of the background, which flicker does not fool);
  the key
  frame is the first one until too few features survive, then the previous frame with its position (no
  drift while the camera stands still). `camera_path_px` is the largest distance from the first frame's
  position, `camera_speed_px` the mean per-frame step.

`background_psnr` is what the static image costs: PSNR of bc against the frames over the background.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from gtalker.imaging import psnr_from_mse

MIN_FEATURES = 8
MIN_AGREE = 0.4   # share of the features found that must move with the median
INLIER_PX = 1.0
MIN_ECC = 0.7     # correlation an ECC alignment needs to be trusted
MAX_SHIFT = 0.1   # largest believable shift from the key frame, as a share of the frame's side


@dataclass(frozen=True)
class MotionConfig:
    """Thresholds of the background-motion report (config.yaml background.*)."""

    margin: int = 8                 # px the background region keeps away from the person
    noise_factor: float = 3.0       # x noise sigma (of a difference of two noisy images) = changed
    min_threshold: float = 8.0      # grey levels
    max_share: float = 0.05         # changed_share above which the background counts as moving
    max_path_px: float = 2.0        # camera_path_px above which the camera counts as moving


def noise_sigma(gray: np.ndarray) -> float:
    """Noise standard deviation of a grey image (Immerkaer 1996: a Laplacian-difference mask)."""
    g = gray.astype(np.float64)
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64)
    resp = cv2.filter2D(g, -1, kernel)[1:-1, 1:-1]
    h, w = g.shape
    return float(np.sqrt(np.pi / 2) * np.abs(resp).sum() / (6.0 * (w - 2) * (h - 2)))


def background_region(labels: np.ndarray, margin: int) -> np.ndarray:
    """Background pixels (label 0) at least `margin` px from any person pixel."""
    person = (labels > 0).astype(np.uint8)
    if margin > 0 and person.any():
        person = cv2.dilate(person, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1,) * 2))
    return person == 0


def grey(img: np.ndarray) -> np.ndarray:
    """Grey level of an RGB uint8 image."""
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img


def ecc_shift(prev: np.ndarray, cur: np.ndarray, region: np.ndarray) -> tuple[np.ndarray | None, float]:
    """Translation (dx, dy) from `prev` to `cur` (grey) by ECC alignment over `region`, coarse to fine
    (1/4, 1/2, full size), and its correlation; None when it does not converge or correlates under
    MIN_ECC. ECC is invariant to gain and offset (flicker) and needs no corners (blurry backgrounds)."""
    warp = np.eye(2, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4)
    cc = 0.0
    for scale in (0.25, 0.5, 1.0):
        size = (max(8, int(round(prev.shape[1] * scale))), max(8, int(round(prev.shape[0] * scale))))
        p = cv2.resize(prev, size, interpolation=cv2.INTER_AREA).astype(np.float32)
        c = cv2.resize(cur, size, interpolation=cv2.INTER_AREA).astype(np.float32)
        m = cv2.resize(region.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        if int(m.sum()) < 64:
            return None, 0.0
        w = warp.copy()
        w[:, 2] *= scale
        try:
            cc, w = cv2.findTransformECC(p, c, w, cv2.MOTION_TRANSLATION, criteria, m, 3)
        except cv2.error:
            return None, 0.0
        warp = w.copy()
        warp[:, 2] /= scale
    if not np.isfinite(cc) or cc < MIN_ECC:
        return None, float(cc)
    return warp[:, 2].astype(np.float64), float(cc)


def global_shift(prev: np.ndarray, cur: np.ndarray, region: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Median (dx, dy) of background features from `prev` to `cur` (grey), and how many agree with it
    (within INLIER_PX); None when fewer than MIN_FEATURES, or under MIN_AGREE of the features found, agree
    (a plain wall: no motion can be seen, nor does any matter; or the view changed too much)."""
    pts = cv2.goodFeaturesToTrack(prev, maxCorners=300, qualityLevel=0.01, minDistance=7,
                                  mask=region.astype(np.uint8))
    if pts is None or len(pts) < MIN_FEATURES:
        return None, 0
    lk = dict(winSize=(21, 21), maxLevel=3,
              criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
    nxt, ok, _ = cv2.calcOpticalFlowPyrLK(prev, cur, pts, None, **lk)
    back, ok_back, _ = cv2.calcOpticalFlowPyrLK(cur, prev, nxt, None, **lk)
    good = (ok.ravel() == 1) & (ok_back.ravel() == 1) & (np.linalg.norm((back - pts).reshape(-1, 2), axis=1) < 0.5)
    if good.sum() < MIN_FEATURES:
        return None, int(good.sum())
    flow = (nxt - pts).reshape(-1, 2)[good]
    shift = np.median(flow, axis=0)
    agree = int((np.linalg.norm(flow - shift, axis=1) < INLIER_PX).sum())
    if agree < max(MIN_FEATURES, MIN_AGREE * len(pts)):
        return None, agree
    return shift, agree


def background_shift(prev: np.ndarray, cur: np.ndarray, region: np.ndarray) -> np.ndarray | None:
    """Shift of the background from `prev` to `cur`: tracked features, else ECC alignment, else None
    (also for a shift over MAX_SHIFT of the frame, which a handful of mismatched features can give)."""
    shift, _ = global_shift(prev, cur, region)
    if shift is None:
        shift, _ = ecc_shift(prev, cur, region)
    if shift is not None and float(np.linalg.norm(shift)) > MAX_SHIFT * max(prev.shape):
        return None
    return shift


@dataclass
class MotionMeter:
    """Streaming measurement: `track` every frame in order, `compare` frames with the static background."""

    cfg: MotionConfig = field(default_factory=MotionConfig)
    steps: list[list[float]] = field(default_factory=list)
    unmeasured_steps: int = 0
    shares: list[float] = field(default_factory=list)
    psnrs: list[float] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    positions: list[np.ndarray] = field(default_factory=list)
    _key: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None    # grey, region, position
    _prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def track(self, img: np.ndarray, labels: np.ndarray) -> None:
        """The background's position in this frame (frames in order)."""
        g, region = grey(img), background_region(labels, self.cfg.margin)
        pos = np.zeros(2)
        if self._key is not None and self._prev is not None:
            shift = background_shift(self._key[0], g, self._key[1] & region)
            if shift is None and self._key is not self._prev:
                self._key = self._prev  # the view changed too much: re-key on the previous frame
                shift = background_shift(self._key[0], g, self._key[1] & region)
            if shift is None:
                self.unmeasured_steps += 1
                pos = self._prev[2]
            else:
                pos = self._key[2] + shift
            self.steps.append([float(v) for v in pos - self._prev[2]])
        self._prev = (g, region, pos)
        if self._key is None:
            self._key = self._prev
        self.positions.append(pos)

    def compare(self, index: int, img: np.ndarray, labels: np.ndarray, static: np.ndarray,
                known: np.ndarray | None = None) -> float:
        """Share of this frame's background that differs from the static background beyond noise."""
        region = background_region(labels, self.cfg.margin)
        if known is not None:
            region &= known
        if region.sum() < 64:
            return float("nan")
        g = cv2.GaussianBlur(grey(img), (3, 3), 0).astype(np.float32)
        s = cv2.GaussianBlur(grey(static), (3, 3), 0).astype(np.float32)
        threshold = max(self.cfg.min_threshold, self.cfg.noise_factor * np.sqrt(2) * noise_sigma(grey(img)))
        share = float((np.abs(g - s)[region] > threshold).mean())
        mse = float(((img.astype(np.float32) - static.astype(np.float32))[region] ** 2).mean())
        self.shares.append(share)
        self.psnrs.append(psnr_from_mse(mse, 255.0))
        self.frames.append(int(index))
        return share

    def report(self) -> dict:
        """The figures (see the module docstring) and whether the background counts as moving."""
        steps = np.array(self.steps, np.float64).reshape(-1, 2)
        path = np.array(self.positions, np.float64).reshape(-1, 2) if self.positions else np.zeros((1, 2))
        shares = np.array([s for s in self.shares if np.isfinite(s)])
        share = float(shares.mean()) if len(shares) else 0.0
        path_px = float(np.linalg.norm(path, axis=1).max())
        out = {
            "changed_share": round(share, 4),
            "changed_share_worst": round(float(shares.max()), 4) if len(shares) else 0.0,
            "worst_frame": int(self.frames[int(np.argmax(self.shares))]) if len(shares) else None,
            "camera_path_px": round(path_px, 2),
            "camera_speed_px": round(float(np.linalg.norm(steps, axis=1).mean()), 3) if len(steps) else 0.0,
            "unmeasured_steps": self.unmeasured_steps, "measured_steps": len(steps) - self.unmeasured_steps,
            "background_psnr": round(float(np.mean(self.psnrs)), 2) if self.psnrs else None,
            "max_share": self.cfg.max_share, "max_path_px": self.cfg.max_path_px,
        }
        out["moving"] = bool(share > self.cfg.max_share or path_px > self.cfg.max_path_px)
        return out
