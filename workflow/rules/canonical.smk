# The canonical (static) Gaussian head, one job per dataset and variant:
# results/{dataset}/{variant}/canonical/head.pt, gaussians.ply (3DGS layout) and train_log.json.
# Every canonical setting of the variant is passed as a flag (nested keys joined by '-'), so changing
# one reruns exactly its jobs. A killed job resumes from .../canonical/checkpoint.pt on the next run.

import shlex


def _flatten(cfg, prefix=""):
    """{'lr': {'means': 1}} -> {'lr_means': 1}."""
    out = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "_"))
        else:
            out[name] = value
    return out


def canonical_flags(variant):
    """CLI flags of every canonical setting of a variant (defaults merged with its overrides)."""
    flags = []
    for key, value in sorted(_flatten(variant_cfg(variant, "canonical")).items()):
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            text = " ".join(shlex.quote(str(v)) for v in value)
            flags.append(f"--{key.replace('_', '-')} {text}")
            continue
        else:
            text = shlex.quote(str(value))
        flags.append(f"--{key.replace('_', '-')} {text}")
    return " ".join(flags)


def canonical_points(wildcards):
    """The initial point cloud of the variant's `canonical.init`."""
    init = variant_cfg(wildcards.variant, "canonical")["init"]
    return f"results/{wildcards.dataset}/fit/points_{init}.ply"


rule train_canonical:
    input:
        gt="results/{dataset}/face/gt",
        torso_bg="results/{dataset}/face/torso_bg",
        parsing="results/{dataset}/face/parsing",
        track="results/{dataset}/fit/track.npz",
        split="results/{dataset}/split.json",
        points=canonical_points,
        code=code("canonical", "splat", "data", "io"),
    output:
        head="results/{dataset}/{variant}/canonical/head.pt",
        ply="results/{dataset}/{variant}/canonical/gaussians.ply",
        log_json="results/{dataset}/{variant}/canonical/train_log.json",
    params:
        flags=lambda w: canonical_flags(w.variant),
        device=DEVICE,
    log:
        "logs/{dataset}/canonical/train_canonical.{variant}.log",
    benchmark:
        "benchmarks/{dataset}/canonical/train_canonical.{variant}.tsv"
    conda:
        "../../envs/splat.yaml"
    threads: 2
    shell:
        "python -m gtalker.canonical --dataset-dir results/{wildcards.dataset} --points {input.points} "
        "--head {output.head} --ply {output.ply} --log {output.log_json} --device {params.device} "
        "--threads {threads} {params.flags} > {log} 2>&1"


register_targets(
    lambda d: [f"results/{d}/{v}/canonical/{name}" for v in VARIANTS
               for name in ("head.pt", "gaussians.ply", "train_log.json")]
)
