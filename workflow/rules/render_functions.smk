# Helper functions of the render rules (kept apart from the rules, as snakemake --lint asks).

CUSTOM_AUDIO = config["render"]["custom_audio"]
RENDER = config["render"]
DEMO_SPEECH = "results/_demo/custom_speech.wav"


def check_custom_audio():
    """Every render.custom_audio file must exist (the demo's clip is made by make_demo_speech)."""
    for name, path in CUSTOM_AUDIO.items():
        if path != DEMO_SPEECH and not os.path.exists(path):
            raise WorkflowError(
                f"config: render.custom_audio.{name}: file '{path}' not found; fix the path "
                "(relative paths are relative to the working directory) or remove the entry"
            )


# render settings each job leaves out (so that changing them does not rerun it); the rest, RenderConfig
# fields, are flags of every job. custom_audio and demo_speech are rule inputs, not flags.
RENDER_UNUSED = {
    "val": ("pose_source", "attention_size", "attention_frames", "match_features"),
    "custom": ("warmup", "attention_size", "attention_frames"),
    "attention": ("size", "batch", "warmup", "pose_source", "match_features"),
}


# render_val's command; rule render_control (the lip-sync control) renders the same passage with other features
RENDER_VAL_SHELL = (
    "python -m gtalker.render val --model {input.model} --dataset-dir results/{wildcards.dataset} "
    "--split {input.split} --features {input.features} --audio {input.audio} "
    "--out-video {output.video} --out-frames {output.frames} --out-stats {output.stats} "
    "--fps {params.fps} {params.flags} --device $GTALKER_DEVICE --threads {threads} > {log} 2>&1"
)


def render_size():
    """Output resolution: render.size, or the preprocessing size when null."""
    return RENDER["size"] or config["preprocess"]["size"]


def render_flags(job):
    """CLI flags of the render settings `job` (val, custom, attention) uses."""
    settings = {**RENDER, "size": render_size()}
    return flag_string(settings, skip=("custom_audio", "demo_speech") + RENDER_UNUSED[job])


def render_inputs(wildcards):
    """Model, audio features and the per-frame files rendering reads (poses, blinks, torso backgrounds)."""
    files = dataset_inputs(wildcards.dataset, wildcards.variant)
    files.pop("gt")  # rendering needs no targets
    files["model"] = f"results/{wildcards.dataset}/{wildcards.variant}/talker/model.pt"
    if "name" in wildcards.keys():
        backend = config["audio_features"]["backend"]
        files["features"] = f"results/_custom/{wildcards.name}/features_{backend}.npy"
        files["audio"] = CUSTOM_AUDIO[wildcards.name]
        files["train_features"] = audio_features_path(wildcards.dataset)
    else:
        files["features"] = audio_features_path(wildcards.dataset)
        files["audio"] = f"results/{wildcards.dataset}/ingest/audio.wav"
    return files


def custom_audio_file(wildcards):
    return CUSTOM_AUDIO[wildcards.name]


def demo_speech_seconds():
    """Length of the demo's custom speech clip: render.demo_speech.length x the validation passage."""
    n = int(round(config["demo"]["seconds"] * config["preprocess"]["fps"]))
    n_val = n - int(n * config["split"]["train_fraction"])
    return round(RENDER["demo_speech"]["length"] * n_val / config["preprocess"]["fps"], 3)


def render_targets(dataset):
    out = []
    for v in VARIANTS:
        base = f"results/{dataset}/{v}/render"
        out += [f"{base}/val.mp4", f"{base}/render_stats.json", f"{base}/attention.mp4"]
        out += [f"{base}/custom/{name}.mp4" for name in CUSTOM_AUDIO]
    return out
