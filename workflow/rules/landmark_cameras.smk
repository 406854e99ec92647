# Cameras and initial points from the 68 landmarks with a generic rigid template, no face model
# (gtalker.fit.rigid; method.md section 6, critique 4). Used by the variants with canonical.cameras:
# landmarks: results/{dataset}/_landmark_cameras/ is a view of the dataset folder (face/ and split.json
# linked) whose fit/ holds these cameras in the format of results/{dataset}/fit/.

include: "landmark_cameras_functions.smk"


rule landmark_cameras:
    input:
        landmarks="results/{dataset}/face/landmarks.npz",
        index="results/{dataset}/ingest/frames.json",
        split="results/{dataset}/split.json",
        code=code("fit.rigid", "fit.template", "fit.tracker", "fit.rotation", "fit.cameras"),
    output:
        track=f"results/{{dataset}}/{LANDMARK_VIEW}/fit/track.npz",
        train=f"results/{{dataset}}/{LANDMARK_VIEW}/fit/transforms_train.json",
        val=f"results/{{dataset}}/{LANDMARK_VIEW}/fit/transforms_val.json",
        # notices of the run only when a variant trains on these cameras
        notices=(notice_file("landmark_cameras") if LANDMARK_CAMERA_VARIANTS
                 else "results/{dataset}/notices/landmark_cameras.json"),
    params:
        flags=flag_string(config["landmark_cameras"]),
    log:
        "logs/{dataset}/fit/landmark_cameras.log",
    benchmark:
        "logs/benchmarks/{dataset}/fit/landmark_cameras.tsv"
    conda:
        "../../envs/fit.yaml"
    shell:
        "python -m gtalker.fit.rigid cameras --landmarks {input.landmarks} --frames-json {input.index} "
        "--split {input.split} {params.flags} --out-track {output.track} --out-train {output.train} "
        "--out-val {output.val} --notices {output.notices} > {log} 2>&1"


rule landmark_points:
    input:
        track=f"results/{{dataset}}/{LANDMARK_VIEW}/fit/track.npz",
        landmarks="results/{dataset}/face/landmarks.npz",
        frames="results/{dataset}/ingest/frames",
        split="results/{dataset}/split.json",
        code=code("fit.rigid", "fit.template", "fit.points", "fit.cameras", "io"),
    output:
        f"results/{{dataset}}/{LANDMARK_VIEW}/fit/points_{{init}}.ply",
    wildcard_constraints:
        init="landmarks|random",
    params:
        n_points=FIT["n_points"],
        seed=FIT["seed"],
    log:
        "logs/{dataset}/fit/landmark_points_{init}.log",
    conda:
        "../../envs/fit.yaml"
    shell:
        "python -m gtalker.fit.rigid points --track {input.track} --landmarks {input.landmarks} "
        "--frames-dir {input.frames} --split {input.split} --init {wildcards.init} --n-points {params.n_points} "
        "--seed {params.seed} --out {output} > {log} 2>&1"


rule landmark_view:
    input:
        landmarks="results/{dataset}/face/landmarks.npz",
        split="results/{dataset}/split.json",
        code=code("fit.rigid"),
    output:
        f"results/{{dataset}}/{LANDMARK_VIEW}/view.json",
    log:
        "logs/{dataset}/fit/landmark_view.log",
    conda:
        "../../envs/fit.yaml"
    localrule: True
    shell:
        "python -m gtalker.fit.rigid view --dataset-dir results/{wildcards.dataset} "
        f"--view-dir results/{{wildcards.dataset}}/{LANDMARK_VIEW} --out {{output}} > {{log}} 2>&1"


rule check_trainable_landmarks:
    input:
        track=f"results/{{dataset}}/{LANDMARK_VIEW}/fit/track.npz",
        landmarks="results/{dataset}/face/landmarks.npz",
        split="results/{dataset}/split.json",
        code=code("fit.trainable", "fit.tracker", "fit.rotation", "face.landmarks"),
    output:
        report=f"results/{{dataset}}/{LANDMARK_VIEW}/fit/trainable.json",
        notices=(notice_file("check_trainable_landmarks") if LANDMARK_CAMERA_VARIANTS
                 else "results/{dataset}/notices/check_trainable_landmarks.json"),
    params:
        flags=flag_string(config["trainable"]),
    log:
        "logs/{dataset}/fit/check_trainable_landmarks.log",
    conda:
        "../../envs/fit.yaml"
    shell:
        "python -m gtalker.fit.trainable --track {input.track} --landmarks {input.landmarks} --split {input.split} "
        "--cameras landmarks {params.flags} --out {output.report} --notices {output.notices} > {log} 2>&1"
