"""The exported reference folder read the way the published trainers read it, and a reference folder as a
dataset source.

The readers below follow GaussianTalker (scene/talking_dataset_readers.py, readCamerasFromTracksTransforms
and readTalkingPortraitDatasetInfo; render.py) and ER-NeRF (nerf_triplane/provider.py and utils.get_rays)
step by step as published, written here from these facts (not their code):
- GaussianTalker: aud_ds.npy [N,16,29] permuted to [N,29,16] (its audio network takes 29 channels); au.csv
  read with pandas, column ' AU45_r'; track_params.pt with 'euler', 'trans' indexed by img_id and 'vertices'
  averaged over dim 0; transforms_train/val.json 'focal_len', 'cx', 'cy', w = 2 cx, h = 2 cy, bc.jpg
  resized to (w, h) only when its size differs (a float size there crashes); per frame ori_imgs/<id>.jpg,
  .lms, parsing/<id>.png, torso_imgs/<id>.png (4 channels). Camera: M = euler2rot(euler) (matrices built
  column by column: Rx columns (1,0,0), (0,c,-s), (0,s,c); Ry columns (c,0,-s), (0,1,0), (s,0,c); Rz columns
  (c,-s,0), (s,c,0), (0,0,1); M = Rx Ry Rz), R = -(diag(-1,1,1) M)^T, T = -trans with T_x negated;
  3DGS world-to-view [R^T | T], FoV = 2 atan(w / 2f), pixel = ((ndc + 1) w - 1) / 2. Render muxes
  aud_train.wav / aud_novel.wav.
- The reference face tracker's projection: q = M p + trans, u = -f q_x / q_z + w/2, v = f q_y / q_z + h/2.
- ER-NeRF: H, W = 'h', 'w' when present, else int(cy) * 2, int(cx) * 2 (its test loader always the
  latter); aud_ds.npy (29) / aud_hu.npy (1024) / aud_eo.npy (44) / aud.npy (32 channels) by ASR model;
  pose -> nerf_matrix_to_ngp (rows (1, 2, 0) of the pose, columns 1 and 2 negated, translation * scale +
  offset); rays: pixel (i + 0.5, j + 0.5), direction ((i + 0.5 - cx) / f, (j + 0.5 - cy) / f, 1) rotated
  by the pose.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gtalker import refdata

ERNERF_CHANNELS = {"aud_ds.npy": 29, "aud_hu.npy": 1024, "aud_eo.npy": 44, "aud.npy": 32}


def their_euler2rot(euler: torch.Tensor) -> torch.Tensor:
    """The tracker's euler2rot: each matrix assembled from its columns, then Rx @ Ry @ Rz."""
    th, ph, ps = (euler[:, k].reshape(-1, 1, 1) for k in range(3))
    one, zero = torch.ones_like(th), torch.zeros_like(th)

    def from_columns(*cols):
        return torch.cat([torch.cat(c, 1) for c in cols], 2)

    rx = from_columns((one, zero, zero), (zero, th.cos(), -th.sin()), (zero, th.sin(), th.cos()))
    ry = from_columns((ph.cos(), zero, -ph.sin()), (zero, one, zero), (ph.sin(), zero, ph.cos()))
    rz = from_columns((ps.cos(), -ps.sin(), zero), (ps.sin(), ps.cos(), zero), (zero, zero, one))
    return rx @ ry @ rz


