"""Canonical head quality per face region on the training views, against the best any static head can do.

    python benchmarks/canonical.py --dataset-dir results/demo --head results/demo/base/canonical/head.pt \\
        [--truth results/_demo/truth.npz] [--resolution 128] [--every 7] [--out benchmarks/canonical.json]

Renders the trained canonical head over each evaluated training view's background at the training
resolution and reports PSNR pooled over the views per region of the parsing head mask
(gtalker.canonical.regions: mask border, mouth box of face/lips.npy, eye boxes from face/landmarks.npz,
hair from face/parsing_fine class 17, the rest of the face; the whole head mask, and the head mask without
the mouth box), and each region's share of the head mask's squared error.

Baseline in the same run (with --truth, the demo's ground truth): the static oracle. Every training frame
is warped back into the demo's reference photo with the true 2D head motion, the per-pixel mean over the
frames (the least-squares best static appearance) is warped forward into each evaluated frame and scored
in the same regions. No static head, whatever its training, beats it in the mouth box: there the demo's
mouth moves with speech, which only the audio-driven deformation stage can follow: the head-mask PSNR of
a head exact everywhere but the mouth box, where it has the oracle's error, is the ceiling of any static
head (`static_ceiling_head_psnr`). With --truth the
parsing head mask is also compared with the demo's true head mask on a few views.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from gtalker.omp import set_default_waiting  # noqa: E402

set_default_waiting()  # as the pipeline's steps wait; before torch loads libgomp

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


from gtalker.canonical.model import CanonicalHead  # noqa: E402
from gtalker.canonical.regions import RegionErrors, head_regions  # noqa: E402
from gtalker.data import FrameDataset, read_split, resize  # noqa: E402
from gtalker.io.frames import frame_path, read_image  # noqa: E402

HAIR_LABEL = 17  # CelebAMask-HQ hair in face/parsing_fine
HEAD_LABEL = 1


def view_regions(root: Path, index: int, item: dict, size: int, src: int,
                 landmarks: np.ndarray | None) -> dict[str, np.ndarray]:
    """Regions of one view at `size` (eyes and hair when their files exist)."""
    hair = None
    fine = frame_path(root / "face" / "parsing_fine", index, ".png")
    if fine.exists():
        labels = read_image(fine, cv2.IMREAD_GRAYSCALE)
        hair = resize(((labels == HAIR_LABEL) * 255).astype(np.uint8), size) > 127
    lms = landmarks[index] * size / src if landmarks is not None else None
    return head_regions(item["head_mask"].numpy(), item["lip_box"].numpy(), lms, hair)


def affine_inverse(A: np.ndarray) -> np.ndarray:
    return np.linalg.inv(np.vstack([A, [0.0, 0.0, 1.0]]))[:2]


def static_oracle(root: Path, frames: list[int], affine: np.ndarray) -> np.ndarray:
    """Per-pixel mean (reference photo coordinates, source size) of the head pixels of `frames`."""
    acc, weight = None, None
    for i in frames:
        gt = read_image(frame_path(root / "face" / "gt", i, ".jpg")).astype(np.float64) / 255.0
        head = read_image(frame_path(root / "face" / "parsing", i, ".png"), cv2.IMREAD_GRAYSCALE) == HEAD_LABEL
        size = gt.shape[1], gt.shape[0]
        back = affine_inverse(affine[i].astype(np.float64))
        img = cv2.warpAffine(gt, back, size, flags=cv2.INTER_LINEAR)
        m = cv2.warpAffine(head.astype(np.float64), back, size, flags=cv2.INTER_LINEAR)[..., None]
        acc = img * m if acc is None else acc + img * m
        weight = m if weight is None else weight + m
    return acc / np.maximum(weight, 1e-6)


def oracle_view(root: Path, index: int, mean: np.ndarray, affine: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(oracle prediction, target) of one frame at the training size: the mean warped into the frame
    inside the parsing head mask, the frame itself elsewhere; both area-resized like the training data."""
    gt = read_image(frame_path(root / "face" / "gt", index, ".jpg")).astype(np.float32)
    head = read_image(frame_path(root / "face" / "parsing", index, ".png"), cv2.IMREAD_GRAYSCALE) == HEAD_LABEL
    fwd = cv2.warpAffine(mean.astype(np.float32) * 255.0, affine[index].astype(np.float64),
                         (gt.shape[1], gt.shape[0]), flags=cv2.INTER_LINEAR)
    pred = np.where(head[..., None], fwd, gt)
    return resize(pred, size) / 255.0, resize(gt, size) / 255.0


def table(name: str, errs: RegionErrors) -> dict[str, dict[str, float]]:
    psnr, share, px = errs.psnr(), errs.share(), errs.pixels()
    print(f"\n{name}: PSNR per region over {errs.views} training views")
    print(f"  {'region':14s} {'px/view':>8s} {'PSNR dB':>8s} {'share of head SE':>17s}")
    for region in psnr:
        print(f"  {region:14s} {px[region]:8.0f} {psnr[region]:8.2f} {share[region]:17.3f}")
    return {r: {"psnr": round(psnr[r], 3), "share": round(share[r], 4), "pixels": round(px[r], 1)} for r in psnr}


