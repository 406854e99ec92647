# Face preprocessing, one job per video: landmarks, parsing, static background, torso images and
# training targets, lip boxes, blinks; the train/validation split; export to the reference's layout.
# Weight-free backends by default; the download rules fetch the real backends' weights (sha256-checked).

include: "face_functions.smk"


rule detect_landmarks:
    input:
        frames="results/{dataset}/ingest/frames",
        index="results/{dataset}/ingest/frames.json",
        weights=landmark_weights_input,
        code=code("face", "io"),
    output:
        landmarks="results/{dataset}/face/landmarks.npz",
        notices=notice_file("detect_landmarks"),
    params:
        flags=landmark_flags,
    log:
        "logs/{dataset}/face/detect_landmarks.log",
    benchmark:
        "logs/benchmarks/{dataset}/face/detect_landmarks.tsv"
    conda:
        "../../envs/face.yaml"
    priority: CRITICAL_PATH
    shell:
        "python -m gtalker.face.landmarks --frames {input.frames} --out {output.landmarks} {params.flags} "
        "--notices {output.notices} --device $GTALKER_DEVICE > {log} 2>&1"


rule parse_faces:
    input:
        frames="results/{dataset}/ingest/frames",
        landmarks="results/{dataset}/face/landmarks.npz",
        weights=parsing_weights_input,
        code=code("face", "io"),
    output:
        parsing=directory("results/{dataset}/face/parsing"),
        fine=directory("results/{dataset}/face/parsing_fine"),
        report="results/{dataset}/face/parsing.json",
        notices=notice_file("parse_faces"),
    params:
        flags=parsing_flags,
    log:
        "logs/{dataset}/face/parse_faces.log",
    benchmark:
        "logs/benchmarks/{dataset}/face/parse_faces.tsv"
    conda:
        "../../envs/face.yaml"
    threads: 2 if config["parsing"]["backend"] == "bisenet" else 1  # the heuristic is single-threaded
    priority: CRITICAL_PATH
    shell:
        "python -m gtalker.face.parsing --frames {input.frames} --landmarks {input.landmarks} "
        "--out {output.parsing} --out-fine {output.fine} {params.flags} --device $GTALKER_DEVICE "
        "--report {output.report} --notices {output.notices} > {log} 2>&1"


rule extract_background:
    input:
        frames="results/{dataset}/ingest/frames",
        parsing="results/{dataset}/face/parsing",
        code=code("face", "io"),
    output:
        bc="results/{dataset}/face/bc.jpg",
        report="results/{dataset}/face/background.json",
        notices=notice_file("extract_background"),
    params:
        flags=flag_string(config["background"]),
        quality=config["preprocess"]["jpeg_quality"],
    log:
        "logs/{dataset}/face/extract_background.log",
    benchmark:
        "logs/benchmarks/{dataset}/face/extract_background.tsv"
    conda:
        "../../envs/face.yaml"
    priority: CRITICAL_PATH
    shell:
        "python -m gtalker.face.background --frames {input.frames} --parsing {input.parsing} "
        "--out {output.bc} --report {output.report} --notices {output.notices} {params.flags} "
        "--jpeg-quality {params.quality} > {log} 2>&1"


rule composite_torso:
    input:
        frames="results/{dataset}/ingest/frames",
        parsing="results/{dataset}/face/parsing",
        background="results/{dataset}/face/bc.jpg",
        report="results/{dataset}/face/background.json",
        code=code("face", "io"),
    output:
        torso=directory("results/{dataset}/face/torso"),
        gt=directory("results/{dataset}/face/gt"),
        torso_bg=directory("results/{dataset}/face/torso_bg"),
    params:
        flags=flag_string(config["torso"]),
        quality=config["preprocess"]["jpeg_quality"],
    log:
        "logs/{dataset}/face/composite_torso.log",
    benchmark:
        "logs/benchmarks/{dataset}/face/composite_torso.tsv"
    conda:
        "../../envs/face.yaml"
    threads: 2
    priority: CRITICAL_PATH
    shell:
        "python -m gtalker.face.torso --frames {input.frames} --parsing {input.parsing} "
        "--background {input.background} --background-report {input.report} --out-torso {output.torso} "
        "--out-gt {output.gt} --out-torso-bg {output.torso_bg} {params.flags} --jpeg-quality {params.quality} "
        "> {log} 2>&1"


rule lip_boxes:
    input:
        landmarks="results/{dataset}/face/landmarks.npz",
        index="results/{dataset}/ingest/frames.json",
        code=code("face", "io"),
    output:
        "results/{dataset}/face/lips.npy",
    log:
        "logs/{dataset}/face/lip_boxes.log",
    conda:
        "../../envs/face.yaml"
    shell:
        "python -m gtalker.face.lips --landmarks {input.landmarks} --frames-json {input.index} "
        "--out {output} > {log} 2>&1"


rule detect_blinks:
    input:
        landmarks="results/{dataset}/face/landmarks.npz",
        code=code("face", "io"),
    output:
        blinks="results/{dataset}/face/blinks.npy",
        au="results/{dataset}/face/au.csv",
    params:
        flags=flag_string(config["blinks"]),
    log:
        "logs/{dataset}/face/detect_blinks.log",
    conda:
        "../../envs/face.yaml"
    shell:
        "python -m gtalker.face.blinks --landmarks {input.landmarks} --out {output.blinks} "
        "--au {output.au} {params.flags} > {log} 2>&1"


rule split_dataset:
    input:
        index="results/{dataset}/ingest/frames.json",
        code=code("face", "io"),
    output:
        split="results/{dataset}/split.json",
        notices=notice_file("split_dataset"),
    params:
        flags=flag_string(config["split"]),
    log:
        "logs/{dataset}/face/split_dataset.log",
    conda:
        "../../envs/face.yaml"
    shell:
        "python -m gtalker.face.split --frames-json {input.index} {params.flags} --out {output.split} "
        "--notices {output.notices} > {log} 2>&1"


rule download_bisenet_weights:
    input:
        code=code("face.weights"),
    output:
        config["parsing"]["bisenet"]["weights"],
    log:
        "logs/_resources/download_bisenet_weights.log",
    conda:
        "../../envs/face.yaml"
    localrule: True
    shell:
        "python -m gtalker.face.weights download --name bisenet --out {output} > {log} 2>&1"


rule download_fan_weights:
    input:
        code=code("face.weights"),
    output:
        config["landmarks"]["fan_weights"],
    log:
        "logs/_resources/download_fan_weights.log",
    conda:
        "../../envs/face.yaml"
    localrule: True
    shell:
        "python -m gtalker.face.weights download --name fan2d --out {output} > {log} 2>&1"


rule export_reference:
    input:
        unpack(reference_export_inputs),
        code=code("refdata", "refcams", "face", "fit", "io"),
    output:
        directory("results/{dataset}/reference"),
    params:
        flags=reference_export_flags,
    log:
        "logs/{dataset}/face/export_reference.log",
    benchmark:
        "logs/benchmarks/{dataset}/face/export_reference.tsv"
    conda:
        "../../envs/face.yaml"
    shell:
        "python -m gtalker.refdata export --results results/{wildcards.dataset} --out {output} "
        "{params.flags} > {log} 2>&1"


register_targets(face_targets)
