"""The builtin face model and the common face-model format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

from gtalker.common import InputError
from gtalker.fit import facemodel
from gtalker.fit.builtin import MIRROR_PAIRS, build_builtin_model, template_landmarks_mm
from gtalker.fit.facemodel import FaceModel, load, save

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "resources/face_models/builtin.npz"


@pytest.fixture(scope="module")
def model() -> FaceModel:
    return build_builtin_model()


def _surface(model: FaceModel) -> np.ndarray:
    return model.mean[np.unique(model.triangles)]


def test_shipped_file_is_what_the_code_builds(model: FaceModel) -> None:
    shipped = load(SHIPPED)
    assert shipped.name == "builtin"
    np.testing.assert_allclose(shipped.mean, model.mean, atol=1e-6)
    np.testing.assert_allclose(shipped.id_basis, model.id_basis, atol=1e-6)
    np.testing.assert_allclose(shipped.exp_basis, model.exp_basis, atol=1e-6)
    np.testing.assert_array_equal(shipped.lmk_idx, model.lmk_idx)
    np.testing.assert_array_equal(shipped.triangles, model.triangles)
    assert shipped.exp_names == model.exp_names and shipped.id_names == model.id_names
    assert SHIPPED.stat().st_size < 2_000_000


def test_surface_is_a_closed_outward_head_of_5k_vertices(model: FaceModel) -> None:
    surf = _surface(model)
    assert len(surf) >= 5000
    t = model.triangles
    edges = np.sort(np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).all()  # closed 2-manifold
    a, b, c = (model.mean[t[:, k]] for k in range(3))
    volume = np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6
    assert 2.5e-3 < volume < 5.5e-3  # litres of an adult head, positive = outward normals
    size = surf.max(0) - surf.min(0)
    assert 0.14 < size[0] < 0.19 and 0.20 < size[1] < 0.26 and 0.17 < size[2] < 0.23


def test_landmarks_are_the_template_and_lie_on_the_surface(model: FaceModel) -> None:
    lm = model.mean[model.lmk_idx]
    tmpl = template_landmarks_mm() * 1e-3
    np.testing.assert_allclose(lm - lm.mean(0), tmpl - tmpl.mean(0), atol=1e-9)
    dist, _ = cKDTree(_surface(model)).query(lm)
    assert dist.max() < 0.005
    # Left-right symmetric: mirrored pairs have opposite x and equal y, z.
    for left, right in MIRROR_PAIRS:
        np.testing.assert_allclose(lm[left] * [-1, 1, 1], lm[right], atol=1e-9)
    # Anatomical order: nose tip in front, eyes above the mouth, chin lowest.
    assert np.argmax(lm[:, 2]) == 30
    assert lm[36:48, 1].min() > lm[48:68, 1].max()
    assert np.argmin(lm[:, 1]) == 8


def _with(model: FaceModel, name: str, value: float = 1.0) -> np.ndarray:
    e = np.zeros(model.n_expression)
    e[model.exp_names.index(name)] = value
    return model.shape(None, e)[model.lmk_idx]


def test_expression_modes_do_what_they_say(model: FaceModel) -> None:
    neutral = model.mean[model.lmk_idx]
    jaw = _with(model, "jaw_open")
    assert jaw[57, 1] - neutral[57, 1] < -0.01          # lower lip drops > 1 cm
    assert jaw[8, 1] - neutral[8, 1] < -0.01            # chin drops
    assert np.abs(jaw[17:48] - neutral[17:48]).max() < 1e-9  # brows, nose, eyes stay
    assert abs(jaw[51, 1] - neutral[51, 1]) < 1e-3      # upper lip stays
    assert jaw[62, 1] - jaw[66, 1] > 0.015               # the mouth opens
    wide = _with(model, "mouth_wide")
    assert np.linalg.norm(wide[54] - wide[48]) > np.linalg.norm(neutral[54] - neutral[48]) + 0.01
    blink = _with(model, "blink_left")
    left_open = np.abs(neutral[[43, 44], 1] - neutral[[47, 46], 1]).mean()
    assert np.abs(blink[[43, 44], 1] - blink[[47, 46], 1]).mean() < 0.1 * left_open
    np.testing.assert_allclose(blink[36:42], neutral[36:42])  # the other eye stays open
    brow = _with(model, "brow_up_right")
    assert (brow[17:22, 1] - neutral[17:22, 1]).min() > 0.004
    assert np.abs(brow[22:27] - neutral[22:27]).max() < 0.001


def test_identity_modes_are_smooth_and_local_modes_move_one_landmark(model: FaceModel) -> None:
    names = model.id_names
    k = names.index("lmk30_z")
    moved = model.id_basis[k][model.lmk_idx]
    assert np.count_nonzero(np.abs(moved).sum(1)) == 1 and moved[30, 2] > 0
    assert np.count_nonzero(model.id_basis[k][:model.lmk_idx[0]]) > 5  # the surface follows
    scale = model.id_basis[names.index("scale")]
    assert np.abs(scale).max() < 0.02


def test_save_load_roundtrip_and_errors(model: FaceModel, tmp_path: Path) -> None:
    small = FaceModel(name="tiny", mean=model.mean, id_basis=model.id_basis[:3], exp_basis=model.exp_basis[:2],
                      lmk_idx=model.lmk_idx, triangles=model.triangles, id_names=model.id_names[:3],
                      exp_names=model.exp_names[:2])
    path = tmp_path / "m.npz"
    save(small, path)
    back = load(path)
    assert back.name == "tiny" and back.n_identity == 3 and back.n_expression == 2
    np.testing.assert_allclose(back.mean, small.mean, atol=1e-7)
    with pytest.raises(InputError, match="builtin"):
        load(tmp_path / "absent.npz")
    np.savez(tmp_path / "bad.npz", mean=model.mean)
    with pytest.raises(InputError, match="lacks"):
        load(tmp_path / "bad.npz")
    bad = FaceModel(name="x", mean=model.mean, id_basis=model.id_basis[:1], exp_basis=model.exp_basis[:1],
                    lmk_idx=np.arange(60))
    with pytest.raises(InputError, match="lmk_idx"):
        facemodel.validate(bad)


def test_cli_rebuilds_the_model(tmp_path: Path) -> None:
    from gtalker.fit.__main__ import main

    assert main(["builtin", "--out", str(tmp_path / "b.npz")]) == 0
    np.testing.assert_allclose(load(tmp_path / "b.npz").mean, load(SHIPPED).mean, atol=1e-7)
