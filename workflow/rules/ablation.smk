# The ablation set (config 'ablation', method.md section 6): per variant a probe of the trained
# talker (cost, disentanglement, attention statistics), then one table per dataset:
# results/{dataset}/ablation.md and ablation.tsv. Nothing here runs without 'ablation.variants'.

include: "ablation_functions.smk"


rule probe_talker:
    input:
        unpack(probe_inputs),
        code=code("talker", "metrics.attention_stats", "canonical", "splat", "data", "audio.windowing", "io"),
    output:
        "results/{dataset}/{variant}/talker/probe.json",
    params:
        flags=flag_string(ABLATION, skip=("variants",)),
    log:
        "logs/{dataset}/talker/probe_talker.{variant}.log",
    benchmark:
        "benchmarks/{dataset}/talker/probe_talker.{variant}.tsv"
    conda:
        "../../envs/talker.yaml"
    threads: 2
    shell:
        "python -m gtalker.talker probe --model {input.model} --dataset-dir results/{wildcards.dataset} "
        "--features {input.features} --split {input.split} {params.flags} --threads {threads} "
        "--out {output} > {log} 2>&1"


rule ablation_table:
    input:
        metrics=lambda w: [f"results/{w.dataset}/{v}/metrics.json" for v in ABLATION_VARIANTS],
        probes=lambda w: [f"results/{w.dataset}/{v}/talker/probe.json" for v in ABLATION_VARIANTS],
        code=code("metrics", "report"),
    output:
        tsv="results/{dataset}/ablation.tsv",
        md="results/{dataset}/ablation.md",
    params:
        variants=" ".join(ABLATION_VARIANTS),
        settings=ablation_json(),
    log:
        "logs/{dataset}/ablation_table.log",
    conda:
        "../../envs/evaluate.yaml"
    localrule: True
    shell:
        "python -m gtalker.metrics ablation --dataset {wildcards.dataset} --variants {params.variants} "
        "--metrics {input.metrics} --probes {input.probes} --variants-json '{params.settings}' "
        "--tsv {output.tsv} --md {output.md} > {log} 2>&1"


register_targets(ablation_targets)
