# Helper functions of canonical.smk (kept apart from rules, as snakemake --lint asks).

# rule compile_kernels' report (one per installation, not per dataset)
KERNELS_REPORT = "results/_kernels/numba.json"

def canonical_flags(variant):
    """CLI flags of every canonical setting of a variant (CanonicalConfig fields, nested keys joined by
    '_'), defaults merged with its overrides; the settings that choose inputs (`cameras`) left out."""
    return flag_string(variant_cfg(variant, "canonical"), skip=CANONICAL_INPUT_KEYS)


def canonical_points(wildcards):
    """The initial point cloud of the variant's `canonical.init`, from its cameras' fit/ folder."""
    init = variant_cfg(wildcards.variant, "canonical")["init"]
    return f"{camera_dir(wildcards.dataset, wildcards.variant)}/fit/points_{init}.ply"


def canonical_camera_inputs(wildcards):
    """The variant's track (+ view manifest) and its trainability check (run first for its notices)."""
    files = camera_inputs(wildcards.dataset, wildcards.variant)
    files["trainable"] = f"{camera_dir(wildcards.dataset, wildcards.variant)}/fit/trainable.json"
    return files
