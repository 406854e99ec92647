# Ingest, one job per video: metadata, frames at a fixed rate and size, 16 kHz mono audio.


# Source paths reach the steps through params quoted with :q (any character works); as inputs they are
# listed only when present (source_input), so a missing one fails its own dataset's probe, not all.


rule probe:
    wildcard_constraints:
        dataset=dataset_regex(VIDEO_DATASETS),
    input:
        video=source_input("video"),
        audio=audio_input,
        code=code("ingest", "io"),
    output:
        probe="results/{dataset}/ingest/probe.json",
        notices=notice_file("probe"),
    params:
        video=source_path("video"),
        audio=audio_opt,
    log:
        "logs/{dataset}/ingest/probe.log",
    conda:
        "../../envs/ingest.yaml"
    shell:
        "python -m gtalker.ingest probe --video {params.video:q} {params.audio} --out {output.probe} "
        "--notices {output.notices} > {log} 2>&1"


rule extract_frames:
    wildcard_constraints:
        dataset=dataset_regex(VIDEO_DATASETS),
    input:
        video=source_input("video"),
        probe="results/{dataset}/ingest/probe.json",
        code=code("ingest", "io", "crop"),
    output:
        frames=directory("results/{dataset}/ingest/frames"),
        index="results/{dataset}/ingest/frames.json",
        notices=notice_file("extract_frames"),
    params:
        flags=flag_string(config["preprocess"]),
        passage=passage_opts,
        short=short_opt,
        video=source_path("video"),
    log:
        "logs/{dataset}/ingest/extract_frames.log",
    benchmark:
        "logs/benchmarks/{dataset}/ingest/extract_frames.tsv"
    conda:
        "../../envs/ingest.yaml"
    shell:
        "python -m gtalker.ingest frames --video {params.video:q} --probe {input.probe} "
        "--out-dir {output.frames} --index {output.index} {params.flags} {params.passage} {params.short} "
        "--notices {output.notices} > {log} 2>&1"


rule extract_audio:
    wildcard_constraints:
        dataset=dataset_regex(VIDEO_DATASETS),
    input:
        video=source_input("video"),
        index="results/{dataset}/ingest/frames.json",
        audio=audio_input,
        code=code("ingest", "io"),
    output:
        wav="results/{dataset}/ingest/audio.wav",
        notices=notice_file("extract_audio"),
    params:
        audio=audio_opt,
        passage=passage_opts,
        mismatch=mismatch_opt,
        video=source_path("video"),
    log:
        "logs/{dataset}/ingest/extract_audio.log",
    conda:
        "../../envs/ingest.yaml"
    shell:
        "python -m gtalker.ingest audio --video {params.video:q} --index {input.index} --out {output.wav} "
        "{params.audio} {params.passage} {params.mismatch} --notices {output.notices} > {log} 2>&1"


register_targets(
    lambda d: [f"results/{d}/ingest/frames.json", f"results/{d}/ingest/audio.wav"]
)
