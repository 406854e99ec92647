# Helper functions of the talker rules (kept apart from the rules, as snakemake --lint asks);
# render.smk uses dataset_inputs too.

def talker_flags(variant):
    """CLI flags of every talker setting of a variant (DeformConfig and TrainConfig fields), defaults
    merged with its overrides."""
    return flag_string(variant_cfg(variant, "talker"))


def dataset_inputs(dataset, variant):
    """The per-frame files the frame dataset streams from (contract paths of earlier stages), with the
    variant's cameras (landmark_cameras_functions.smk)."""
    base = f"results/{dataset}"
    files = {
        "frames": f"{base}/ingest/frames.json",
        "gt": f"{base}/face/gt",
        "torso_bg": f"{base}/face/torso_bg",
        "lips": f"{base}/face/lips.npy",
        "blinks": f"{base}/face/blinks.npy",
        "split": f"{base}/split.json",
    }
    files.update(camera_inputs(dataset, variant))
    return files


def perceptual_input(wildcards):
    """The VGG16 weights as an input when the variant uses the perceptual term and they exist."""
    cfg = variant_cfg(wildcards.variant, "talker")
    path = cfg["perceptual_weights"]
    return [path] if cfg["loss"]["perceptual"] > 0 and os.path.exists(path) else []


def talker_targets(dataset):
    return [f"results/{dataset}/{v}/talker/{name}" for v in VARIANTS for name in ("model.pt", "train_log.json")]


def talker_inputs(wildcards):
    """Per-frame files, canonical head and audio features of a dataset/variant."""
    files = dataset_inputs(wildcards.dataset, wildcards.variant)
    files["head"] = f"{canonical_dir(wildcards.dataset, wildcards.variant)}/head.pt"
    files["features"] = audio_features_path(wildcards.dataset)
    return files
