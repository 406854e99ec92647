"""Landmark detection and tracking: dlib backend, gaps, several faces, dark frames, the FAN backend."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from face_synth import make_clip
from gtalker.common import InputError
from gtalker.demo import truth_landmarks
from gtalker.face import landmarks as lm
from gtalker.face.detectors import FanLandmarks, decode_heatmaps, fan_crop_params
from gtalker.io.frames import frame_path, read_frame, write_image
from gtalker.notices import Notices


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("clip") / "frames"
    truth = make_clip(folder, n=40, size=256)
    return folder, truth


def copy_clip(src: Path, dst: Path, edit=None) -> Path:
    """Copy a frame folder, optionally transforming frames: edit(i, img) -> img."""
    dst.mkdir(parents=True)
    for p in sorted(src.glob("*.jpg")):
        i = int(p.stem)
        if edit is None:
            shutil.copy(p, dst / p.name)
        else:
            write_image(frame_path(dst, i), edit(i, read_frame(src, i)))
    return dst


def mouth_opening(lms: np.ndarray) -> np.ndarray:
    iod = np.linalg.norm(lms[:, 36:42].mean(1) - lms[:, 42:48].mean(1), axis=1)
    return np.linalg.norm(lms[:, [61, 62, 63]] - lms[:, [67, 66, 65]], axis=2).mean(1) / iod


def test_dlib_tracks_the_demo_face(clip):
    folder, truth = clip
    track = lm.detect_video(str(folder), lm.LandmarkConfig(detect_every=10))
    n = len(truth["mouth_open"])
    assert track.lms.shape == (n, 68, 2) and track.lms.dtype == np.float32
    assert track.valid.all() and not track.interpolated.any()
    assert (track.score > 0.5).all() and (track.score <= 1).all()
    gt = np.stack([truth_landmarks(truth, i) for i in range(n)])
    err = np.linalg.norm(track.lms - gt, axis=2).mean()
    assert err < 3.0, f"mean landmark error {err:.2f} px at 256 px"
    r = np.corrcoef(mouth_opening(track.lms), truth["mouth_open"])[0, 1]
    assert r > 0.85, r
    # tracking: the detector runs on the first frame and then only every detect_every frames
    assert track.stats["detections"] <= n // 10 + 1


def test_short_gap_interpolated_long_gap_fails(clip, tmp_path):
    folder, _ = clip
    blank = copy_clip(folder, tmp_path / "gap", lambda i, img: np.full_like(img, 128) if 10 <= i <= 12 else img)
    track = lm.detect_video(str(blank), lm.LandmarkConfig(max_gap=3))
    assert not track.valid[10:13].any() and track.valid[:10].all() and track.valid[13:].all()
    assert track.interpolated[10:13].all() and track.interpolated.sum() == 3
    assert np.isfinite(track.lms).all()
    mid = track.lms[11]
    assert np.allclose(mid, (2 * track.lms[9] + 2 * track.lms[13]) / 4, atol=1e-3)  # linear in time
    with pytest.raises(InputError, match=r"10-12 \(3 frames\)"):
        lm.detect_video(str(blank), lm.LandmarkConfig(max_gap=2))


def test_no_face_anywhere_is_an_error(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    for i in range(3):
        write_image(frame_path(folder, i), np.full((128, 128, 3), 90, np.uint8))
    with pytest.raises(InputError, match="no face found"):
        lm.detect_video(str(folder))


def test_keeps_the_face_that_continues_the_track(clip, tmp_path):
    folder, _ = clip

    def add_face(i: int, img: np.ndarray) -> np.ndarray:
        canvas = np.full((256, 512, 3), 120, np.uint8)
        canvas[:, :256] = img
        if i >= 8:  # a second, larger-looking copy of the face appears on the right
            canvas[:, 256:] = read_frame(folder, 0)
        return canvas

    two = copy_clip(folder, tmp_path / "two", add_face)
    notices = Notices("detect_landmarks")
    track = lm.detect_video(str(two), lm.LandmarkConfig(detect_every=3), notices=notices)
    assert track.valid.all()
    assert track.stats["multi_face_frames"] > 0
    assert [n.code for n in notices.items] == ["several_faces"]
    assert notices.items[0].figures["frames"] == track.stats["multi_face_frames"]
    assert (track.lms[:, :, 0].mean(axis=1) < 256).all(), "the track jumped to the other face"


def test_dark_frames_are_equalised(clip, tmp_path):
    folder, _ = clip
    dark = copy_clip(folder, tmp_path / "dark", lambda i, img: (img * 0.05).astype(np.uint8))
    notices = Notices("detect_landmarks")
    track = lm.detect_video(str(dark), lm.LandmarkConfig(dark_threshold=40), notices=notices)
    assert track.valid.all() and track.stats["dark_frames"] == len(track.valid)
    assert [n.code for n in notices.items] == ["dark_frames"] and "very dark" in notices.items[0].message
    bright_notices = Notices("detect_landmarks")
    bright = lm.detect_video(str(folder), notices=bright_notices)
    assert not bright_notices.items
    assert np.linalg.norm(track.lms - bright.lms, axis=2).mean() < 4.0
    raw_notices = Notices("detect_landmarks")
    raw = lm.detect_video(str(dark), lm.LandmarkConfig(dark_threshold=0, max_gap=100), notices=raw_notices)
    assert raw.valid.sum() < len(raw.valid), "without the fallback some dark frames lose the face"
    assert [n.code for n in raw_notices.items] == ["no_face_frames"]
    assert raw_notices.items[0].figures["frames"] == int((~raw.valid).sum())


def test_a_face_cut_by_the_frame_edge_is_noticed(clip, tmp_path):
    folder, _ = clip

    def chin_below_edge(i: int, img: np.ndarray) -> np.ndarray:
        out = np.full_like(img, 120)
        out[80:] = img[:-80]  # the picture slides down: the chin leaves it
        return out

    cut = copy_clip(folder, tmp_path / "cut", chin_below_edge)
    notices = Notices("detect_landmarks")
    track = lm.detect_video(str(cut), notices=notices)
    assert track.lms[:, :, 1].max() > 255
    assert [n.code for n in notices.items] == ["face_cut"]
    assert notices.items[0].figures["frames"] == lm.frames_cut(track.lms, 256, 256) > 0
    assert lm.frames_cut(track.lms - [0, 80], 256, 256) == 0


def test_fill_gaps_holds_the_ends():
    lms = np.zeros((6, 68, 2), np.float32)
    lms[2:4] = 5.0
    valid = np.array([False, False, True, True, False, False])
    lms[~valid] = np.nan
    track = lm.LandmarkTrack(lms=lms, valid=valid, interpolated=np.zeros(6, bool), score=np.ones(6, np.float32))
    out = lm.fill_gaps(track, max_gap=2)
    assert np.allclose(out.lms, 5.0) and out.interpolated.tolist() == [True, True, False, False, True, True]


def test_similarity_recovers_a_transform():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(20, 2))
    ang, s, t = 0.3, 1.7, np.array([4.0, -2.0])
    R = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    dst = s * src @ R.T + t
    M = lm.similarity(src, dst)
    assert np.allclose(M[:, :2], s * R, atol=1e-9) and np.allclose(M[:, 2], t, atol=1e-9)


# ---- face_alignment (FAN) backend on a TorchScript model the test builds ---------------------------------

class BrightestSpot(torch.nn.Module):
    """Stand-in with FAN's signature ([1,3,256,256] in 0..1 -> [1,68,64,64]): every heatmap peaks at the
    brightest 4x4 block of the input crop."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1:] == (3, 256, 256)
        assert float(x.max()) <= 1.0
        grey = torch.nn.functional.avg_pool2d(x.mean(dim=1, keepdim=True), 4)  # [1,1,64,64]
        flat = grey.flatten(1)
        hm = torch.zeros_like(flat)
        hm.scatter_(1, flat.argmax(dim=1, keepdim=True), 1.0)
        return hm.view(1, 1, 64, 64).expand(1, 68, 64, 64).contiguous()


