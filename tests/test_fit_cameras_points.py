"""Cameras (transforms_*.json) and initial point clouds from a track."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gtalker.common import InputError
from gtalker.fit.cameras import camera_to_world, read_split, transforms, world_to_camera, write_transforms
from gtalker.fit.facemodel import FaceModel, load
from gtalker.fit.points import colour_points, make_points, read_ply, write_ply
from gtalker.fit.rotation import R_from_euler
from gtalker.fit.synthetic import project
from gtalker.fit.tracker import HeadFit
from gtalker.io.frames import write_image

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model() -> FaceModel:
    return load(REPO / "resources/face_models/builtin.npz")


def _track(model: FaceModel, n: int = 6, size: int = 128) -> HeadFit:
    rng = np.random.default_rng(0)
    euler = np.deg2rad(rng.uniform(-10, 10, (n, 3)))
    t = np.column_stack([rng.uniform(-0.01, 0.01, (n, 2)), rng.uniform(0.55, 0.65, n)])
    return HeadFit(focal=280.0, cx=(size - 1) / 2, cy=(size - 1) / 2, size=size, R=R_from_euler(euler), t=t,
                 expression=np.zeros((n, model.n_expression)), identity=np.zeros(model.n_identity),
                 reproj_err=np.ones(n), used=np.ones(n, bool), model="builtin")


def test_camera_to_world_inverts_world_to_camera(model: FaceModel) -> None:
    track = _track(model)
    c2w, w2c = camera_to_world(track.R, track.t), world_to_camera(track.R, track.t)
    np.testing.assert_allclose(c2w @ w2c, np.tile(np.eye(4), (len(c2w), 1, 1)), atol=1e-12)
    # The camera centre in the world (head frame) is in front of the face (+z), at the camera distance.
    centres = c2w[:, :3, 3]
    assert (centres[:, 2] > 0.4).all()
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), np.linalg.norm(track.t, axis=1))


def test_transforms_content_reprojects_the_landmarks(model: FaceModel, tmp_path: Path) -> None:
    track = _track(model)
    split = {"train": [0, 1, 2, 3], "val": [4, 5]}
    write_transforms(track, split, tmp_path / "train.json", tmp_path / "val.json")
    data = json.loads((tmp_path / "train.json").read_text())
    assert data["camera_convention"] == "opencv" and data["w"] == data["h"] == 128
    assert data["focal_len"] == 280.0 and data["cx"] == data["cy"] == 63.5
    assert [f["img_id"] for f in data["frames"]] == [0, 1, 2, 3]
    assert [f["aud_id"] for f in data["frames"]] == [0, 1, 2, 3]
    val = json.loads((tmp_path / "val.json").read_text())
    assert [f["img_id"] for f in val["frames"]] == [4, 5]
    # A renderer using the file alone puts the model landmarks where the track does.
    lm = model.mean[model.lmk_idx]
    expected = project(lm, track.R, track.t, track.focal, track.size)
    for k, frame in enumerate(data["frames"]):
        w2c = np.linalg.inv(np.array(frame["transform_matrix"]))
        cam = lm @ w2c[:3, :3].T + w2c[:3, 3]
        uv = data["focal_len"] * cam[:, :2] / cam[:, 2:3] + [data["cx"], data["cy"]]
        np.testing.assert_allclose(uv, expected[k], atol=1e-6)
    assert len(transforms(track, [])["frames"]) == 0


def test_split_checks(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(json.dumps({"train": [0, 1], "val": [9]}))
    with pytest.raises(InputError, match="outside"):
        read_split(tmp_path / "s.json", 5)
    (tmp_path / "s.json").write_text(json.dumps({"train": [0, 1]}))
    with pytest.raises(InputError, match="'val'"):
        read_split(tmp_path / "s.json", 5)


def test_point_clouds_of_each_kind(model: FaceModel) -> None:
    track = _track(model)
    mesh, normals = make_points(model, track, "mesh", 9000, seed=0)
    assert len(mesh) == 9000 and normals is not None
    surface = model.mean[np.unique(model.triangles)]
    lo, hi = surface.min(0) - 1e-6, surface.max(0) + 1e-6
    assert ((mesh >= lo) & (mesh <= hi)).all()
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)
    # Outward normals: they point away from the head's centre.
    assert (np.einsum("ij,ij->i", normals, mesh - surface.mean(0)) > 0).mean() > 0.95
    again, _ = make_points(model, track, "mesh", 9000, seed=0)
    np.testing.assert_array_equal(mesh, again)  # deterministic for a seed
    rand, none = make_points(model, track, "random", 3000, seed=1)
    assert none is None and len(rand) == 3000 and ((rand >= lo) & (rand <= hi)).all()
    assert rand.std(0).min() > 0.03  # spread over the box, not clustered on the surface
    lms, _ = make_points(model, track, "landmarks", 9000)
    np.testing.assert_allclose(lms, model.mean[model.lmk_idx])
    with pytest.raises(InputError, match="choose one of"):
        make_points(model, track, "sphere", 10)


def test_colours_come_from_the_frames(model: FaceModel, tmp_path: Path) -> None:
    track = _track(model, n=4, size=128)
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(4):
        img = np.zeros((128, 128, 3), np.uint8)
        img[:, :64] = (200, 30, 30)   # left half red
        img[:, 64:] = (30, 30, 200)   # right half blue
        write_image(frames / f"{i:06d}.jpg", img, jpeg_quality=100)
    track.R[:] = R_from_euler(np.zeros((4, 3)))
    track.t[:] = [0.0, 0.0, 0.6]
    pts = np.array([[-0.03, 0.0, 0.1], [0.03, 0.0, 0.1], [0.0, 0.0, -0.3]])
    normals = np.array([[0, 0, 1.0], [0, 0, 1.0], [0, 0, -1.0]])  # the last faces away: never seen
    cols = colour_points(pts, normals, track, frames, [0, 1, 2, 3])
    assert cols[0, 0] > 150 and cols[0, 2] < 80      # image left = subject's right (x < 0): red
    assert cols[1, 2] > 150 and cols[1, 0] < 80      # blue
    assert cols.dtype == np.uint8 and cols.shape == (3, 3)
    with pytest.raises(InputError):
        colour_points(pts, None, track, frames, [])


def test_ply_roundtrip(tmp_path: Path) -> None:
    pts = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    cols = np.random.default_rng(1).integers(0, 256, (50, 3)).astype(np.uint8)
    write_ply(tmp_path / "p.ply", pts, cols)
    header = (tmp_path / "p.ply").read_bytes()[:200].decode("ascii", "replace")
    assert "element vertex 50" in header and "property uchar red" in header
    back_p, back_c = read_ply(tmp_path / "p.ply")
    np.testing.assert_array_equal(back_p, pts)
    np.testing.assert_array_equal(back_c, cols)
    with pytest.raises(InputError):
        read_ply(tmp_path / "none.ply")
