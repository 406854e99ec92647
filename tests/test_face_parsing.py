"""Face parsing: the heuristic backend against the demo's ground truth, BiSeNet on test-made weights."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from face_synth import make_clip
from gtalker.common import InputError
from gtalker.demo import truth_head_mask
from gtalker.face import bisenet, parsing
from gtalker.face.heuristic import HeuristicConfig, HeuristicParser, parse_stream
from gtalker.face.landmarks import detect_video, save_landmark_track
from gtalker.io.frames import read_frame


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("parse")
    truth = make_clip(root / "frames", n=24, size=256)
    track = detect_video(str(root / "frames"))
    save_landmark_track(str(root / "landmarks.npz"), track)
    return root / "frames", root / "landmarks.npz", truth


def test_heuristic_head_matches_ground_truth(clip):
    frames, landmarks, truth = clip
    lms = np.load(landmarks)["lms"]
    ious = []
    for i, labels in enumerate(parse_stream(lambda k: read_frame(frames, k), lms, HeuristicConfig(subset=12))):
        assert labels.dtype == np.uint8 and labels.shape == (256, 256) and labels.max() <= 3
        head, gt = labels == 1, truth_head_mask(truth, i)
        ious.append((head & gt).sum() / (head | gt).sum())
        # the neck and torso are under the head, never above the brows
        brow_y = lms[i, 17:27, 1].mean()
        assert not ((labels >= 2) & (np.arange(256)[:, None] < brow_y)).any()
        assert (labels == 2).any() and (labels == 3).any()
    assert np.mean(ious) > 0.86, f"mean head IoU {np.mean(ious):.3f}"
    assert min(ious) > 0.8


def test_heuristic_without_background_cue_is_worse(clip):
    """The static-camera background model is what finds the moving head layer's outline."""
    frames, landmarks, truth = clip
    lms = np.load(landmarks)["lms"]
    parser = HeuristicParser(HeuristicConfig(subset=12))
    idx = list(range(0, 24, 2))
    parser.prepare(lambda: ((read_frame(frames, i), lms[i]) for i in idx))
    with_bg, without = [], []
    for i in (3, 11, 19):
        img = read_frame(frames, i)
        gt = truth_head_mask(truth, i)
        a = parser.parse(img, lms[i]) == 1
        b = parser.head_mask(img, lms[i], None, refit=True)
        with_bg.append((a & gt).sum() / (a | gt).sum())
        without.append((b & gt).sum() / (b | gt).sum())
    assert np.mean(with_bg) > np.mean(without)


def test_parse_video_writes_coarse_and_fine(clip, tmp_path):
    frames, landmarks, _ = clip
    out, fine = tmp_path / "parsing", tmp_path / "parsing_fine"
    stats = parsing.parse_video(str(frames), str(landmarks), str(out), str(fine), "heuristic",
                                HeuristicConfig(subset=8))
    assert stats["frames"] == 24 and stats["frames_without_head"] == 0
    assert len(list(out.glob("*.png"))) == 24 and len(list(fine.glob("*.png"))) == 24
    c = cv2.imread(str(out / "000005.png"), cv2.IMREAD_UNCHANGED)
    f = cv2.imread(str(fine / "000005.png"), cv2.IMREAD_UNCHANGED)
    assert c.ndim == 2 and set(np.unique(c)) <= {0, 1, 2, 3}
    assert np.array_equal(bisenet.TO_COARSE[f], c), "fine classes must group into the coarse ones"
    assert {1, 17, 4, 5, 10, 12, 13} <= set(np.unique(f))  # skin, hair, eyes, nose, lips from landmarks


def test_parse_video_rejects_mismatched_landmarks(clip, tmp_path):
    frames, landmarks, _ = clip
    data = dict(np.load(landmarks))
    short = tmp_path / "short.npz"
    np.savez(short, **{k: v[:5] for k, v in data.items()})
    with pytest.raises(InputError, match="5 frames of landmarks but 24"):
        parsing.parse_video(str(frames), str(short), str(tmp_path / "p"), str(tmp_path / "f"))
    assert not (tmp_path / "p").exists()


# ---- BiSeNet -------------------------------------------------------------------------------------------

