# Helper functions of the ablation rules (kept apart from the rules, as snakemake --lint asks).


def probe_inputs(wildcards):
    """Model, audio features and per-frame files of a dataset/variant for the talker probe."""
    files = dataset_inputs(wildcards.dataset, wildcards.variant)
    files["model"] = f"results/{wildcards.dataset}/{wildcards.variant}/talker/model.pt"
    files["features"] = audio_features_path(wildcards.dataset)
    return files


def control_render_inputs(wildcards):
    """render_val's inputs with the lip-sync control's features of one case (other passage, silence)."""
    files = render_inputs(wildcards)
    backend = config["audio_features"]["backend"]
    base = f"results/{wildcards.dataset}/control"
    files["features"] = (f"{base}/features_other.npy" if wildcards.case == "other"
                         else f"{base}/features_silence_{backend}.npy")
    return files


def ablation_json():
    """The ablation variants' overrides as one JSON string (the table's 'changes' column)."""
    import json

    return json.dumps({v: VARIANTS[v] for v in ABLATION_VARIANTS}, sort_keys=True)


def ablation_targets(dataset):
    """The ablation table of a dataset, when the config names an ablation set."""
    if not ABLATION_VARIANTS:
        return []
    return [f"results/{dataset}/ablation.md", f"results/{dataset}/ablation.tsv"]
