# Helper functions of canonical.smk (kept apart from rules, as snakemake --lint asks).

import shlex


def _flatten(cfg, prefix=""):
    """{'lr': {'means': 1}} -> {'lr_means': 1}."""
    out = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}_"))
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
