"""`python -m gtalker.talker probe` on a tiny synthetic dataset: every critique figure is written."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from gtalker.canonical.model import CanonicalHead
from gtalker.common import read_json
from gtalker.talker.__main__ import main
from gtalker.talker.deform import DeformConfig
from gtalker.talker.model import TalkingHead, save
from talker_synth import write_talking_dataset


def test_probe_cli_writes_the_critique_figures(tmp_path: Path) -> None:
    root = tmp_path / "D"
    write_talking_dataset(root, n_frames=24, n_val=8, size=32, n_gaussians=300)
    torch.manual_seed(0)
    cfg = DeformConfig.from_dict({"mode": "lowrank", "rank": 2, "query": "posenc", "posenc_freqs": 1,
                                  "d_model": 8, "heads": 2, "head_hidden": 8})
    cfg.audio_channels = 4
    model = TalkingHead(CanonicalHead.load(root / "canonical/head.pt"), cfg, train_size=32)
    torch.nn.init.normal_(model.deform.deformer.basis_net.net[2].weight, std=0.1)
    save(model, tmp_path / "model.pt")
    out = tmp_path / "probe.json"
    assert main(["probe", "--model", str(tmp_path / "model.pt"), "--dataset-dir", str(root),
                 "--features", str(root / "audio/features_mel.npy"), "--split", str(root / "split.json"),
                 "--probe-frames", "4", "--jacobian-probes", "2", "--out", str(out)]) == 0
    data = read_json(out)
    assert data["frames"] == [16, 18, 21, 23] and data["mode"] == "lowrank" and data["rank"] == 2
    assert 0 < data["n_mouth_gaussians"] < data["n_gaussians"]
    assert data["flops_per_frame"] > 0 and data["deform_ms_per_frame"] > 0
    assert set(data["jacobian"]) == {"audio", "eye", "view", "null"}
    assert data["jacobian"]["audio"]["mouth"] > 0
    assert set(data["swap"]) == {"eye_view", "audio"} and math.isfinite(data["swap_ratio_mouth"])
    assert set(data["swap_lip_box"]) == {"eye_view", "audio"} and data["swap_lip_box"]["audio"] > 0
    assert math.isfinite(data["swap_ratio_lip_box"])
    assert set(data["attention"]) == {"mouth", "rest"} and data["audio_focus"] > 0


def test_lip_box_change_is_zero_for_identical_conditions_and_not_for_other_audio() -> None:
    from gtalker.splat.gaussians import GaussianModel
    from gtalker.talker.measure import lip_box_change
    from gtalker.talker.model import Conditions

    torch.manual_seed(0)
    g = GaussianModel(200, max_sh_degree=0)
    with torch.no_grad():
        g.means.copy_(torch.randn(200, 3) * 0.05)
        g.log_scales.fill_(-4.0)
    cfg = DeformConfig.from_dict({"mode": "attention", "query": "posenc", "posenc_freqs": 1, "d_model": 8, "heads": 2,
                                  "head_hidden": 8, "attributes": ["sh"]})
    cfg.audio_channels = 4
    model = TalkingHead(CanonicalHead(g, None), cfg).eval()
    for p in model.deform.parameters():
        torch.nn.init.normal_(p, std=0.5)
    view = torch.eye(4).repeat(2, 1, 1)
    view[:, 2, 3] = 0.5
    cond = Conditions(torch.rand(2, 8, 16, 4), torch.zeros(2), view)
    other = Conditions(torch.rand(2, 8, 16, 4), torch.zeros(2), view)
    K = torch.tensor([[40.0, 0, 16], [0, 40, 16], [0, 0, 1]]).repeat(2, 1, 1)
    lips = torch.tensor([[8, 8, 24, 24]] * 2)
    assert lip_box_change(model, cond, cond, K, lips, 32) == 0.0
    assert lip_box_change(model, cond, other, K, lips, 32) > 0.0
