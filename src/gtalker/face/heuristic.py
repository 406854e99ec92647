"""Face parsing without pretrained weights: head / neck / torso / background from landmarks and colour.

Per video (passes over a strided subset of frames, streamed):
- a head mask per subset frame (GrabCut seeded by the landmarks) feeds a static-camera background model:
  every pixel's colour in the frame where it is farthest from the head (`FarthestBackground`); pixels
  seen far enough from the head are 'known'. Frames are first brought to a common exposure;
- the model is kept only where the background stays still: a pixel that departs from it in more than
  `unstable` of the subset frames where it is away from the head (scenery passing, a shaking or panning
  camera, a moving body) is not 'known' (`stable_background`; `static_share` is the share kept);
- the head shape (`HeadShape`): the subset's head masks, made with that cue, brought onto a reference
  face by a similarity from the landmarks and averaged. Hair and ears move with the face; what a single
  frame's colours confuse with them does not, so the mean is a prior for every frame's head;
- the person in the middle subset frame (GrabCut seeded by face + chest and shoulders and by the image
  sides above the shoulders) gives the static part of the body; when under `static_min` of the
  background is still, the body is segmented in every frame instead, with a learnt person shape.
Per frame (one streaming pass):
- the frame's global colour shift against the background (auto-exposure) is removed;
- head: GrabCut in a box around the head on a downscaled crop, with the colour models of the last key
  frame frozen (refit every `refit_every` frames). Seeds: the face polygon is head; the region under the
  jaw line is not; far outside the head ellipse is not; where the head shape says so (over `prior_sure`
  of the frames, or under 1 - `prior_sure`) head or not; outside the face, where the head shape is not
  sure, what the frame `follow_gap` frames back, moved as the face moved since, does not explain is not
  head, and what it explains while standing still does not, is (`follow_residual`: hair follows the
  face, passing scenery does not); where the background is known, a large
  difference from it marks head and a small one background. Pixels next to the head that differ from
  the known background are added and narrow gaps closed (the head moves: what moves with it is head).
  Then holes are filled, the component with the face kept, and the region under the jaw cut off at full
  resolution;
- neck: skin-coloured pixels (colour model from the cheeks) in the band under the jaw, touching the jaw;
- torso: the rest of the person under the jaw line (static body or this frame's body, or what differs
  from the background), and only past the line halfway between the nose tip and the chin (`torso_zone`):
  beside the upper jaw is hair or background, never shoulder.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np

from gtalker.face.background import FarthestBackground, distance_to_foreground
from gtalker.face.regions import (below_jaw_polygon, component_touching, ellipse_mask, face_frame,
                                  face_polygon, fill_holes, fill_polygon, head_ellipse, neck_polygon,
                                  torso_zone)

log = logging.getLogger("gtalker.face.heuristic")

BACKGROUND, HEAD, NECK, TORSO = 0, 1, 2, 3
CHEEK_POINTS = [1, 2, 3, 4, 48, 31, 30, 35, 54, 12, 13, 14, 15, 45, 42, 39, 36]  # rough cheek+nose area


@dataclass
class HeuristicConfig:
    """Settings of the heuristic parser (config section `parsing.heuristic`)."""

    work_size: int = 160        # GrabCut runs on the head crop downscaled to this longer side
    subset: int = 32            # frames used for the background model and the static body
    refit_every: int = 50       # frames between refits of the GrabCut colour models
    diff_fg: float = 15.0       # |frame - background| (max over RGB) that marks foreground
    diff_bg: float = 6.0        # ... below which a pixel with known background is background
    known_dist: float = 3.0     # px a pixel must have been from the head to know its background
    neck_depth: float = 0.7     # face heights under the chin searched for the neck
    skin_distance: float = 3.0  # Mahalanobis distance (CrCb) of neck pixels to the cheek colour
    background_rounds: int = 1  # head masks -> background model rounds on the subset
    jaw_margin: float = 0.015   # the head reaches this far (face widths) past the jaw landmarks
    close_gaps: float = 0.2     # gaps (face widths) closed between the head and moving pixels next to it
    prior_sure: float = 0.9     # share of the frames (HeadShape) above which a pixel is surely head (below
    #                             1 - prior_sure surely not); 1 turns the learnt head shape off
    follow_gap: int = 10        # frames back for the follow-the-face cue (0 = off)
    follow_fg: float = 14.0     # residual after following the face's motion above which a pixel is not head
    static_min: float = 0.5     # share of the background that must stay still to use one static body mask
    #                             (below it the body is segmented in every frame)
    unstable: float = 0.1       # share of a pixel's frames away from the head in which it departs from the
    #                             background (by diff_fg) above which the background model is not trusted there


STABLE_POINTS = [0, 16] + list(range(27, 48))  # jaw ends, nose, brows' neighbours: eyes (not the mouth)


def to_reference(lms: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """2x3 similarity that maps the face's stable landmarks onto the reference's."""
    M, _ = cv2.estimateAffinePartial2D(np.asarray(lms, np.float32)[STABLE_POINTS],
                                       np.asarray(ref, np.float32)[STABLE_POINTS], method=cv2.LMEDS)
    if M is None:
        M = np.eye(2, 3)
    return M


class HeadShape:
    """The head's outline learnt over many frames in face-aligned coordinates: hair and ears move with the
    face, while what a single frame's colours confuse with them (a background that moves, a shadow, the
    camera's shake) does not. The mean of the per-frame head masks, brought onto a reference face by a
    similarity from the landmarks, is a prior for every frame's head."""

    def __init__(self, shape: tuple[int, int], ref: np.ndarray) -> None:
        self.ref = np.asarray(ref, np.float64)
        self.shape = shape
        self.sum = np.zeros(shape, np.float32)
        self.count = 0

    def add(self, head: np.ndarray, lms: np.ndarray) -> None:
        """Account for one frame's head mask."""
        h, w = self.shape
        self.sum += cv2.warpAffine(head.astype(np.float32), to_reference(lms, self.ref), (w, h),
                                   flags=cv2.INTER_LINEAR)
        self.count += 1

    def prior(self, lms: np.ndarray) -> np.ndarray:
        """Share of the frames in which each pixel of this frame (placed by its landmarks) was head."""
        h, w = self.shape
        mean = self.sum / max(self.count, 1)
        return cv2.warpAffine(mean, to_reference(lms, self.ref), (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)


def follow_residual(small: np.ndarray, earlier: np.ndarray, lms: np.ndarray, earlier_lms: np.ndarray,
                    crop: "Crop", follow: bool = True) -> np.ndarray:
    """How badly an earlier frame, moved as the face moved since (similarity from the stable landmarks),
    explains each pixel of this frame's crop: max over RGB, at the crop's work scale, the least over shifts
    of one work pixel (landmark jitter), blurred. Head pixels follow the face and score low; background
    that moves otherwise (scenery, a panning camera; or still while the head moves) scores high where it
    has texture. With follow=False the earlier frame stays where it was (the residual of standing still)."""
    M = np.vstack([to_reference(earlier_lms, lms), [0.0, 0.0, 1.0]]) if follow else np.eye(3)
    to_small = np.array([[crop.scale, 0.0, -crop.x0 * crop.scale], [0.0, crop.scale, -crop.y0 * crop.scale],
                         [0.0, 0.0, 1.0]])
    sh, sw = small.shape[:2]
    moved = cv2.warpAffine(earlier, (to_small @ M)[:2], (sw, sh), flags=cv2.INTER_AREA if crop.scale < 1
                           else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.int16)
    cur = small.astype(np.int16)
    best = np.full((sh, sw), 255, np.int16)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            shifted = np.roll(moved, (dy, dx), axis=(0, 1))
            best = np.minimum(best, np.abs(cur - shifted).max(2))
    return cv2.blur(best.astype(np.uint8), (3, 3))


@dataclass
class Crop:
    """A head crop: full-resolution box (x0, y0, x1, y1) and the downscale factor."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float

    @property
    def offset(self) -> tuple[float, float]:
        return (float(self.x0), float(self.y0))

    def small_shape(self) -> tuple[int, int]:
        return (max(1, int(round((self.y1 - self.y0) * self.scale))),
                max(1, int(round((self.x1 - self.x0) * self.scale))))


def head_crop(lms: np.ndarray, height: int, width: int, work_size: int) -> Crop:
    """Box around the head ellipse (grown), clipped to the image, and its downscale factor."""
    (cx, cy), (ax, ay), _ = head_ellipse(lms, grow=1.35)
    r = 0.5 * max(ax, ay)
    x0, x1 = int(max(0, cx - r)), int(min(width, cx + r))
    y0, y1 = int(max(0, cy - r)), int(min(height, cy + r))
    if x1 - x0 < 8 or y1 - y0 < 8:
        x0, y0, x1, y1 = 0, 0, width, height
    scale = min(1.0, work_size / max(x1 - x0, y1 - y0))
    return Crop(x0, y0, x1, y1, scale)


def head_seeds(lms: np.ndarray, crop: Crop, diff: np.ndarray | None, known: np.ndarray | None,
               cfg: HeuristicConfig, prior: np.ndarray | None = None) -> np.ndarray:
    """GrabCut label map (GC_*) for the downscaled head crop (`prior`: HeadShape's share, same crop)."""
    shape = crop.small_shape()
    s, off = crop.scale, crop.offset
    seeds = np.full(shape, cv2.GC_PR_BGD, np.uint8)
    seeds[ellipse_mask(shape, head_ellipse(lms, 1.0), s, off)] = cv2.GC_PR_FGD
    seeds[~ellipse_mask(shape, head_ellipse(lms, 1.3), s, off)] = cv2.GC_BGD
    if prior is not None:
        seeds[prior >= 0.5] = cv2.GC_PR_FGD
        seeds[prior < 0.5] = cv2.GC_PR_BGD
        seeds[prior >= cfg.prior_sure] = cv2.GC_FGD
        seeds[prior <= 1.0 - cfg.prior_sure] = cv2.GC_BGD
    if diff is not None and known is not None:
        seeds[known & (diff <= cfg.diff_bg)] = cv2.GC_BGD
        seeds[known & (diff >= cfg.diff_fg)] = cv2.GC_FGD
    reach = 4.0 * (crop.x1 - crop.x0 + crop.y1 - crop.y0)
    seeds[fill_polygon(shape, below_jaw_polygon(lms, reach, cfg.jaw_margin), s, off)] = cv2.GC_BGD
    face = fill_polygon(shape, face_polygon(lms), s, off)
    face = cv2.erode(face.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    seeds[face] = cv2.GC_FGD
    return seeds


def finish_head(small_fg: np.ndarray, lms: np.ndarray, crop: Crop, height: int, width: int,
                jaw_margin: float = 0.0) -> np.ndarray:
    """Full-resolution head mask from the crop's GrabCut result: upsample, cut under the jaw, clean."""
    big = cv2.resize(small_fg.astype(np.float32), (crop.x1 - crop.x0, crop.y1 - crop.y0),
                     interpolation=cv2.INTER_LINEAR) >= 0.5
    head = np.zeros((height, width), bool)
    head[crop.y0:crop.y1, crop.x0:crop.x1] = big
    face = fill_polygon((height, width), face_polygon(lms))
    head |= face
    head &= ~fill_polygon((height, width), below_jaw_polygon(lms, 4.0 * (height + width), jaw_margin))
    head = component_touching(head, face)
    return fill_holes(head)


class SkinModel:
    """Gaussian colour model of the face skin in (Cr, Cb)."""

    def __init__(self, ycrcb: np.ndarray, lms: np.ndarray) -> None:
        region = fill_polygon(ycrcb.shape[:2], cv2.convexHull(lms[CHEEK_POINTS].astype(np.float32))[:, 0])
        mouth = fill_polygon(ycrcb.shape[:2], lms[48:60])
        eyes = fill_polygon(ycrcb.shape[:2], lms[36:42]) | fill_polygon(ycrcb.shape[:2], lms[42:48])
        px = ycrcb[region & ~mouth & ~eyes][:, 1:].astype(np.float64)
        if len(px) < 10:
            px = ycrcb.reshape(-1, 3)[:, 1:].astype(np.float64)
        self.mean = px.mean(0)
        self.icov = np.linalg.inv(np.cov(px.T) + np.eye(2) * 4.0)

    def distance(self, ycrcb: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of every pixel to the skin colour."""
        d = ycrcb[..., 1:].astype(np.float32) - self.mean.astype(np.float32)
        icov = self.icov.astype(np.float32)
        q = (d[..., 0] ** 2 * icov[0, 0] + 2 * d[..., 0] * d[..., 1] * icov[0, 1] + d[..., 1] ** 2 * icov[1, 1])
        return np.sqrt(np.maximum(q, 0))


def neck_mask(img: np.ndarray, lms: np.ndarray, head: np.ndarray, cfg: HeuristicConfig) -> np.ndarray:
    """Skin-coloured pixels in the band under the jaw that touch the jaw line."""
    h, w = head.shape
    band = fill_polygon((h, w), neck_polygon(lms, cfg.neck_depth)) & ~head
    if not band.any():
        return band
    ys, xs = np.nonzero(band)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    ycrcb = cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb)
    skin = SkinModel(ycrcb, lms)
    sub = np.zeros((h, w), bool)
    sub[y0:y1, x0:x1] = skin.distance(ycrcb[y0:y1, x0:x1]) <= cfg.skin_distance
    neck = band & sub
    neck = cv2.morphologyEx(neck.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
    jaw_line = cv2.dilate(head.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & band
    return component_touching(neck, jaw_line) if (neck & jaw_line).any() else np.zeros_like(neck)


def grabcut(img_small: np.ndarray, seeds: np.ndarray, models: tuple[np.ndarray, np.ndarray] | None,
            iters: int = 2) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Run GrabCut; with `models`, one pass with the colour models frozen. Returns fg mask and models."""
    mask = seeds.copy()
    if not ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).any() or \
            not ((mask == cv2.GC_BGD) | (mask == cv2.GC_PR_BGD)).any():
        return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), models or (np.zeros((1, 65)), np.zeros((1, 65)))
    if models is None:
        bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
        cv2.grabCut(img_small, mask, None, bgd, fgd, iters, cv2.GC_INIT_WITH_MASK)
        models = (bgd, fgd)
    else:
        bgd, fgd = models[0].copy(), models[1].copy()
        cv2.grabCut(img_small, mask, None, bgd, fgd, 1, cv2.GC_EVAL_FREEZE_MODEL)
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), models


def close_with_motion(fg: np.ndarray, moving: np.ndarray, k: int) -> np.ndarray:
    """Add the moving pixels within k px of the head mask and close gaps narrower than k between them."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    near = cv2.dilate(fg.astype(np.uint8), kernel).astype(bool)
    merged = component_touching(fg | (moving & near), fg)
    closed = cv2.morphologyEx(merged.astype(np.uint8), cv2.MORPH_CLOSE, kernel).astype(bool)
    return closed | fg


def static_person(img: np.ndarray, lms: np.ndarray, work_size: int = 200, prior: np.ndarray | None = None,
                  sure: float = 0.9) -> np.ndarray:
    """The person (head, neck, body) in one frame: GrabCut over the whole image, seeded by the face,
    a chest band under the chin, and the image sides above the shoulders as background; `prior` (the
    share of frames in which a pixel was person, full size) marks pixels above `sure` as person and
    under 1 - sure as not."""
    h, w = img.shape[:2]
    s = min(1.0, work_size / max(h, w))
    small = cv2.resize(img, (max(1, int(round(w * s))), max(1, int(round(h * s)))), interpolation=cv2.INTER_AREA)
    shape = small.shape[:2]
    ff = face_frame(lms)
    seeds = np.full(shape, cv2.GC_PR_BGD, np.uint8)
    # shoulders: widening from the jaw to 1.6 face widths either side of the chin, a face height under it
    chin, across, down = np.asarray(lms[8], np.float64), ff.across, ff.down
    shoulders = chin + ff.height * down
    body = np.array([lms[5], lms[11], shoulders + 1.6 * ff.width * across, shoulders + 1.6 * ff.width * across
                     + 3 * ff.height * down, shoulders - 1.6 * ff.width * across + 3 * ff.height * down,
                     shoulders - 1.6 * ff.width * across])
    seeds[fill_polygon(shape, body, s)] = cv2.GC_PR_FGD
    seeds[ellipse_mask(shape, head_ellipse(lms, 1.0), s)] = cv2.GC_PR_FGD
    chest = np.array([lms[6], lms[10], lms[10] + 2 * ff.height * ff.down, lms[6] + 2 * ff.height * ff.down])
    seeds[fill_polygon(shape, chest, s)] = cv2.GC_FGD
    seeds[fill_polygon(shape, face_polygon(lms), s)] = cv2.GC_FGD
    # the image sides above the jaw line and outside the grown head ellipse are background
    above = ~fill_polygon(shape, below_jaw_polygon(lms, 4.0 * (h + w)), s)
    seeds[above & ~ellipse_mask(shape, head_ellipse(lms, 1.5), s)] = cv2.GC_BGD
    if prior is not None:
        p = cv2.resize(prior, shape[::-1], interpolation=cv2.INTER_AREA)
        free = (seeds == cv2.GC_PR_BGD) | (seeds == cv2.GC_PR_FGD)
        seeds[free & (p >= 0.5)] = cv2.GC_PR_FGD
        seeds[free & (p < 0.5)] = cv2.GC_PR_BGD
        seeds[free & (p >= sure)] = cv2.GC_FGD
        seeds[free & (p <= 1 - sure)] = cv2.GC_BGD
    fg, _ = grabcut(small, seeds, None, iters=3)
    big = cv2.resize(fg.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5
    return fill_holes(component_touching(big, fill_polygon((h, w), face_polygon(lms))))


class HeuristicParser:
    """Streaming heuristic parser: `prepare` on a subset of frames, then `parse` frame by frame."""

    def __init__(self, cfg: HeuristicConfig | None = None) -> None:
        self.cfg = cfg or HeuristicConfig()
        self.background: np.ndarray | None = None
        self.known: np.ndarray | None = None
        self.person: np.ndarray | None = None
        self.models: tuple[np.ndarray, np.ndarray] | None = None
        self.since_refit = 0
        self.static_share = 1.0  # share of the background seen away from the head that stays still
        self.shape_prior: HeadShape | None = None
        self.person_prior: HeadShape | None = None  # set when the background is not static
        self.history: list[tuple[np.ndarray, np.ndarray]] = []  # recent frames for the follow-the-face cue

    def difference(self, img: np.ndarray) -> np.ndarray:
        """|frame - background| (max over RGB, uint8); give frames after `match_exposure`."""
        assert self.background is not None
        channels = cv2.split(cv2.absdiff(img, self.background))
        return cv2.max(cv2.max(channels[0], channels[1]), channels[2])

    def match_exposure(self, img: np.ndarray, reference: np.ndarray | None = None,
                       where: np.ndarray | None = None) -> np.ndarray:
        """The frame with its global colour shift against `reference` (default: the background model,
        on the pixels whose background is known) removed: auto-exposure and white-balance drift."""
        reference = self.background if reference is None else reference
        where = self.known if where is None else where
        if reference is None or where is None:
            return img
        sel = where[::8, ::8]
        if sel.sum() < 50:
            return img
        shift = np.median(img[::8, ::8][sel].astype(np.int16) - reference[::8, ::8][sel], axis=0)
        if np.abs(shift).max() < 1:
            return img
        return np.clip(img.astype(np.int16) - np.round(shift).astype(np.int16), 0, 255).astype(np.uint8)

    def head_mask(self, img: np.ndarray, lms: np.ndarray, diff: np.ndarray | None = None,
                  refit: bool = False, earlier: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Full-resolution head mask of one frame (`diff`: its difference from the background; `earlier`:
        an earlier frame and its landmarks, for the follow-the-face cue)."""
        h, w = img.shape[:2]
        crop = head_crop(lms, h, w, self.cfg.work_size)
        sh, sw = crop.small_shape()
        ys, xs = slice(crop.y0, crop.y1), slice(crop.x0, crop.x1)
        small = cv2.resize(img[ys, xs], (sw, sh), interpolation=cv2.INTER_AREA)
        small_diff = known = None
        if diff is not None and self.known is not None:
            small_diff = cv2.blur(cv2.resize(diff[ys, xs], (sw, sh), interpolation=cv2.INTER_AREA), (3, 3))
            known = cv2.resize(self.known[ys, xs].astype(np.uint8), (sw, sh),
                               interpolation=cv2.INTER_NEAREST).astype(bool)
        prior = None
        if self.shape_prior is not None and self.cfg.prior_sure < 1.0:
            prior = cv2.resize(self.shape_prior.prior(lms)[ys, xs], (sw, sh), interpolation=cv2.INTER_AREA)
        seeds = head_seeds(lms, crop, small_diff, known, self.cfg, prior)
        if earlier is not None:
            # what does not follow the face is not head (the face itself stays); what follows it and did
            # not stand still moved with the face: head (above the jaw line only)
            res = follow_residual(small, earlier[0], lms, earlier[1], crop)
            still = follow_residual(small, earlier[0], lms, earlier[1], crop, follow=False)
            face = fill_polygon(seeds.shape, face_polygon(lms), crop.scale, crop.offset)
            unsure = prior < self.cfg.prior_sure if prior is not None else np.ones(seeds.shape, bool)
            seeds[(res >= self.cfg.follow_fg) & ~face & unsure] = cv2.GC_BGD
            below = fill_polygon(seeds.shape, below_jaw_polygon(lms, 4.0 * (crop.x1 - crop.x0 + crop.y1 - crop.y0),
                                                                self.cfg.jaw_margin), crop.scale, crop.offset)
            moved_along = (res <= self.cfg.follow_fg / 3) & (still >= self.cfg.follow_fg) & ~below
            seeds[moved_along & ellipse_mask(seeds.shape, head_ellipse(lms, 1.3), crop.scale, crop.offset)] = cv2.GC_FGD
        if refit or self.models is None or self.since_refit >= self.cfg.refit_every:
            fg, models = grabcut(small, seeds, None)
            if not refit:
                self.models, self.since_refit = models, 0
        else:
            fg, _ = grabcut(small, seeds, self.models)
        self.since_refit += int(not refit)
        if small_diff is not None and known is not None and self.cfg.close_gaps > 0:
            k = max(3, int(round(self.cfg.close_gaps * face_frame(lms).width * crop.scale)) | 1)
            fg = close_with_motion(fg, known & (small_diff >= self.cfg.diff_fg), k)
        return finish_head(fg, lms, crop, h, w, self.cfg.jaw_margin)

    def prepare(self, subset: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]) -> None:
        """Background model and static body from a subset of frames.

        `subset()` yields (frame, landmarks) pairs; it is called once per round (frames are streamed).
        """
        count = 0
        first: np.ndarray | None = None
        away: np.ndarray | None = None  # pixels far from the head in the first frame: exposure reference
        heads: list[np.ndarray] = []
        for round_ in range(max(1, self.cfg.background_rounds)):
            model, count, heads = None, 0, []
            for img, pts in subset():
                if model is None:
                    model = FarthestBackground(*img.shape[:2])
                if round_ == 0:
                    if first is None:
                        first = img
                        away = ~ellipse_mask(img.shape[:2], head_ellipse(pts, 1.6)) & \
                            ~fill_polygon(img.shape[:2], below_jaw_polygon(pts, 4.0 * sum(img.shape[:2])))
                    img = self.match_exposure(img, first, away)
                    diff = None
                else:
                    img = self.match_exposure(img)
                    diff = self.difference(img)
                heads.append(self.head_mask(img, pts, diff, refit=True))
                model.update(img, heads[-1])
                count += 1
            if model is None:
                raise ValueError("prepare needs at least one frame")
            self.known = model.known(self.cfg.known_dist)
            self.background = model.result(self.cfg.known_dist)
        known = self.known.mean()
        self.known &= self.stable_background(subset, heads)
        self.static_share = float(self.known.mean() / max(known, 1e-6))
        shape_prior = None
        for img, pts in subset():  # the head shape, from masks made with the (stable) background cue
            img = self.match_exposure(img)
            if shape_prior is None:
                shape_prior = HeadShape(img.shape[:2], pts)
            shape_prior.add(self.head_mask(img, pts, self.difference(img), refit=True), pts)
        self.shape_prior = shape_prior
        if self.static_share < self.cfg.static_min:  # the body, frame by frame, with a learnt shape
            person_prior = None
            for img, pts in subset():
                if person_prior is None:
                    person_prior = HeadShape(img.shape[:2], pts)
                person_prior.add(static_person(img, pts), pts)
            self.person_prior = person_prior
        for k, (img, pts) in enumerate(subset()):  # the static body, from the middle frame of the subset
            if k == count // 2:
                self.person = static_person(self.match_exposure(img), pts)
                break
        assert self.known is not None
        log.info("heuristic parsing: background known and static at %.1f%% of pixels (%.0f%% of those seen "
                 "away from the head); static person %.1f%% of the image", 100 * self.known.mean(),
                 100 * self.static_share, 100 * self.person.mean())

    def stable_background(self, subset: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]],
                          heads: list[np.ndarray]) -> np.ndarray:
        """Pixels whose colour stays at the background model's in the subset frames where they are away
        from the head: where the background moves (scenery, a panning or shaking camera), the model
        cannot tell head from background and is not used."""
        away_count = departs = None
        for (img, _), head in zip(subset(), heads):
            diff = cv2.blur(self.difference(self.match_exposure(img)), (3, 3))
            away = distance_to_foreground(head) >= self.cfg.known_dist
            if away_count is None:
                away_count, departs = np.zeros(head.shape, np.int32), np.zeros(head.shape, np.int32)
            away_count += away
            departs += away & (diff >= self.cfg.diff_fg)
        if away_count is None:
            return np.zeros_like(self.known)
        return departs <= self.cfg.unstable * np.maximum(away_count, 1)

    def parse(self, img: np.ndarray, lms: np.ndarray) -> np.ndarray:
        """Label map (0 background, 1 head, 2 neck, 3 torso) of one frame."""
        if self.background is None or self.known is None or self.person is None:
            raise RuntimeError("call prepare() first")
        img = self.match_exposure(img)
        diff = self.difference(img)
        earlier = None
        if self.cfg.follow_gap > 0:
            self.history.append((img, np.asarray(lms, np.float64)))
            del self.history[:-(self.cfg.follow_gap + 1)]
            if len(self.history) > self.cfg.follow_gap:
                earlier = self.history[0]
        head = self.head_mask(img, lms, diff, earlier=earlier)
        moving = self.known & (cv2.blur(diff, (5, 5)) >= self.cfg.diff_fg)
        h, w = head.shape
        body_side = fill_polygon((h, w), below_jaw_polygon(lms, 4.0 * (h + w), self.cfg.jaw_margin))
        body_side &= torso_zone((h, w), lms, self.cfg.neck_depth)
        body = self.person
        if self.person_prior is not None:
            body = static_person(img, lms, prior=self.person_prior.prior(lms), sure=self.cfg.prior_sure)
        person = ((body | moving) & body_side) | head  # above the jaw line: head or background
        neck = neck_mask(img, lms, head, self.cfg) & person
        labels = np.zeros(head.shape, np.uint8)
        labels[person] = TORSO
        labels[neck] = NECK
        labels[head] = HEAD
        return labels


def parse_stream(read: Callable[[int], np.ndarray], lms: np.ndarray, cfg: HeuristicConfig | None = None,
                 parser: HeuristicParser | None = None) -> Iterator[np.ndarray]:
    """Label maps of frames 0..N-1 (N = len(lms)); `read(i)` returns RGB frame i."""
    parser = parser or HeuristicParser(cfg)
    n = len(lms)
    subset = np.unique(np.linspace(0, n - 1, min(n, parser.cfg.subset)).round().astype(int))
    parser.prepare(lambda: ((read(int(i)), lms[i]) for i in subset))
    for i in range(n):
        yield parser.parse(read(i), lms[i])
