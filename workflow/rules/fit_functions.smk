# Helper functions and constants of the fit rules (kept apart from the rules, as snakemake --lint asks).

FIT = config["fit"]
POINT_INITS = ["mesh", "random", "landmarks"]
BUILTIN_MODEL = os.path.join(workflow.basedir, "resources/face_models/builtin.npz")
BFM_MODEL = "resources/face_models/bfm2009.npz"


wildcard_constraints:
    init="|".join(POINT_INITS),


def face_model_file(wildcards=None):
    """The common-format face model the fit uses (fit.model)."""
    return BUILTIN_MODEL if FIT["model"] == "builtin" else BFM_MODEL


def bfm_inputs(wildcards):
    """The BFM files that exist (a change reruns the conversion); when some are missing the step itself
    fails with a message naming them and where users obtain them."""
    names = ["01_MorphableModel.mat", "Exp_Pca.bin", "std_exp.txt", "BFM_exp_idx.mat", "landmarks_68.txt"]
    paths = [os.path.join(FIT["bfm_dir"], n) for n in names]
    return [p for p in paths if os.path.exists(p)]


# fit settings that other rules use; the rest are FitConfig fields, flags of `gtalker.fit track`.
FIT_NOT_TRACKING = ("model", "bfm_dir", "bfm_n_identity", "bfm_n_expression", "n_points", "seed")


def track_flags(wildcards):
    """CLI flags of every fit setting the tracker uses."""
    return flag_string(FIT, skip=FIT_NOT_TRACKING)
