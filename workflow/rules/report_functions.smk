# Helper functions of the report rules (kept apart from the rules, as snakemake --lint asks).


def has_warnings_rule():
    """Whether the workflow gathers each dataset's warnings.json (rule gather_warnings)."""
    return "gather_warnings" in {r.name for r in workflow.rules}


def all_metrics():
    return expand("results/{dataset}/{variant}/metrics.json", dataset=list(DATASETS), variant=list(VARIANTS))


def variant_logs(stage):
    """Input function: the `stage` (canonical/talker) train logs of every variant of a dataset."""

    def inputs(wildcards):
        if stage == "canonical":
            return [f"{canonical_dir(wildcards.dataset, v)}/train_log.json" for v in VARIANTS]
        return [f"results/{wildcards.dataset}/{v}/{stage}/train_log.json" for v in VARIANTS]

    return inputs


def variants_json():
    """The variants' overrides as one JSON string (the ablation table's 'changes' column)."""
    import json

    return json.dumps(VARIANTS, sort_keys=True)


def report_targets(dataset):
    """Figures and tables of the Snakemake report for one dataset (and the ones over all datasets)."""
    out = [f"results/report/{dataset}/training.png", "results/report/metrics.png"]
    out += [f"results/report/{dataset}/{v}/{name}.png" for v in VARIANTS for name in ("mouth", "attention")]
    if len(VARIANTS) > 1:
        out.append("results/report/ablation.html")
    if has_warnings_rule():
        out.append("results/report/warnings.html")
    return out
