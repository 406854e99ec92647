# Rendering of a trained talker, per dataset and variant: the validation passage (mp4 with its audio,
# PNG frames for evaluate, render_stats.json with device-synchronised FPS), every render.custom_audio
# entry (any length; poses/blinks/torso of the validation passage loop back and forth) and a video of
# the attention maps per condition token. For the demo, make_demo_speech synthesises a new clip.

include: "render_functions.smk"


check_custom_audio()


wildcard_constraints:
    name="|".join(re.escape(n) for n in CUSTOM_AUDIO) or "(?!)",


rule render_val:
    input:
        unpack(render_inputs),
        code=code("render", "talker", "canonical", "splat", "data", "audio.windowing", "io"),
    output:
        video="results/{dataset}/{variant}/render/val.mp4",
        frames=directory("results/{dataset}/{variant}/render/val_frames"),
        stats="results/{dataset}/{variant}/render/render_stats.json",
    params:
        flags=lambda w: render_flags("val") + view_flag(w),
        fps=config["preprocess"]["fps"],
    log:
        "logs/{dataset}/render/render_val.{variant}.log",
    benchmark:
        "logs/benchmarks/{dataset}/render/render_val.{variant}.tsv"
    conda:
        "../../envs/talker.yaml"
    threads: 2
    shell:
        RENDER_VAL_SHELL


rule custom_audio_features:
    input:
        audio=custom_audio_file,
        model=audio_model_input,
        code=code("audio", "io"),
    output:
        "results/_custom/{name}/features_{backend}.npy",
    params:
        flags=audio_feature_flags,
        fps=config["preprocess"]["fps"],
    log:
        "logs/_custom/audio/custom_audio_features.{name}_{backend}.log",
    conda:
        "../../envs/audio.yaml"
    threads: 2
    shell:
        "python -m gtalker.audio features --audio {input.audio:q} --fps {params.fps} "
        "--backend {wildcards.backend} {params.flags} --device $GTALKER_DEVICE --threads {threads} "
        "--out {output} > {log} 2>&1"


rule render_custom:
    input:
        unpack(render_inputs),
        code=code("render", "talker", "canonical", "splat", "data", "audio.windowing", "audio.adapt", "io"),
    output:
        "results/{dataset}/{variant}/render/custom/{name}.mp4",
    params:
        flags=lambda w: render_flags("custom") + view_flag(w),
        fps=config["preprocess"]["fps"],
    log:
        "logs/{dataset}/render/render_custom.{variant}.{name}.log",
    benchmark:
        "logs/benchmarks/{dataset}/render/render_custom.{variant}.{name}.tsv"
    conda:
        "../../envs/talker.yaml"
    threads: 2
    shell:
        "python -m gtalker.render custom --model {input.model} --dataset-dir results/{wildcards.dataset} "
        "--split {input.split} --features {input.features} --train-features {input.train_features} "
        "--audio {input.audio:q} --out-video {output} "
        "--fps {params.fps} {params.flags} --device $GTALKER_DEVICE --threads {threads} > {log} 2>&1"


rule render_attention:
    input:
        unpack(render_inputs),
        code=code("render", "talker", "canonical", "splat", "data", "audio.windowing", "io"),
    output:
        "results/{dataset}/{variant}/render/attention.mp4",
    params:
        flags=lambda w: render_flags("attention") + view_flag(w),
        fps=config["preprocess"]["fps"],
    log:
        "logs/{dataset}/render/render_attention.{variant}.log",
    benchmark:
        "logs/benchmarks/{dataset}/render/render_attention.{variant}.tsv"
    conda:
        "../../envs/talker.yaml"
    threads: 2
    shell:
        "python -m gtalker.render attention --model {input.model} --dataset-dir results/{wildcards.dataset} "
        "--split {input.split} --features {input.features} --audio {input.audio} --out-video {output} "
        "--fps {params.fps} {params.flags} --device $GTALKER_DEVICE --threads {threads} > {log} 2>&1"


rule make_demo_speech:
    input:
        code=code("demo", "demo_voice", "espeak", "phones", "io"),
    output:
        wav=DEMO_SPEECH,
        truth="results/_demo/custom_speech_truth.npz",
    params:
        seconds=demo_speech_seconds(),
        seed=RENDER["demo_speech"]["seed"],
        voice=config["demo"]["voice"],
    log:
        "logs/_demo/make_demo_speech.log",
    conda:
        "../../envs/ingest.yaml"
    shell:
        "python -m gtalker.demo --speech-only --out {output.wav} --truth {output.truth} "
        "--seconds {params.seconds} --seed {params.seed} --voice {params.voice} > {log} 2>&1"


register_targets(render_targets)
