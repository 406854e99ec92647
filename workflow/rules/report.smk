# Figures and tables of the Snakemake report (cheap, local): training curves per dataset, metric bars,
# the validation mouth-opening trace and attention stills per variant, the ablation table (with more
# than one variant) and the datasets' warnings. `make report` runs the workflow, then
# `snakemake --report report.html`.

include: "report_functions.smk"


rule report_training:
    input:
        canonical=variant_logs("canonical"),
        talker=variant_logs("talker"),
        code=code("report", "metrics"),
    output:
        report("results/report/{dataset}/training.png", caption="../report/training.rst", category="Training",
               labels={"dataset": "{dataset}", "figure": "training curves"}),
    params:
        variants=list(VARIANTS),
    log:
        "logs/{dataset}/report/report_training.log",
    conda:
        "../../envs/report.yaml"
    localrule: True
    shell:
        "python -m gtalker.report training --variants {params.variants} --canonical-logs {input.canonical} "
        "--talker-logs {input.talker} --title 'Training, dataset {wildcards.dataset}' --out {output} > {log} 2>&1"


rule report_metrics:
    input:
        metrics=all_metrics(),
        code=code("report", "metrics"),
    output:
        report("results/report/metrics.png", caption="../report/metrics.rst", category="Metrics",
               labels={"figure": "metric bars"}),
    log:
        "logs/report/report_metrics.log",
    conda:
        "../../envs/report.yaml"
    localrule: True
    shell:
        "python -m gtalker.report metrics --metrics {input.metrics} --out {output} > {log} 2>&1"


rule report_mouth:
    input:
        metrics="results/{dataset}/{variant}/metrics.json",
        audio="results/{dataset}/ingest/audio.wav",
        index="results/{dataset}/ingest/frames.json",
        code=code("report", "metrics", "io"),
    output:
        report("results/report/{dataset}/{variant}/mouth.png", caption="../report/mouth.rst", category="Lip sync",
               subcategory="{dataset}", labels={"variant": "{variant}", "figure": "mouth opening"}),
    log:
        "logs/{dataset}/report/report_mouth.{variant}.log",
    conda:
        "../../envs/report.yaml"
    localrule: True
    shell:
        "python -m gtalker.report mouth --metrics {input.metrics} --audio {input.audio} "
        "--frames-json {input.index} --title '{wildcards.dataset} / {wildcards.variant}' --out {output} "
        "> {log} 2>&1"


rule report_attention:
    input:
        video="results/{dataset}/{variant}/render/attention.mp4",
        talker_log="results/{dataset}/{variant}/talker/train_log.json",
        code=code("report", "metrics"),
    output:
        report("results/report/{dataset}/{variant}/attention.png", caption="../report/attention.rst",
               category="Attention", subcategory="{dataset}", labels={"variant": "{variant}", "figure": "attention"}),
    log:
        "logs/{dataset}/report/report_attention.{variant}.log",
    conda:
        "../../envs/report.yaml"
    localrule: True
    shell:
        "python -m gtalker.report attention --video {input.video} --talker-log {input.talker_log} "
        "--title 'Attention per condition token, {wildcards.dataset} / {wildcards.variant}' --out {output} "
        "> {log} 2>&1"


rule report_ablation:
    input:
        metrics=all_metrics(),
        code=code("report", "metrics"),
    output:
        report("results/report/ablation.html", caption="../report/ablation.rst", category="Metrics",
               labels={"figure": "ablation table"}),
    params:
        variants=variants_json(),
    log:
        "logs/report/report_ablation.log",
    conda:
        "../../envs/report.yaml"
    localrule: True
    shell:
        "python -m gtalker.report ablation --metrics {input.metrics} --variants-json '{params.variants}' "
        "--out {output} > {log} 2>&1"


rule report_warnings:
    input:
        warnings=expand("results/{dataset}/warnings.json", dataset=list(DATASETS)),
        code=code("report", "metrics"),
    output:
        report("results/report/warnings.html", caption="../report/warnings.rst", category="Warnings",
               labels={"figure": "warnings"}),
    params:
        datasets=list(DATASETS),
    log:
        "logs/report/report_warnings.log",
    conda:
        "../../envs/report.yaml"
    localrule: True
    shell:
        "python -m gtalker.report warnings --datasets {params.datasets} --warnings {input.warnings} "
        "--out {output} > {log} 2>&1"


register_targets(report_targets)