def static_ceiling(oracle: RegionErrors) -> float:
    """Head-mask PSNR of a static head that is exact everywhere but the mouth box, where it keeps the
    static oracle's (least-squares best) error: the best any static head can score in the head mask."""
    mouth_share = max(oracle.share()["mouth"], 1e-12)
    return round(oracle.psnr()["head"] - 10.0 * float(np.log10(mouth_share)), 3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset-dir", default="results/demo")
    ap.add_argument("--head", default=None, help="canonical head.pt (default: <dataset-dir>/base/canonical/head.pt)")
    ap.add_argument("--truth", default=None, help="the demo's truth.npz: adds the static-oracle baseline")
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--every", type=int, default=7, help="evaluate every n-th training view")
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--mask-views", type=int, default=8, help="views for the parsing/true head-mask comparison")
    ap.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = ap.parse_args(argv)
    torch.set_num_threads(min(2, os.cpu_count() or 1))

    root = Path(args.dataset_dir)
    head_path = Path(args.head or root / "base" / "canonical" / "head.pt")
    split = read_split(root)
    size = args.resolution
    ds = FrameDataset(str(root), split["train"], size,
                      fields=("image", "background", "head_mask", "K", "viewmat", "lip_box"))
    src = ds.source_size()
    lm_path = root / "face" / "landmarks.npz"
    landmarks = np.load(lm_path)["lms"] if lm_path.exists() else None
    views = list(range(0, len(ds), max(args.every, 1)))
    result: dict = {"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                    "dataset": str(root), "head": str(head_path), "resolution": size, "views": len(views)}

    head = CanonicalHead.load(head_path)
    model_errs = RegionErrors()
    view_parts: list[tuple[int, dict[str, np.ndarray]]] = []  # (frame index, regions) per view, reused below
    t0 = time.perf_counter()
    with torch.no_grad():
        attrs = head.activate(head.raw_attributes())
        for v in views:
            item = ds[v]
            out = head.render(item["K"], item["viewmat"], size, size, background=item["background"],
                              backend=args.backend, attrs=attrs)
            regions = view_regions(root, item["index"], item, size, src, landmarks)
            view_parts.append((item["index"], regions))
            model_errs.add(out.color.numpy(), item["image"].numpy(), regions)
    result["model"] = table(f"canonical head {head_path} ({head.gaussians.num} Gaussians)", model_errs)
    result["model_eval_s"] = round(time.perf_counter() - t0, 2)

    if args.truth:
        truth = dict(np.load(args.truth))
        affine = truth["affine"]
        mean = static_oracle(root, split["train"], affine)
        oracle_errs = RegionErrors()
        for index, regions in view_parts:
            pred, target = oracle_view(root, index, mean, affine, size)
            oracle_errs.add(pred, target, regions)
        result["static_oracle"] = table("static oracle (true motion, per-pixel mean of the training frames)",
                                        oracle_errs)
        result["static_ceiling_head_psnr"] = static_ceiling(oracle_errs)
        result["mask_comparison"] = compare_masks(ds, truth, views[:: max(len(views) // max(args.mask_views, 1), 1)],
                                                  size)

    m = result["model"]
    print(f"\nhead mask: {m['head']['psnr']:.2f} dB (bar 30); head mask without the mouth box: "
          f"{m['head_no_mouth']['psnr']:.2f} dB; mouth box holds {m['mouth']['share']:.0%} of the error")
    if "static_oracle" in result:
        o = result["static_oracle"]
        print(f"static oracle: head mask {o['head']['psnr']:.2f} dB, without the mouth box "
              f"{o['head_no_mouth']['psnr']:.2f} dB, mouth box {o['mouth']['psnr']:.2f} dB")
        print(f"ceiling of any static head in the head mask (the oracle's mouth-box error, every other pixel "
              f"exact): {result['static_ceiling_head_psnr']:.2f} dB")
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")
    return 0


def compare_masks(ds: FrameDataset, truth: dict, views: list[int], size: int) -> dict[str, float]:
    """Mean pixel counts per view of the parsing head mask vs the demo's true head mask (at `size`)."""
    from gtalker.demo import truth_head_mask

    counts = []
    for v in views:
        item = ds[v]
        parsing = item["head_mask"].numpy()
        true = resize(truth_head_mask(truth, item["index"]).astype(np.uint8) * 255, size) > 127
        counts.append([parsing.sum(), true.sum(), (parsing & ~true).sum(), (true & ~parsing).sum()])
    c = np.mean(np.array(counts, dtype=np.float64), axis=0)
    out = {"parsing_px": round(c[0], 1), "truth_px": round(c[1], 1), "parsing_only_px": round(c[2], 1),
           "truth_only_px": round(c[3], 1), "views": len(views)}
    print(f"\nhead masks at {size}px over {len(views)} views: parsing {c[0]:.0f} px, true {c[1]:.0f} px, "
          f"parsing only {c[2]:.0f}, true only {c[3]:.0f}")
    return out


if __name__ == "__main__":
    sys.exit(main())