def face_alignment_point(hm: np.ndarray, center: tuple[float, float], scale: float) -> np.ndarray:
    """One heatmap [64,64] -> image point by face-alignment's published steps (utils.get_preds_fromhm and
    transform_np): 1-based argmax (x = (i - 1) % W + 1, y = floor((i - 1) / H) + 1), a quarter towards the
    larger neighbour when inside (0 < x-1 < 63 and 0 < y-1 < 63), minus 0.5, then the inverse of
    [[r/h, 0, r(-cx/h + .5)], [0, r/h, r(-cy/h + .5)], [0, 0, 1]] (r = 64, h = 200 scale), cast to int32."""
    i = int(hm.reshape(-1).argmax()) + 1
    p = np.array([(i - 1) % 64 + 1, np.floor((i - 1) / 64) + 1], np.float64)
    px, py = int(p[0]) - 1, int(p[1]) - 1
    if 0 < px < 63 and 0 < py < 63:
        p += 0.25 * np.sign([hm[py, px + 1] - hm[py, px - 1], hm[py + 1, px] - hm[py - 1, px]])
    p -= 0.5
    h, r = 200.0 * scale, 64.0
    t = np.array([[r / h, 0, r * (-center[0] / h + 0.5)], [0, r / h, r * (-center[1] / h + 0.5)], [0, 0, 1]])
    return (np.linalg.pinv(t) @ np.array([p[0], p[1], 1.0]))[:2].astype(np.int32)


