"""Export to, and import from, the reference's dataset folder layout (AD-NeRF / ER-NeRF / GaussianTalker).

Reference layout (one folder per video):
    ori_imgs/0.jpg, 0.lms ...   frames and their 68 landmarks (text, one "x y" line per point)
    parsing/0.png ...           colour-coded parsing as those projects write it with OpenCV: in the file's
                                B,G,R order head = (255,0,0), neck = (0,255,0), torso = (0,0,255),
                                background = (255,255,255)
    torso_imgs/0.png ...        RGBA torso + neck
    gt_imgs/0.jpg ...           frame with the background replaced by bc.jpg
    bc.jpg                      static background
    aud.wav                     16 kHz audio
    aud_ds.npy / aud_hu.npy / aud_mel.npy   audio features [N,16,C] (DeepSpeech / HuBERT / log-mel)
    au.csv                      OpenFace-style table; the trainers read its " AU45_r" column
    transforms_train.json, transforms_val.json   (only when the fit stage has produced them)

Cameras: our transforms are camera-to-world in the OpenCV convention (x right, y down, z forward); the
reference's are OpenGL-style (y up, z backward): c2w_gl = c2w_cv @ diag(1, -1, -1, 1) (world unchanged,
in the fit's units). Import does the inverse.

CLI:
    python -m gtalker.refdata export --results results/demo --out results/demo/reference \
        --features results/demo/audio/features_mel.npy --features-backend mel
    python -m gtalker.refdata import --src path/to/reference_folder --out results/mydata [--fps 25]
"""

from __future__ import annotations

import argparse
import csv
import logging
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from gtalker.common import InputError, atomic_path, read_json, reports_input_errors, setup_logging, write_json
from gtalker.face.writer import PNG_FAST, ImageWriter

log = logging.getLogger("gtalker.refdata")

