# Evaluation, per dataset and variant, on the validation passage: results/{dataset}/{variant}/metrics.json;
# then one table over every dataset and variant (results/compare.tsv, results/compare.md) and the files
# of the Snakemake report (`snakemake --report report.html` after a run).

include: "evaluate_functions.smk"


report: "../report/workflow.rst"


rule evaluate:
    input:
        rendered="results/{dataset}/{variant}/render/val_frames",
        stats="results/{dataset}/{variant}/render/render_stats.json",
        train_log="results/{dataset}/{variant}/talker/train_log.json",
        canonical_log=lambda w: f"{canonical_dir(w.dataset, w.variant)}/train_log.json",
        real="results/{dataset}/ingest/frames",
        index="results/{dataset}/ingest/frames.json",
        audio="results/{dataset}/ingest/audio.wav",
        gt="results/{dataset}/face/gt",
        parsing="results/{dataset}/face/parsing",
        split="results/{dataset}/split.json",
        weights=eval_weight_inputs,
        code=code("metrics", "audio.mfcc", "io"),
    output:
        "results/{dataset}/{variant}/metrics.json",
    params:
        flags=flag_string(EVAL, skip=("fetch_weights",)),
    log:
        "logs/{dataset}/evaluate/evaluate.{variant}.log",
    benchmark:
        "logs/benchmarks/{dataset}/evaluate/evaluate.{variant}.tsv"
    conda:
        "../../envs/evaluate.yaml"
    threads: 2
    shell:
        "python -m gtalker.metrics evaluate --rendered {input.rendered} --real {input.real} --gt {input.gt} "
        "--parsing {input.parsing} "
        "--split {input.split} --audio {input.audio} --frames-json {input.index} "
        "--render-stats {input.stats} --train-log {input.train_log} --canonical-log {input.canonical_log} "
        "{params.flags} "
        "--dataset {wildcards.dataset} --variant {wildcards.variant} --device $GTALKER_DEVICE "
        "--threads {threads} --out {output} > {log} 2>&1"


rule compare:
    input:
        metrics=expand("results/{dataset}/{variant}/metrics.json", dataset=list(DATASETS), variant=list(VARIANTS)),
        code=code("metrics", "io"),
    output:
        tsv=report("results/compare.tsv", caption="../report/compare.rst", category="Metrics"),
        md="results/compare.md",
    log:
        "logs/compare.log",
    conda:
        "../../envs/evaluate.yaml"
    shell:
        "python -m gtalker.metrics compare --metrics {input.metrics} --tsv {output.tsv} --md {output.md} "
        "> {log} 2>&1"


rule report_video:
    input:
        render_video,
    output:
        report("results/report/{dataset}/{variant}/{video}.mp4", caption="../report/video.rst",
               category="Videos", subcategory="{dataset}", labels={"variant": "{variant}", "video": "{video}"}),
    wildcard_constraints:
        video="val|attention|custom_[A-Za-z0-9_.-]+",
    log:
        "logs/{dataset}/evaluate/report_video.{variant}.{video}.log",
    conda:
        "../../envs/evaluate.yaml"
    localrule: True
    shell:
        "python -m gtalker.metrics link --src {input} --out {output} > {log} 2>&1"


rule download_lpips_weights:
    output:
        alexnet=EVAL["lpips_alexnet"],
        linear=EVAL["lpips_linear"],
    log:
        "logs/download/lpips_weights.log",
    conda:
        "../../envs/evaluate.yaml"
    localrule: True
    shell:
        "(python -m gtalker.metrics download --name lpips_alexnet --out {output.alexnet} && "
        "python -m gtalker.metrics download --name lpips_linear --out {output.linear}) > {log} 2>&1"


rule download_syncnet_weights:
    output:
        EVAL["syncnet_model"],
    log:
        "logs/download/syncnet_weights.log",
    conda:
        "../../envs/evaluate.yaml"
    localrule: True
    shell:
        "python -m gtalker.metrics download --name syncnet --out {output} > {log} 2>&1"


register_targets(evaluate_targets)