@pytest.mark.parametrize("peak", [(10, 20), (31, 40), (0, 5), (63, 17)])
def test_decode_heatmaps_gives_face_alignments_pixels(peak):
    y, x = peak
    hm = np.zeros((68, 64, 64), np.float32)
    hm[:, y, x] = 1.0
    rng = np.random.default_rng(y * 64 + x)
    for j in range(68):  # neighbours of different heights: each landmark moves its own quarter cell
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            if 0 <= y + dy < 64 and 0 <= x + dx < 64:
                hm[j, y + dy, x + dx] = rng.uniform(0, 0.9)
    center, scale = (251.3, 240.8), 1.87
    pts, peaks = decode_heatmaps(hm, cx=center[0], cy=center[1], side=200.0 * scale)
    want = np.stack([face_alignment_point(hm[j], center, scale) for j in range(68)])
    assert np.array_equal(pts, want.astype(np.float32))
    assert np.allclose(peaks, 1.0)


def test_fan_crop_cuts_as_face_alignment():
    """face-alignment's crop: ul/br = int(inverse transform of crop pixels 1 and 256), image[ul:br] copied
    (zero outside), resized to 256 with cv2 INTER_LINEAR: a bright pixel lands where that rule puts it."""
    from gtalker.face.detectors import fan_crop

    img = np.zeros((300, 320, 3), np.uint8)
    img[140, 180] = 255
    cx, cy, side = 170.4, 150.7, 230.0
    crop = fan_crop(img, cx, cy, side)
    ul = [int(side / 256 + c - side / 2) for c in (cx, cy)]
    br = [int(side + c - side / 2) for c in (cx, cy)]
    manual = np.zeros((br[1] - ul[1], br[0] - ul[0], 3), np.uint8)
    manual[140 - ul[1], 180 - ul[0]] = 255
    assert crop.shape == (256, 256, 3)
    assert np.array_equal(crop, cv2.resize(manual, (256, 256), interpolation=cv2.INTER_LINEAR))
    # near the border: the part outside the image is black
    edge = fan_crop(np.full((100, 100, 3), 200, np.uint8), 10.0, 10.0, 80.0)
    assert edge[0, 0].max() == 0 and edge[-1, -1].min() == 200


def test_fan_backend_with_test_made_weights(tmp_path):
    path = tmp_path / "2DFAN4-cd938726ad.zip"
    torch.jit.script(BrightestSpot()).save(str(path))
    fan = FanLandmarks(path, device="cpu")
    img = np.full((300, 300, 3), 40, np.uint8)
    img[150:154, 170:174] = 255  # the bright spot inside the face box
    box = np.array([100.0, 110.0, 220.0, 230.0])
    pts, score = fan.fit(img, img[..., 0], box)
    assert pts.shape == (68, 2) and 0 < score <= 1
    _, _, side = fan_crop_params(box)
    assert np.abs(pts - [172, 152]).max() <= side / 64 + 1e-3  # within one heatmap pixel


def test_fan_missing_weights_names_file_and_alternative(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(InputError) as err:
        FanLandmarks(tmp_path / "nope" / "2DFAN4-cd938726ad.zip", device="cpu")
    assert "2DFAN4-cd938726ad.zip" in str(err.value) and "landmarks.backend: dlib" in str(err.value)


def test_fan_weights_found_in_torch_hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.jit.script(BrightestSpot()).save(str(cache / "2DFAN4-cd938726ad.zip"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    fan = FanLandmarks(tmp_path / "resources" / "2DFAN4-cd938726ad.zip", device="cpu")
    assert fan.net is not None


def test_cli_writes_contract_arrays(clip, tmp_path):
    folder, truth = clip
    out = tmp_path / "landmarks.npz"
    assert lm.main(["--frames", str(folder), "--out", str(out)]) == 0
    data = np.load(out)
    assert set(data.files) == {"lms", "valid", "interpolated", "score"}
    n = len(truth["mouth_open"])
    assert data["lms"].shape == (n, 68, 2) and data["valid"].dtype == bool and data["score"].dtype == np.float32
    assert lm.main(["--frames", str(tmp_path / "missing"), "--out", str(tmp_path / "x.npz")]) == 1
    assert not (tmp_path / "x.npz").exists()
