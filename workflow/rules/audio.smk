# Audio features, one job per video: results/{dataset}/audio/features_{backend}.npy [N_frames, 16, C].
# The backend defaults to audio_features.backend; other backends' files can be asked for by name.

include: "audio_functions.smk"


wildcard_constraints:
    backend="|".join(AUDIO_BACKENDS),


rule extract_audio_features:
    input:
        audio="results/{dataset}/ingest/audio.wav",
        index="results/{dataset}/ingest/frames.json",
        model=audio_model_input,
        precomputed=reference_features,
        code=code("audio", "io"),
    output:
        "results/{dataset}/audio/features_{backend}.npy",
    params:
        flags=audio_feature_flags,
    log:
        "logs/{dataset}/audio/extract_audio_features_{backend}.log",
    benchmark:
        "logs/benchmarks/{dataset}/audio/extract_audio_features_{backend}.tsv"
    conda:
        "../../envs/audio.yaml"
    threads: 2
    priority: CRITICAL_PATH  # the talker waits for it
    shell:
        AUDIO_FEATURES_SHELL


register_targets(lambda d: [audio_features_path(d)])