# label -> colour in the file's B, G, R channel order (0 bg, 1 head, 2 neck, 3 torso)
PARSING_BGR = np.array([[255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
FEATURE_NAMES = {"deepspeech": "aud_ds.npy", "hubert": "aud_hu.npy", "mel": "aud_mel.npy"}
GL_FROM_CV = np.diag([1.0, -1.0, -1.0, 1.0])


def labels_to_colour(labels: np.ndarray) -> np.ndarray:
    """4-class label map -> the reference's colour-coded parsing image (B, G, R order)."""
    if labels.max(initial=0) > 3:
        raise InputError("parsing labels above 3 cannot be written in the reference's colour code")
    return PARSING_BGR[labels]


def colour_to_labels(bgr: np.ndarray) -> tuple[np.ndarray, int]:
    """Reference parsing image (B, G, R) -> 4-class labels; also the count of pixels of no known colour
    (they become background)."""
    labels = np.zeros(bgr.shape[:2], np.uint8)
    matched = np.zeros(bgr.shape[:2], bool)
    for label, colour in enumerate(PARSING_BGR):
        hit = np.all(bgr == colour, axis=2)
        labels[hit] = label
        matched |= hit
    return labels, int((~matched).sum())


def convert_transforms(data: dict, to_gl: bool) -> dict:
    """transforms dict with every transform_matrix converted OpenCV -> OpenGL (or back)."""
    out = {k: v for k, v in data.items() if k != "frames"}
    flip = GL_FROM_CV
    frames = []
    for fr in data.get("frames", []):
        m = np.asarray(fr["transform_matrix"], np.float64)
        frames.append({**fr, "transform_matrix": (m @ flip).tolist()})
    out["frames"] = frames
    if to_gl:
        out.pop("camera_convention", None)
    else:
        out["camera_convention"] = "opencv"
    return out


def write_lms(path: Path, pts: np.ndarray) -> None:
    """68 landmarks as text lines 'x y'."""
    np.savetxt(path, np.asarray(pts, np.float64), fmt="%f")


def read_lms(path: Path) -> np.ndarray:
    """Landmarks from a .lms text file."""
    try:
        pts = np.loadtxt(path, dtype=np.float64).reshape(-1, 2)
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a landmarks text file ({err})") from err
    if pts.shape != (68, 2):
        raise InputError(f"{path}: {len(pts)} landmarks, expected 68")
    return pts


def write_openface_au(path: Path, blinks: np.ndarray, fps: float) -> None:
    """OpenFace-style au.csv (1-based frames; AU45_r = 2 x blink, so clip(AU, 0, 2) / 2 = blink)."""
    lines = ["frame, timestamp, confidence, success, AU45_r"]
    lines += [f"{i + 1}, {i / fps:.3f}, 0.98, 1, {2.0 * b:.4f}" for i, b in enumerate(blinks)]
    path.write_text("\n".join(lines) + "\n")


def read_au45(path: Path) -> np.ndarray:
    """AU45_r column of an au.csv (OpenFace style with spaces, or ours)."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise InputError(f"{path}: empty")
    header = [h.strip() for h in rows[0]]
    if "AU45_r" not in header:
        raise InputError(f"{path}: no AU45_r column (columns: {header[:8]})")
    col = header.index("AU45_r")
    return np.array([float(r[col]) for r in rows[1:] if r], np.float64)


def export_reference(results: str, out: str, features: str | None = None, features_backend: str = "mel",
                     with_transforms: bool = True) -> dict:
    """Write the reference layout from this pipeline's outputs under `results` (= results/<dataset>)."""
    from gtalker.face.landmarks import load_track
    from gtalker.io.frames import frame_path, frame_paths, read_image

    root = Path(results)
    meta = read_json(root / "ingest" / "frames.json")
    fps = float(meta.get("fps", 25))
    frames = frame_paths(root / "ingest" / "frames")
    track = load_track(str(root / "face" / "landmarks.npz"))
    n = len(frames)
    if len(track.lms) != n:
        raise InputError(f"{root}/face/landmarks.npz has {len(track.lms)} frames, the frame folder {n}")
    blinks = np.load(root / "face" / "blinks.npy")
    summary = {"frames": n, "features": None, "transforms": False}
    with atomic_path(out, is_dir=True) as tmp, ImageWriter() as writer:
        for sub in ("ori_imgs", "parsing", "torso_imgs", "gt_imgs"):
            (tmp / sub).mkdir()
        for p in tqdm(frames, desc="export", file=sys.stderr, mininterval=2.0):
            i = int(p.stem)
            shutil.copyfile(p, tmp / "ori_imgs" / f"{i}.jpg")
            write_lms(tmp / "ori_imgs" / f"{i}.lms", track.lms[i])
            labels = read_image(frame_path(root / "face" / "parsing", i, ".png"), cv2.IMREAD_GRAYSCALE)
            writer.put(tmp / "parsing" / f"{i}.png", labels_to_colour(labels), bgr=True)
            shutil.copyfile(frame_path(root / "face" / "torso", i, ".png"), tmp / "torso_imgs" / f"{i}.png")
            shutil.copyfile(frame_path(root / "face" / "gt", i, ".jpg"), tmp / "gt_imgs" / f"{i}.jpg")
        shutil.copyfile(root / "face" / "bc.jpg", tmp / "bc.jpg")
        if (root / "ingest" / "audio.wav").exists():
            shutil.copyfile(root / "ingest" / "audio.wav", tmp / "aud.wav")
        write_openface_au(tmp / "au.csv", blinks, fps)
        if features:
            feats = np.load(features)
            if len(feats) != n:
                raise InputError(f"{features}: {len(feats)} frames of features, {n} video frames")
            name = FEATURE_NAMES.get(features_backend, f"aud_{features_backend}.npy")
            np.save(tmp / name, feats.astype(np.float32))
            summary["features"] = name
        fit = root / "fit"
        if with_transforms and (fit / "transforms_train.json").exists():
            for split in ("train", "val"):
                src = fit / f"transforms_{split}.json"
                if src.exists():
                    data = read_json(src)
                    if data.get("camera_convention", "opencv") == "opencv":
                        data = convert_transforms(data, to_gl=True)
                    write_json(tmp / f"transforms_{split}.json", data)
            summary["transforms"] = True
        else:
            log.info("no fit outputs (%s/transforms_*.json): the export has no transforms_*.json yet", fit)
    return summary


def import_reference(src: str, out: str, fps: float = 25.0, train_fraction: float = 10 / 11) -> dict:
    """Build this pipeline's ingest/, face/, audio/, fit/ files and split.json under `out` from a
    reference-layout folder."""
    from gtalker.face.blinks import write_au_csv
    from gtalker.face.landmarks import Track, save_track
    from gtalker.face.lips import lip_boxes
    from gtalker.face.split import split_frames
    from gtalker.face.torso import HEAD, composite, training_target
    from gtalker.io.audio import load_audio, write_wav
    from gtalker.io.frames import frame_path, read_image, write_image

    ref = Path(src)
    ori = ref / "ori_imgs"
    if not ori.is_dir():
        raise InputError(f"{ref}: no ori_imgs/ folder; not a reference-layout dataset")
    ids = sorted(int(p.stem) for p in ori.glob("*.jpg") if p.stem.isdigit())
    if not ids or ids != list(range(len(ids))):
        raise InputError(f"{ori}: frames must be numbered 0.jpg .. N-1.jpg without gaps")
    n = len(ids)
    root = Path(out)
    first = read_image(ori / "0.jpg")
    h, w = first.shape[:2]
    if h != w:
        raise InputError(f"{ori}/0.jpg: {w}x{h}; this pipeline expects square frames")
    bc_path = ref / "bc.jpg"
    bc = read_image(bc_path) if bc_path.exists() else None
    lms = np.zeros((n, 68, 2), np.float32)
    unknown_colours = 0
    dirs = {k: root / p for k, p in {"frames": "ingest/frames", "parsing": "face/parsing", "torso": "face/torso",
                                     "gt": "face/gt", "torso_bg": "face/torso_bg"}.items()}
    has_parsing = (ref / "parsing").is_dir()
    has_torso = (ref / "torso_imgs").is_dir()
    with atomic_path(dirs["frames"], is_dir=True) as t_frames, \
            atomic_path(dirs["parsing"], is_dir=True) as t_parsing, \
            atomic_path(dirs["torso"], is_dir=True) as t_torso, \
            atomic_path(dirs["gt"], is_dir=True) as t_gt, \
            atomic_path(dirs["torso_bg"], is_dir=True) as t_tbg:
        for i in tqdm(range(n), desc="import", file=sys.stderr, mininterval=2.0):
            img = read_image(ori / f"{i}.jpg")
            shutil.copyfile(ori / f"{i}.jpg", frame_path(t_frames, i, ".jpg"))
            lms[i] = read_lms(ori / f"{i}.lms")
            if not has_parsing:
                continue
            labels, bad = colour_to_labels(cv2.imread(str(ref / "parsing" / f"{i}.png"), cv2.IMREAD_COLOR))
            unknown_colours += bad
            cv2.imwrite(str(frame_path(t_parsing, i, ".png")), labels, PNG_FAST)
            if has_torso and bc is not None:
                rgba = read_image(ref / "torso_imgs" / f"{i}.png", cv2.IMREAD_UNCHANGED)
                if rgba.ndim != 3 or rgba.shape[2] != 4:
                    raise InputError(f"{ref}/torso_imgs/{i}.png: not an RGBA image")
                shutil.copyfile(ref / "torso_imgs" / f"{i}.png", frame_path(t_torso, i, ".png"))
                tb = composite(rgba, bc)
                write_image(frame_path(t_tbg, i, ".jpg"), tb)
                gt = training_target(img, labels, tb)
                gt_src = ref / "gt_imgs" / f"{i}.jpg"
                if gt_src.exists():  # keep the reference's own target where it has one
                    gt = np.where((labels == HEAD)[..., None], img, read_image(gt_src))
                write_image(frame_path(t_gt, i, ".jpg"), gt)
    if unknown_colours:
        log.warning("%d parsing pixels had no reference colour; they were set to background", unknown_colours)
    write_json(root / "ingest" / "frames.json", {"n_frames": n, "fps": fps, "size": h, "source": str(ref)})
    save_track(str(root / "face" / "landmarks.npz"),
               Track(lms=lms, valid=np.ones(n, bool), interpolated=np.zeros(n, bool), score=np.ones(n, np.float32)))
    with atomic_path(root / "face" / "lips.npy") as tmp:
        np.save(tmp, lip_boxes(lms, h, w))
    if bc is not None:
        with atomic_path(root / "face" / "bc.jpg") as tmp:
            write_image(tmp, bc)
    summary = {"frames": n, "parsing": has_parsing, "torso": has_torso and bc is not None}
    if (ref / "au.csv").exists():
        au = read_au45(ref / "au.csv")
        if len(au) < n:
            raise InputError(f"{ref}/au.csv: {len(au)} rows for {n} frames")
        blinks = (np.clip(au[:n], 0, 2) / 2).astype(np.float32)
        with atomic_path(root / "face" / "blinks.npy") as tmp:
            np.save(tmp, blinks)
        write_au_csv(str(root / "face" / "au.csv"), blinks)
    if (ref / "aud.wav").exists():
        samples = load_audio(ref / "aud.wav")
        expected = int(round(n * 16000 / fps))
        samples = np.pad(samples, (0, max(0, expected - len(samples))))[:expected]
        write_wav(root / "ingest" / "audio.wav", samples)
    for backend, name in FEATURE_NAMES.items():
        if (ref / name).exists():
            feats = np.load(ref / name)
            with atomic_path(root / "audio" / f"features_{backend}.npy") as tmp:
                np.save(tmp, feats.astype(np.float32))
    split = None
    for part in ("train", "val"):
        path = ref / f"transforms_{part}.json"
        if path.exists():
            data = read_json(path)
            write_json(root / "fit" / f"transforms_{part}.json", convert_transforms(data, to_gl=False))
            split = split or {}
            split[part] = [int(fr["img_id"]) for fr in data.get("frames", [])]
    if split is None or set(split) != {"train", "val"}:
        split = split_frames(n, train_fraction)
    write_json(root / "split.json", split)
    summary["split"] = {k: len(v) for k, v in split.items()}
    return summary


@reports_input_errors("gtalker.refdata")
def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="results/<dataset> -> reference layout")
    e.add_argument("--results", required=True, help="results/<dataset>")
    e.add_argument("--out", required=True)
    e.add_argument("--features", default=None, help="audio features .npy to include")
    e.add_argument("--features-backend", default="mel", help="mel | deepspeech | hubert (names the file)")
    e.add_argument("--no-transforms", action="store_true")
    i = sub.add_parser("import", help="reference layout -> results/<dataset>")
    i.add_argument("--src", required=True)
    i.add_argument("--out", required=True, help="results/<dataset>")
    i.add_argument("--fps", type=float, default=25.0)
    i.add_argument("--train-fraction", type=float, default=10 / 11)
    args = ap.parse_args(argv)
    setup_logging("gtalker.refdata")
    if args.cmd == "export":
        summary = export_reference(args.results, args.out, args.features, args.features_backend,
                                   not args.no_transforms)
    else:
        summary = import_reference(args.src, args.out, args.fps, args.train_fraction)
    log.info("%s: %s", args.cmd, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
