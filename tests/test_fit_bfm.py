"""The Basel Face Model 2009 converter, on small synthetic files in the real layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import savemat

from gtalker.common import InputError
from gtalker.fit.bfm import convert_bfm2009, read_exp_basis
from gtalker.fit.facemodel import FaceModel, load
from gtalker.fit.synthetic import make_video, relative_rotation_error_deg
from gtalker.fit.tracker import FitConfig, fit_video

REPO = Path(__file__).resolve().parents[1]
UM = 1e-6  # BFM 2009 stores micrometres


@pytest.fixture(scope="module")
def template() -> FaceModel:
    return load(REPO / "resources/face_models/builtin.npz")


def make_bfm_folder(root: Path, template: FaceModel, n_shape: int = 5, n_exp: int = 3,
                    drop: int = 14) -> dict[str, np.ndarray]:
    """Write 01_MorphableModel.mat, Exp_Pca.bin, std_exp.txt, BFM_exp_idx.mat like the real files.

    The shape model is the builtin template moved and scaled (so that automatic landmarks are exact),
    in micrometres; the expression basis covers all but `drop` vertices.
    """
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    verts = (template.mean * 1.04 + [0.0, 0.02, 0.05]) / UM
    V = len(verts)
    pc, _ = np.linalg.qr(rng.standard_normal((3 * V, n_shape)))
    ev = np.linspace(4e4, 1e4, n_shape)[:, None]          # per-component std, micrometres x sqrt(3V)
    tex = rng.uniform(0, 255, (3 * V, 1))
    savemat(root / "01_MorphableModel.mat", {
        "shapeMU": verts.reshape(-1, 1).astype(np.float32), "shapePC": pc.astype(np.float32),
        "shapeEV": ev.astype(np.float32), "tl": (template.triangles + 1).astype(np.float64),
        "texMU": tex.astype(np.float32), "texPC": np.zeros((3 * V, 2), np.float32),
        "texEV": np.ones((2, 1), np.float32)})
    non_lmk = np.setdiff1d(np.arange(V), template.lmk_idx)
    missing = rng.choice(non_lmk, drop, replace=False)
    keep = np.setdiff1d(np.arange(V), missing)
    exp_pc = rng.standard_normal((n_exp, len(keep), 3)).astype(np.float32) * 0.01
    exp_mu = rng.standard_normal((len(keep), 3)).astype(np.float32)
    with open(root / "Exp_Pca.bin", "wb") as fh:
        fh.write(np.int32(n_exp).tobytes())
        fh.write(exp_mu.astype("<f4").tobytes())
        fh.write(exp_pc.astype("<f4").tobytes())
    std = np.concatenate([np.linspace(3e5, 1e5, n_exp), [7.0, 7.0]])  # longer than E, as std_exp.txt can be
    np.savetxt(root / "std_exp.txt", std)
    savemat(root / "BFM_exp_idx.mat", {"trimIndex": (keep + 1).reshape(-1, 1).astype(np.float64)})
    return {"verts": verts, "pc": pc, "ev": ev, "tex": tex, "keep": keep, "exp_pc": exp_pc, "std": std}


def test_converts_the_layout_into_the_common_format(template: FaceModel, tmp_path: Path) -> None:
    src = make_bfm_folder(tmp_path / "bfm", template)
    model = convert_bfm2009(tmp_path / "bfm", template, n_identity=4, n_expression=2)
    V = len(src["verts"])
    assert model.name == "bfm2009" and model.n_vertices == V
    np.testing.assert_allclose(model.mean, src["verts"] * UM, atol=1e-6)
    assert model.n_identity == 4 and model.n_expression == 2
    expected_id = (src["pc"][:, 1] * src["ev"][1, 0]).reshape(V, 3) * UM
    np.testing.assert_allclose(model.id_basis[1], expected_id, atol=1e-7)
    # Expression components land on their BFM vertices, scaled by std_exp.txt; the others stay still.
    np.testing.assert_allclose(model.exp_basis[1][src["keep"]], src["exp_pc"][1] * src["std"][1] * UM, rtol=1e-5)
    others = np.setdiff1d(np.arange(V), src["keep"])
    assert np.abs(model.exp_basis[:, others]).max() == 0
    np.testing.assert_array_equal(model.triangles, template.triangles)
    np.testing.assert_array_equal(model.colors, np.clip(np.round(src["tex"].reshape(-1, 3)), 0, 255))
    # Automatic landmarks: the template's own landmark vertices are found.
    np.testing.assert_array_equal(model.lmk_idx, template.lmk_idx)


def test_landmark_file_is_used_when_present(template: FaceModel, tmp_path: Path) -> None:
    make_bfm_folder(tmp_path / "bfm", template)
    chosen = np.arange(100, 168)
    np.savetxt(tmp_path / "bfm/landmarks_68.txt", chosen, fmt="%d")
    model = convert_bfm2009(tmp_path / "bfm", template, n_identity=2, n_expression=2)
    np.testing.assert_array_equal(model.lmk_idx, chosen)
    np.savetxt(tmp_path / "bfm/landmarks_68.txt", np.arange(10), fmt="%d")
    with pytest.raises(InputError, match="68"):
        convert_bfm2009(tmp_path / "bfm", template)


def test_missing_files_name_them_and_where_to_get_them(template: FaceModel, tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        convert_bfm2009(tmp_path / "nothing", template)
    msg = str(err.value)
    for text in ("01_MorphableModel.mat", "Exp_Pca.bin", "std_exp.txt", "faces.dmi.unibas.ch",
                 "University of Basel", "fit.model: builtin"):
        assert text in msg
    make_bfm_folder(tmp_path / "bfm", template)
    (tmp_path / "bfm/BFM_exp_idx.mat").unlink()
    with pytest.raises(InputError, match="BFM_exp_idx.mat"):
        convert_bfm2009(tmp_path / "bfm", template)


def test_bad_expression_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "Exp_Pca.bin").write_bytes(np.int32(3).tobytes() + np.zeros(10, "<f4").tobytes())
    np.savetxt(tmp_path / "std.txt", np.ones(3))
    with pytest.raises(InputError, match="does not match"):
        read_exp_basis(tmp_path / "Exp_Pca.bin", tmp_path / "std.txt")


def test_the_tracker_fits_a_converted_model(template: FaceModel, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    make_bfm_folder(tmp_path / "bfm", template)
    model = convert_bfm2009(tmp_path / "bfm", template, n_identity=5, n_expression=3)
    video = make_video(model, n_frames=40, noise_px=0.3, focal=1000.0, seed=0, distance=0.62 + 0.05)
    track = fit_video(model, video.lms, video.valid, video.size, FitConfig(video_modes=0), focal=video.focal)
    assert track.model == "bfm2009" and track.identity.shape == (5,)
    assert relative_rotation_error_deg(track.R, video.R).mean() < 1.0
    assert np.nanmean(track.reproj_err) < 1.0


def test_cli_converts(template: FaceModel, tmp_path: Path) -> None:
    from gtalker.fit.__main__ import main

    make_bfm_folder(tmp_path / "bfm", template)
    out = tmp_path / "bfm2009.npz"
    args = ["convert-bfm", "--bfm-dir", str(tmp_path / "bfm"), "--template", str(REPO / "resources/face_models/builtin.npz"),
            "--n-identity", "3", "--n-expression", "2", "--out", str(out)]
    assert main(args) == 0
    assert load(out).n_identity == 3
    assert main(["convert-bfm", "--bfm-dir", str(tmp_path / "none"), "--template",
                 str(REPO / "resources/face_models/builtin.npz"), "--n-identity", "3", "--n-expression", "2",
                 "--out", str(tmp_path / "x.npz")]) == 1
    assert not (tmp_path / "x.npz").exists()