def gaussiantalker_view(params: dict, img_id: int) -> tuple[np.ndarray, np.ndarray]:
    """GaussianTalker's (R, T) of a frame: R = -(diag(-1,1,1) M)^T, T = -trans with x negated."""
    M = their_euler2rot(params["euler"][img_id].unsqueeze(0))
    flip = torch.tensor([[-1.0, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=M.dtype).view(1, 3, 3)
    R = -np.transpose(torch.matmul(flip, M).squeeze(0).numpy())
    T = -params["trans"][img_id].unsqueeze(0).numpy()
    T[:, 0] = -T[:, 0]
    return R.astype(np.float64), T[0].astype(np.float64)


def gs_project(points: np.ndarray, R: np.ndarray, T: np.ndarray, focal: float, w: float, h: float) -> np.ndarray:
    """3DGS: world-to-view [R^T | T], projection from the FoVs, ndc -> pixel ((ndc + 1) size - 1) / 2."""
    X = points @ R + T  # (R^T p) as rows
    fovx, fovy = 2 * math.atan(w / (2 * focal)), 2 * math.atan(h / (2 * focal))
    ndc_x = X[:, 0] / (X[:, 2] * math.tan(fovx / 2))
    ndc_y = X[:, 1] / (X[:, 2] * math.tan(fovy / 2))
    return np.stack([((ndc_x + 1) * w - 1) / 2, ((ndc_y + 1) * h - 1) / 2], axis=1)


def tracker_project(points: np.ndarray, params: dict, img_id: int, focal: float, w: float, h: float) -> np.ndarray:
    """The tracker's own projection (cx = w/2, cy = h/2, camera looking down -z)."""
    M = their_euler2rot(params["euler"][img_id].unsqueeze(0))[0].double().numpy()
    q = points @ M.T + params["trans"][img_id].double().numpy()
    return np.stack([-focal * q[:, 0] / q[:, 2] + w / 2, focal * q[:, 1] / q[:, 2] + h / 2], axis=1)


def ernerf_project(points: np.ndarray, pose: np.ndarray, focal: float, cx: float, cy: float,
                   scale: float = 4.0, offset=(0.0, 0.0, 0.0)) -> np.ndarray:
    """The pixel (i, j) whose ER-NeRF ray passes through each world point (units of the transforms)."""
    p = np.asarray(pose, np.float64)
    ngp = np.array([[p[1, 0], -p[1, 1], -p[1, 2], p[1, 3] * scale + offset[0]],
                    [p[2, 0], -p[2, 1], -p[2, 2], p[2, 3] * scale + offset[1]],
                    [p[0, 0], -p[0, 1], -p[0, 2], p[0, 3] * scale + offset[2]]])
    world = points[:, [1, 2, 0]] * scale + np.asarray(offset)
    d = (world - ngp[:, 3]) @ ngp[:, :3]  # direction in the camera (rows of R^T (P - o))
    return np.stack([focal * d[:, 0] / d[:, 2] + cx - 0.5, focal * d[:, 1] / d[:, 2] + cy - 0.5], axis=1)


def read_as_gaussiantalker(folder: Path, points_m, lms_check: bool = True) -> dict:
    """Open every file GaussianTalker opens; return per-frame projection errors (px) of `points_m(img_id)`
    (world points in metres) against ours and the .lms."""
    pd = pytest.importorskip("pandas")
    aud = torch.from_numpy(np.load(folder / "aud_ds.npy"))
    assert aud.ndim == 3 and tuple(aud.shape[1:]) == (16, 29)
    aud = aud.float().permute(0, 2, 1)
    eye = pd.read_csv(folder / "au.csv")[" AU45_r"].values
    params = torch.load(folder / "track_params.pt", map_location="cpu")  # as they call it (no options)
    for key in ("euler", "trans", "vertices", "focal", "id", "exp"):
        assert key in params, key
    mesh = torch.mean(params["vertices"], dim=0)
    assert mesh.ndim == 2 and mesh.shape[1] == 3 and len(mesh) > 0 and params["vertices"][0].shape == mesh.shape
    errs = {"gs_vs_lms": [], "tracker_vs_lms": [], "timeline": 0}
    timeline = set()
    for split in ("train", "val"):
        contents = json.loads((folder / f"transforms_{split}.json").read_text())
        w, h = contents["cx"] * 2, contents["cy"] * 2
        bg = cv2.imread(str(folder / "bc.jpg"), cv2.IMREAD_UNCHANGED)
        assert bg.shape[0] == h and bg.shape[1] == w, "GaussianTalker would cv2.resize bc.jpg to a float size"
        for frame in contents["frames"]:
            i = frame["img_id"]
            timeline.add(i)
            assert aud[min(frame["aud_id"], aud.shape[0] - 1)].shape == (29, 16)
            assert len(eye) > i
            img = cv2.imread(str(folder / "ori_imgs" / f"{i}.jpg"), cv2.IMREAD_UNCHANGED)
            seg = cv2.imread(str(folder / "parsing" / f"{i}.png"))
            torso = cv2.imread(str(folder / "torso_imgs" / f"{i}.png"), cv2.IMREAD_UNCHANGED)
            assert img.shape == (h, w, 3) and seg.shape == (h, w, 3) and torso.shape == (h, w, 4)
            lms = np.loadtxt(folder / "ori_imgs" / f"{i}.lms")
            assert lms.shape == (68, 2)
            R, T = gaussiantalker_view(params, i)
            pts = points_m(i) * 10.0  # tracker units
            gs = gs_project(pts, R, T, float(contents["focal_len"]), w, h)
            tr = tracker_project(pts, params, i, float(params["focal"][0]), w, h)
            errs["gs_vs_lms"].append(np.linalg.norm(gs - lms, axis=1).mean())
            errs["tracker_vs_lms"].append(np.linalg.norm(tr - lms, axis=1).mean())
            errs.setdefault("gs", []).append(gs)
            errs.setdefault("tracker", []).append(tr)
    errs["timeline"] = len(timeline)
    for name in ("aud_train.wav", "aud_novel.wav"):
        assert (folder / name).exists(), f"GaussianTalker's render.py muxes {name}"
    return errs


def read_as_ernerf(folder: Path, points_m, asr: str = "aud_ds.npy") -> list[np.ndarray]:
    """Open what ER-NeRF opens; return per-frame pixels of the world points through its rays."""
    pd = pytest.importorskip("pandas")
    out = []
    for split in ("train", "val"):
        t = json.loads((folder / f"transforms_{split}.json").read_text())
        H, W = (int(t["h"]), int(t["w"])) if "h" in t and "w" in t else (int(t["cy"]) * 2, int(t["cx"]) * 2)
        assert (H, W) == (int(t["cy"]) * 2, int(t["cx"]) * 2), "ER-NeRF's test loader takes 2 int(cx)"
        bc = cv2.imread(str(folder / "bc.jpg"), cv2.IMREAD_UNCHANGED)
        assert bc.shape[:2] == (H, W)
        feats = np.load(folder / asr)
        steps = 2 if asr == "aud_hu.npy" else 16  # its HuBERT tool saves the 2 steps of each frame
        assert feats.ndim == 3 and feats.shape[1:] == (steps, ERNERF_CHANNELS[asr])
        pd.read_csv(folder / "au.csv")[" AU45_r"].values  # noqa: B018 (the reader's access)
        for f in t["frames"]:
            torso = cv2.imread(str(folder / "torso_imgs" / f"{f['img_id']}.png"), cv2.IMREAD_UNCHANGED)
            assert torso.shape == (H, W, 4)
            out.append((f["img_id"], ernerf_project(points_m(f["img_id"]), np.array(f["transform_matrix"]),
                                                    float(t["focal_len"]), t["cx"], t["cy"])))
    return out


# --- on a small results folder (tests/test_refdata.py's) ------------------------------------------------

from test_refdata import MODEL, N, head_points, project, results  # noqa: E402,F401


def test_readers_on_a_small_export(results, tmp_path):  # noqa: F811
    out = tmp_path / "ref"
    refdata.export_reference(str(results), str(out), str(results / "audio/features_deepspeech.npy"),
                             "deepspeech", model=str(MODEL))
    pts = head_points()
    got = read_as_gaussiantalker(out, lambda i: pts)
    assert got["timeline"] == N
    ours = np.stack([project(pts, i) for i in range(N)])
    # GaussianTalker's 3DGS camera gives our projection; the tracker's formula (cx = w/2) half a pixel off
    assert np.abs(np.stack(got["gs"]) - ours).max() < 1e-3
    assert np.allclose(np.stack(got["tracker"]) - ours, 0.5, atol=1e-3)
    assert max(got["tracker_vs_lms"]) < 1.0
    for i, px in read_as_ernerf(out, lambda i: pts):
        assert np.abs(px - ours[i]).max() < 1e-3
    params = torch.load(out / "track_params.pt", weights_only=False)
    assert params["euler"].dtype == torch.float32 and params["euler"].shape == (N, 3)
    assert params["focal"].shape == (1,) and params["exp"].shape == (N, 16) and params["id"].shape == (1, 218)


def test_mel_export_says_the_trainers_cannot_read_it(results, tmp_path, caplog):  # noqa: F811
    refdata.export_reference(str(results), str(tmp_path / "ref"), str(results / "audio/features_mel.npy"), "mel")
    assert not (tmp_path / "ref" / "aud_ds.npy").exists()
    assert any("aud_ds.npy" in r.message and "deepspeech" in r.message for r in caplog.records)


def test_tracker_euler_round_trip():
    from gtalker.refcams import from_tracker, to_tracker, tracker_rotation

    rng = np.random.default_rng(3)
    euler = rng.uniform(-0.6, 0.6, (20, 3))
    assert np.allclose(tracker_rotation(euler), their_euler2rot(torch.from_numpy(euler)).numpy())
    R, t = from_tracker(euler, rng.normal(size=(20, 3)))
    e2, t2 = to_tracker(R, t)
    assert np.allclose(e2, euler) and np.allclose(from_tracker(e2, t2)[1], t)


def test_import_names_each_missing_file(results, tmp_path):  # noqa: F811
    out = tmp_path / "ref"
    refdata.export_reference(str(results), str(out), model=str(MODEL))
    (out / "bc.jpg").unlink()
    (out / "parsing" / "3.png").unlink()
    for name in ("transforms_train.json", "track_params.pt"):
        (out / name).unlink()
    missing = "\n".join(refdata.missing_reference_files(out))
    assert "bc.jpg" in missing and "parsing/3.png" in missing and "track_params.pt" in missing
    from gtalker.common import InputError

    with pytest.raises(InputError, match="bc.jpg"):
        refdata.import_reference(str(out), str(tmp_path / "back"))


def test_import_from_track_params_alone(results, tmp_path):  # noqa: F811
    """A folder with track_params.pt and no transforms gives the same cameras."""
    out = tmp_path / "ref"
    refdata.export_reference(str(results), str(out), model=str(MODEL))
    for part in ("train", "val"):
        (out / f"transforms_{part}.json").unlink()
    back = tmp_path / "back"
    summary = refdata.import_reference(str(out), str(back), train_fraction=5 / 6)
    from gtalker.fit.tracker import load_head_fit

    tr = load_head_fit(back / "fit/track.npz")
    from test_refdata import pose

    for i in range(N):
        R, t = pose(i)
        assert np.allclose(tr.R[i], R, atol=1e-6) and np.allclose(tr.t[i], t, atol=1e-6)
    assert summary["reproj_px"] < 0.01  # the triangulated landmarks reproject onto the .lms
    assert summary["points"]["mesh"] > 68  # track_params.pt's vertices


def test_hubert_export_has_ernerfs_layout_and_imports_back(results, tmp_path):  # noqa: F811
    """aud_hu.npy as ER-NeRF's tool writes it ([N, 2, 1024]: steps 2k, 2k+1 of frame k), and back to our
    windows [N, 16, 1024] of the same 50 Hz sequence (exact where the pairs cover it)."""
    from gtalker.audio.windowing import frame_windows

    seq = np.random.default_rng(7).normal(size=(2 * N, 1024)).astype(np.float32)
    feats = frame_windows(seq, N, 25)
    np.save(results / "audio/features_hubert.npy", feats)
    out = tmp_path / "ref"
    refdata.export_reference(str(results), str(out), str(results / "audio/features_hubert.npy"), "hubert",
                             model=str(MODEL))
    hu = np.load(out / "aud_hu.npy")
    assert hu.shape == (N, 2, 1024) and np.array_equal(hu.reshape(-1, 1024), seq)
    read_as_ernerf(out, lambda i: head_points(), asr="aud_hu.npy")
    back = tmp_path / "back"
    refdata.import_reference(str(out), str(back))
    assert np.array_equal(np.load(back / "audio/features_hubert.npy"), feats)
    from gtalker.audio.__main__ import precomputed_features

    assert np.array_equal(precomputed_features(str(out / "aud_hu.npy"), N, 25.0), feats)


def test_workflow_names_each_missing_file_of_a_reference_dataset(results, tmp_path):  # noqa: F811
    """datasets: {x: {reference: folder}}: a complete folder plans the import and none of our preprocessing
    or tracking; an incomplete one is named file by file before any job, and only its own import fails
    (naming the files again) while another dataset still plans."""
    import shutil

    from conftest import planned_rules, snakemake

    out = tmp_path / "ref"
    refdata.export_reference(str(results), str(out), model=str(MODEL))
    work = tmp_path / "work"
    work.mkdir()
    cfg = {"datasets": {"x": {"reference": str(out)}}}
    proc = snakemake(work, cfg, ["results/x/base/canonical/head.pt"], extra=["-n"], check=True)
    rules = planned_rules(proc)
    assert rules.get("import_reference") == 1
    for step in ("probe", "extract_frames", "detect_landmarks", "parse_faces", "fit_face_model", "init_points"):
        assert step not in rules, step
    shutil.copytree(out, tmp_path / "good")
    (out / "au.csv").unlink()
    (out / "torso_imgs" / "2.png").unlink()
    cfg = {"datasets": {"x": {"reference": str(out)}, "y": {"reference": str(tmp_path / "good")},
                        "z": {"reference": str(tmp_path / "nowhere")}}}
    targets = [f"results/{d}/ingest/frames.json" for d in ("x", "y", "z")]
    proc = snakemake(work, cfg, targets, extra=["-n"], check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0 and planned_rules(proc).get("import_reference") == 3, text[-3000:]
    assert "datasets.x.reference" in text and "au.csv" in text and "torso_imgs/2.png" in text
    assert "datasets.z.reference" in text and "nowhere: folder not found" in text
    proc = snakemake(work, cfg, targets, check=False)
    assert proc.returncode != 0 and (work / "results/y/ingest/frames.json").exists()
    assert not (work / "results/x/ingest/frames.json").exists()
    log = (work / "logs/x/reference/import_reference.log").read_text()
    assert "au.csv" in log and "torso_imgs/2.png" in log