# The ablation set (config 'ablation', method.md section 6): per variant a probe of the trained
# talker (cost, disentanglement, attention statistics) and a lip-sync control (the validation passage
# rendered with another passage's audio and with silence, gtalker.metrics.control), then one table per dataset:
# results/{dataset}/ablation.md and ablation.tsv. Nothing here runs without 'ablation.variants'.

include: "ablation_functions.smk"


rule probe_talker:
    input:
        unpack(probe_inputs),
        code=code("talker", "metrics.attention_stats", "canonical", "splat", "data", "audio.windowing", "io"),
    output:
        "results/{dataset}/{variant}/talker/probe.json",
    params:
        flags=lambda w: flag_string(ABLATION, skip=("variants",)) + view_flag(w),
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


wildcard_constraints:
    case="other|silence",


rule control_inputs:
    input:
        features=lambda w: audio_features_path(w.dataset),
        landmarks="results/{dataset}/face/landmarks.npz",
        split="results/{dataset}/split.json",
        index="results/{dataset}/ingest/frames.json",
        code=code("metrics.control", "metrics.landmarks", "metrics.lipsync", "metrics.__main__", "io"),
    output:
        other="results/{dataset}/control/features_other.npy",
        silence="results/{dataset}/control/silence.wav",
        control="results/{dataset}/control/control.json",
    log:
        "logs/{dataset}/ablation/control_inputs.log",
    conda:
        "../../envs/evaluate.yaml"
    shell:
        "python -m gtalker.metrics control-inputs --features {input.features} --landmarks {input.landmarks} "
        "--split {input.split} --frames-json {input.index} --out-dir results/{wildcards.dataset}/control "
        "> {log} 2>&1"


rule control_silence_features:
    input:
        audio="results/{dataset}/control/silence.wav",
        index="results/{dataset}/ingest/frames.json",
        model=audio_model_input,
        code=code("audio", "io"),
    output:
        "results/{dataset}/control/features_silence_{backend}.npy",
    params:
        flags=lambda w: backend_feature_flags(w.backend),
    log:
        "logs/{dataset}/ablation/control_silence_features_{backend}.log",
    conda:
        "../../envs/audio.yaml"
    threads: 2
    shell:
        AUDIO_FEATURES_SHELL


rule render_control:
    input:
        unpack(control_render_inputs),
        code=code("render", "talker", "canonical", "splat", "data", "audio.windowing", "io"),
    output:
        video=temp("results/{dataset}/{variant}/control/{case}.mp4"),
        frames=temp(directory("results/{dataset}/{variant}/control/{case}_frames")),
        stats=temp("results/{dataset}/{variant}/control/{case}_render_stats.json"),
    params:
        flags=lambda w: render_flags("val") + view_flag(w),
        fps=config["preprocess"]["fps"],
    log:
        "logs/{dataset}/ablation/render_control.{variant}.{case}.log",
    benchmark:
        "logs/benchmarks/{dataset}/ablation/render_control.{variant}.{case}.tsv"
    conda:
        "../../envs/talker.yaml"
    threads: 2
    shell:
        RENDER_VAL_SHELL


rule evaluate_control:
    input:
        rendered="results/{dataset}/{variant}/control/{case}_frames",
        real="results/{dataset}/ingest/frames",
        index="results/{dataset}/ingest/frames.json",
        audio="results/{dataset}/ingest/audio.wav",
        gt="results/{dataset}/face/gt",
        split="results/{dataset}/split.json",
        code=code("metrics", "audio.mfcc", "io"),
    output:
        "results/{dataset}/{variant}/control/{case}_metrics.json",
    params:
        flags=flag_string(EVAL, skip=("fetch_weights",)),
    log:
        "logs/{dataset}/ablation/evaluate_control.{variant}.{case}.log",
    conda:
        "../../envs/evaluate.yaml"
    threads: 2
    shell:
        "python -m gtalker.metrics evaluate --rendered {input.rendered} --real {input.real} --gt {input.gt} "
        "--split {input.split} --audio {input.audio} --frames-json {input.index} {params.flags} "
        "--dataset {wildcards.dataset} --variant {wildcards.variant} --device $GTALKER_DEVICE "
        "--threads {threads} --out {output} > {log} 2>&1"


rule lipsync_control:
    input:
        control="results/{dataset}/control/control.json",
        own="results/{dataset}/{variant}/metrics.json",
        other="results/{dataset}/{variant}/control/other_metrics.json",
        silence="results/{dataset}/{variant}/control/silence_metrics.json",
        landmarks="results/{dataset}/face/landmarks.npz",
        split="results/{dataset}/split.json",
        code=code("metrics.control", "metrics.landmarks", "metrics.lipsync", "metrics.__main__"),
    output:
        "results/{dataset}/{variant}/lipsync_control.json",
    log:
        "logs/{dataset}/ablation/lipsync_control.{variant}.log",
    conda:
        "../../envs/evaluate.yaml"
    shell:
        "python -m gtalker.metrics control --control {input.control} --own {input.own} --other {input.other} "
        "--silence {input.silence} --landmarks {input.landmarks} --split {input.split} --out {output} "
        "> {log} 2>&1"


rule ablation_table:
    input:
        metrics=lambda w: [f"results/{w.dataset}/{v}/metrics.json" for v in ABLATION_VARIANTS],
        probes=lambda w: [f"results/{w.dataset}/{v}/talker/probe.json" for v in ABLATION_VARIANTS],
        controls=lambda w: [f"results/{w.dataset}/{v}/lipsync_control.json" for v in ABLATION_VARIANTS],
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
        "--metrics {input.metrics} --probes {input.probes} --controls {input.controls} --variants-json '{params.settings}' "
        "--tsv {output.tsv} --md {output.md} > {log} 2>&1"


register_targets(ablation_targets)