def test_bisenet_state_dict_has_the_reference_layout():
    sd = bisenet.BiSeNet(19).state_dict()
    expected = {
        "cp.resnet.conv1.weight": (64, 3, 7, 7),
        "cp.resnet.layer2.0.downsample.0.weight": (128, 64, 1, 1),
        "cp.resnet.layer4.1.bn2.running_var": (512,),
        "cp.arm16.conv.conv.weight": (128, 256, 3, 3),
        "cp.arm32.conv_atten.weight": (128, 128, 1, 1),
        "cp.conv_avg.conv.weight": (128, 512, 1, 1),
        "ffm.convblk.conv.weight": (256, 256, 1, 1),
        "ffm.conv1.weight": (64, 256, 1, 1),
        "conv_out.conv_out.weight": (19, 256, 1, 1),
        "conv_out16.conv.conv.weight": (64, 128, 3, 3),
        "conv_out32.conv_out.weight": (19, 64, 1, 1),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    n_params = sum(v.numel() for k, v in sd.items() if "running" not in k and "num_batches" not in k)
    assert 13_000_000 < n_params < 13_500_000  # ~13.3 M parameters, as the 53 MB checkpoint holds


def forced_class_state(label: int) -> dict:
    """A state dict whose network answers `label` everywhere: the main head's features are constant
    (BN weight 0, bias 1) and the classifier favours one class."""
    net = bisenet.BiSeNet(19)
    sd = net.state_dict()
    sd["conv_out.conv.bn.weight"].zero_()
    sd["conv_out.conv.bn.bias"].fill_(1.0)
    w = torch.zeros_like(sd["conv_out.conv_out.weight"])
    w[label] = 1.0
    sd["conv_out.conv_out.weight"] = w
    return sd


def test_bisenet_backend_on_test_made_weights(clip, tmp_path):
    frames, landmarks, _ = clip
    weights = tmp_path / "79999_iter.pth"
    torch.save(forced_class_state(17), weights)
    out, fine = tmp_path / "parsing", tmp_path / "fine"
    stats = parsing.parse_video(str(frames), str(landmarks), str(out), str(fine), "bisenet",
                                weights_path=str(weights), size=128, batch=5, device="cpu")
    assert stats["frames"] == 24
    f = cv2.imread(str(fine / "000023.png"), cv2.IMREAD_UNCHANGED)
    c = cv2.imread(str(out / "000023.png"), cv2.IMREAD_UNCHANGED)
    assert f.shape == (256, 256) and (f == 17).all() and (c == 1).all()  # hair -> head


def test_bisenet_class_grouping():
    names = bisenet.CLASS_NAMES
    groups = {name: int(bisenet.TO_COARSE[i]) for i, name in enumerate(names)}
    assert groups["background"] == 0 and groups["cloth"] == 3
    assert groups["neck"] == groups["neck_l"] == 2
    assert all(groups[n] == 1 for n in ("skin", "l_eye", "nose", "u_lip", "hair", "hat", "l_ear", "eye_g"))


def test_bisenet_random_weights_run_at_any_size():
    torch.manual_seed(0)
    net = bisenet.BiSeNet(19).eval()
    frames = [np.random.default_rng(i).integers(0, 255, (96, 96, 3), dtype=np.uint8) for i in range(2)]
    labels = bisenet.parse_batch(net, frames, 64, torch.device("cpu"))
    assert len(labels) == 2 and labels[0].shape == (96, 96) and labels[0].max() < 19


def test_bisenet_missing_or_wrong_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(InputError) as err:
        bisenet.load_bisenet(tmp_path / "resources" / "79999_iter.pth", torch.device("cpu"))
    msg = str(err.value)
    assert "79999_iter.pth" in msg and "parsing.backend: heuristic" in msg and "sha256" in msg
    wrong = tmp_path / "wrong.pth"
    torch.save(bisenet.BiSeNet(10).state_dict(), wrong)
    with pytest.raises(InputError, match="not a 19-class"):
        bisenet.load_bisenet(wrong, torch.device("cpu"))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read"):
        bisenet.load_bisenet(garbage, torch.device("cpu"))


def test_heuristic_survives_exposure_flicker(clip):
    """Auto-exposure: every other frame 25 levels brighter; the global shift is removed before the
    background comparison, so the head masks stay as good."""
    frames, landmarks, truth = clip
    lms = np.load(landmarks)["lms"]

    def read(k: int, shift: int) -> np.ndarray:
        img = read_frame(frames, k).astype(np.int16) + (shift if k % 2 else 0)
        return np.clip(img, 0, 255).astype(np.uint8)

    scores = {}
    for shift in (0, 25):
        ious = []
        for i, labels in enumerate(parse_stream(lambda k: read(k, shift), lms, HeuristicConfig(subset=12))):
            head, gt = labels == 1, truth_head_mask(truth, i)
            ious.append((head & gt).sum() / (head | gt).sum())
        scores[shift] = np.mean(ious)
    assert scores[25] > scores[0] - 0.02, scores
