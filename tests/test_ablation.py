"""The ablation set (config 'ablation'): planned jobs, bad names, and the table from its inputs."""

from __future__ import annotations

import json
from pathlib import Path

from gtalker.metrics.__main__ import main as metrics_main


def test_dry_run_plans_probes_and_one_table_only_with_an_ablation_set(tmp_path: Path) -> None:
    from conftest import planned_rules, snakemake

    (tmp_path / "plain").mkdir()
    (tmp_path / "abl").mkdir()
    plain = planned_rules(snakemake(tmp_path / "plain", targets=None, extra=["-n"]))
    assert "probe_talker" not in plain and "ablation_table" not in plain
    config = {"variants": {"base": {}, "low4": {"talker": {"mode": "lowrank", "rank": 4}}},
              "ablation": {"variants": ["base", "low4"], "probe_frames": 3}}
    jobs = planned_rules(snakemake(tmp_path / "abl", config=config, targets=None, extra=["-n"]))
    assert jobs.get("probe_talker") == 2 and jobs.get("ablation_table") == 1, jobs
    assert jobs.get("train_talker") == 2 and jobs.get("train_canonical") == 1
    # the lip-sync control: one set of inputs per dataset, two renderings per variant
    assert jobs.get("control_inputs") == 1 and jobs.get("render_control") == 4 and jobs.get("lipsync_control") == 2


def test_an_ablation_name_without_a_variant_is_named(tmp_path: Path) -> None:
    from conftest import snakemake

    proc = snakemake(tmp_path, config={"ablation": {"variants": ["base", "nope"]}}, targets=None,
                     extra=["-n"], check=False)
    assert proc.returncode != 0 and "ablation.variants" in proc.stdout + proc.stderr and "nope" in proc.stdout + proc.stderr


def test_table_has_one_row_per_variant_with_quality_cost_and_critique_figures(tmp_path: Path) -> None:
    paths = {}
    for name, psnr, ms, flops in (("base", 30.0, 120.0, 1.9e9), ("low4", 29.6, 7.5, 9.1e6)):
        d = tmp_path / name
        d.mkdir()
        (d / "metrics.json").write_text(json.dumps({"psnr_face": psnr, "ssim_face": 0.9, "lmd": 2.5,
                                                    "mouth_open_r": 0.6, "train_seconds": 600, "n_gaussians": 18000}))
        probe = {"deform_ms_per_frame": ms, "flops_per_frame": flops, "swap_ratio_mouth": 0.2,
                 "jacobian": {"audio": {"mouth": 0.5, "rest": 0.1}, "eye": {"mouth": 0.01, "rest": 0.2}},
                 "attention": {"mouth": {"entropy_rel": 0.5}}, "audio_focus": 2.0}
        (d / "probe.json").write_text(json.dumps(probe))
        control = {"cases": {"other": {"heard_mouth_r": 0.7 if name == "base" else None}},
                   "silence_motion_share": 0.25}
        (d / "lipsync_control.json").write_text(json.dumps(control))
        paths[name] = d
    tsv, md = tmp_path / "ablation.tsv", tmp_path / "ablation.md"
    assert metrics_main(["ablation", "--dataset", "demo", "--variants", "base", "low4",
                         "--metrics", str(paths["base"] / "metrics.json"), str(paths["low4"] / "metrics.json"),
                         "--probes", str(paths["base"] / "probe.json"), str(paths["low4"] / "probe.json"),
                         "--controls", *(str(paths[v] / "lipsync_control.json") for v in ("base", "low4")),
                         "--variants-json", json.dumps({"low4": {"talker": {"mode": "lowrank", "rank": 4}}}),
                         "--tsv", str(tsv), "--md", str(md)]) == 0
    lines = [line.split("\t") for line in tsv.read_text().splitlines()]
    header = lines[0]
    rows = {line[0]: dict(zip(header, line)) for line in lines[1:]}
    assert list(rows) == ["base", "low4"]
    assert rows["low4"]["changes"] == "talker.mode=lowrank, talker.rank=4"
    assert rows["base"]["psnr_face"] == "30.00" and rows["low4"]["deform_ms"] == "7.50"
    assert rows["base"]["mflop_frame"] == "1900.0" and rows["low4"]["mflop_frame"] == "9.1"
    assert rows["base"]["train_min"] == "10.0" and rows["base"]["jac_eye_mouth"] == "0.0100"
    assert rows["base"]["jac_view_mouth"] == "NA" and rows["base"]["entropy_rest"] == "NA"
    assert rows["base"]["other_heard_r"] == "0.700" and rows["low4"]["other_heard_r"] == "NA"
    assert rows["low4"]["silence_motion"] == "0.250"
    assert "| low4 |" in md.read_text() and "swap_ratio_mouth" in md.read_text()


def test_variants_with_equal_canonical_settings_share_one_canonical_job(tmp_path: Path) -> None:
    from conftest import planned_rules, snakemake

    config = {"variants": {"base": {}, "low4": {"talker": {"mode": "lowrank", "rank": 4}},
                           "no_null": {"talker": {"tokens": ["audio", "eye", "view"]}},
                           "plain": {"canonical": {"triplane": False}, "talker": {"query": "posenc"}}}}
    jobs = planned_rules(snakemake(tmp_path, config=config, targets=None, extra=["-n"]))
    assert jobs.get("train_canonical") == 2 and jobs.get("train_talker") == 4, jobs
