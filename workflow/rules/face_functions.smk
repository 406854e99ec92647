# Helper functions of the face rules (kept apart from the rules, as snakemake --lint asks).


def landmark_weights_input(wildcards):
    """FAN weights when the face_alignment backend is chosen (rule download_fan_weights makes them)."""
    cfg = config["landmarks"]
    return [cfg["fan_weights"]] if cfg["backend"] == "face_alignment" else []


def landmark_flags(wildcards):
    """CLI flags of every landmarks setting (LandmarkConfig fields)."""
    return flag_string(config["landmarks"])


def parsing_weights_input(wildcards):
    """BiSeNet weights when the bisenet backend is chosen (rule download_bisenet_weights makes them)."""
    cfg = config["parsing"]
    return [cfg["bisenet"]["weights"]] if cfg["backend"] == "bisenet" else []


def parsing_flags(wildcards):
    """CLI flags of the chosen parsing backend's settings (HeuristicConfig or BisenetConfig fields)."""
    backend = config["parsing"]["backend"]
    return f"--backend {backend} " + flag_string(config["parsing"][backend])


def fit_transforms(dataset):
    """The fit stage's transforms_*.json when a rule of the workflow makes them, else nothing."""
    paths = [f"results/{dataset}/fit/transforms_{s}.json" for s in ("train", "val")]
    return paths if any(r.is_producer(paths[0]) for r in workflow.rules) else []


def reference_export_inputs(wildcards):
    """Everything the reference layout holds (named inputs)."""
    d = f"results/{wildcards.dataset}"
    inputs = {
        "frames": f"{d}/ingest/frames", "index": f"{d}/ingest/frames.json", "audio": f"{d}/ingest/audio.wav",
        "landmarks": f"{d}/face/landmarks.npz", "parsing": f"{d}/face/parsing", "torso": f"{d}/face/torso",
        "gt": f"{d}/face/gt", "bc": f"{d}/face/bc.jpg", "au": f"{d}/face/au.csv", "blinks": f"{d}/face/blinks.npy",
        "split": f"{d}/split.json",
        "features": audio_features_path(wildcards.dataset),
    }
    transforms = fit_transforms(wildcards.dataset)
    if transforms:
        inputs["transforms"] = transforms
        inputs["track"] = f"{d}/fit/track.npz"
        inputs["model"] = face_model_file()
    return inputs


def reference_export_flags(wildcards):
    """Which audio features to export (and under which reference name); the face model whose vertices
    go into track_params.pt."""
    model = (f" --model '{face_model_file()}' --n-points {FIT['n_points']} --seed {FIT['seed']}"
             if fit_transforms(wildcards.dataset) else "")
    return (f"--features {audio_features_path(wildcards.dataset)} "
            f"--features-backend {config['audio_features']['backend']}{model}")


def face_targets(dataset):
    """Final outputs of the face stage for `rule all`."""
    d = f"results/{dataset}"
    targets = [f"{d}/face/landmarks.npz", f"{d}/face/lips.npy", f"{d}/face/blinks.npy", f"{d}/face/au.csv",
               f"{d}/face/torso", f"{d}/face/gt", f"{d}/face/torso_bg", f"{d}/face/bc.jpg", f"{d}/split.json"]
    if config["refdata"]["export"] and dataset not in REFERENCE_DATASETS:
        targets.append(f"{d}/reference")
    return targets
