# Helper functions of the evaluate rules (kept apart from the rules, as snakemake --lint asks).

EVAL = config["evaluate"]


def eval_weight_inputs(wildcards):
    """Optional weights: inputs when present (a new file reruns evaluate) or when fetch_weights is set
    (then the download rules run); absent, the metric they serve is null with the reason."""
    paths = [EVAL["lpips_alexnet"], EVAL["lpips_linear"], EVAL["syncnet_model"]]
    return [p for p in paths if EVAL["fetch_weights"] or os.path.exists(p)]


def render_video(wildcards):
    """The render stage's video behind a report entry (custom_<name> -> render/custom/<name>.mp4)."""
    base = f"results/{wildcards.dataset}/{wildcards.variant}/render"
    if wildcards.video.startswith("custom_"):
        return f"{base}/custom/{wildcards.video[len('custom_'):]}.mp4"
    return f"{base}/{wildcards.video}.mp4"


def evaluate_targets(dataset):
    out = [f"results/{dataset}/{v}/metrics.json" for v in VARIANTS]
    for v in VARIANTS:
        out += [f"results/report/{dataset}/{v}/{video}.mp4" for video in ["val", "attention"]
                + [f"custom_{name}" for name in config["render"]["custom_audio"]]]
    return out + ["results/compare.tsv", "results/compare.md"]
