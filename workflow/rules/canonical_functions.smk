# Helper functions of canonical.smk (kept apart from rules, as snakemake --lint asks).

def canonical_flags(variant):
    """CLI flags of every canonical setting of a variant (CanonicalConfig fields, nested keys joined by
    '_'), defaults merged with its overrides."""
    return flag_string(variant_cfg(variant, "canonical"))


def canonical_points(wildcards):
    """The initial point cloud of the variant's `canonical.init`."""
    init = variant_cfg(wildcards.variant, "canonical")["init"]
    return f"results/{wildcards.dataset}/fit/points_{init}.ply"
