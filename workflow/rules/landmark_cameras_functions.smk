# Helper functions of landmark_cameras.smk and of the stages that train on a variant's cameras (kept
# apart from the rules, as snakemake --lint asks).
#
# canonical.cameras selects a variant's cameras and initial points: face_model (results/D/fit/, the
# morphable fit) or landmarks (results/D/_landmark_cameras/fit/, gtalker.fit.rigid: no face model). It
# selects inputs only and is no flag of train_canonical. The stages read their cameras from
# <dataset-dir>/fit/track.npz; the rules' shell commands name --dataset-dir results/D, and for a
# landmark-camera variant the flags end with a second --dataset-dir naming the view folder (the CLIs
# keep the last value). The shell commands keep their text, so that the face-model variants' jobs are
# unchanged (Snakemake's code trigger compares it).

LANDMARK_VIEW = "_landmark_cameras"   # results/D/<this>/: not a variant name (those start alphanumeric)
CAMERA_SOURCES = ("face_model", "landmarks")
# canonical settings that choose inputs and are not flags of the canonical step
CANONICAL_INPUT_KEYS = ("cameras",)


def camera_source(variant):
    """'face_model' or 'landmarks': where a variant's cameras and initial points come from."""
    return variant_cfg(variant, "canonical")["cameras"]


def _check_camera_sources():
    for name in VARIANTS:
        cfg = variant_cfg(name, "canonical")
        if cfg["cameras"] == "landmarks" and cfg["init"] == "mesh":
            raise WorkflowError(
                f"config: variants.{name}.canonical: cameras 'landmarks' needs no face model, so init 'mesh' "
                "(the fitted face-model surface) is not available; set init to landmarks or random")


_check_camera_sources()
LANDMARK_CAMERA_VARIANTS = [v for v in VARIANTS if camera_source(v) == "landmarks"]


def camera_dir(dataset, variant):
    """The dataset folder a variant's stages read (results/D, or its landmark-camera view)."""
    base = f"results/{dataset}"
    return f"{base}/{LANDMARK_VIEW}" if camera_source(variant) == "landmarks" else base


def view_flag(wildcards):
    """'' for face-model variants; else the --dataset-dir of the view folder (appended to the flags)."""
    if camera_source(wildcards.variant) != "landmarks":
        return ""
    return f" --dataset-dir {camera_dir(wildcards.dataset, wildcards.variant)}"


def camera_inputs(dataset, variant):
    """The track the variant's stages read, plus the view's manifest for landmark cameras."""
    base = camera_dir(dataset, variant)
    files = {"track": f"{base}/fit/track.npz"}
    if base != f"results/{dataset}":
        files["view"] = f"{base}/view.json"
    return files
