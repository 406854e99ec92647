# Helper functions of the audio rules (kept apart from the rules, as snakemake --lint asks); render.smk
# and talker.smk use audio_features_path / audio_feature_flags / audio_model_input too.

AUDIO_BACKENDS = ["mel", "melnorm", "deepspeech", "hubert"]


# extract_audio_features' command; rule control_silence_features runs it on the lip-sync control's silence
AUDIO_FEATURES_SHELL = (
    "python -m gtalker.audio features --audio {input.audio} --frames-json {input.index} "
    "--backend {wildcards.backend} {params.flags} --device $GTALKER_DEVICE --threads {threads} "
    "--out {output} > {log} 2>&1"
)


def audio_feature_flags(wildcards):
    """CLI flags of the audio_features settings the backend uses (or the reference folder's file):
    `<backend>_*` keys (FeatureConfig) for deepspeech/hubert, the others (MelConfig fields) for mel."""
    precomputed = reference_features(wildcards)
    if precomputed:
        return f"--precomputed '{precomputed[0]}'"
    return backend_feature_flags(wildcards.backend)


def backend_feature_flags(backend):
    """CLI flags of the audio_features settings one backend uses."""
    cfg = config["audio_features"]
    prefixes = tuple(f"{b}_" for b in AUDIO_BACKENDS if b not in ("mel", "melnorm"))
    if backend in ("mel", "melnorm"):
        keep = {k: v for k, v in cfg.items() if k != "backend" and not k.startswith(prefixes)}
    else:
        keep = {k: v for k, v in cfg.items() if k.startswith(f"{backend}_")}
    return flag_string(keep)


def audio_model_input(wildcards):
    """The backend's weights as an input when present (a change reruns the job); when absent the step
    itself fails with a message saying where to put them and which weight-free backend to use."""
    cfg = config["audio_features"]
    path = {"deepspeech": cfg["deepspeech_model"], "hubert": cfg["hubert_model"]}.get(wildcards.backend)
    return [path] if path and os.path.exists(path) else []


def audio_features_path(dataset):
    """The feature file of the configured backend (what the talker stage reads)."""
    return f"results/{dataset}/audio/features_{config['audio_features']['backend']}.npy"


# A reference-folder dataset's own features (workflow/rules/reference.smk) replace the extraction.
from gtalker.refdata import FEATURE_NAMES as REFERENCE_FEATURE_FILES


def reference_features(wildcards):
    """The folder's feature file of this backend when the dataset is a reference folder that has it."""
    entry = DATASETS.get(getattr(wildcards, "dataset", None), {})
    if not entry.get("reference"):
        return []
    name = REFERENCE_FEATURE_FILES.get(wildcards.backend)
    path = os.path.join(entry["reference"], name) if name else None
    return [path] if path and os.path.exists(path) else []
