# Head tracking, one job per video: face-model fit to the landmarks (track.npz), per-split cameras
# (transforms_*.json) and initial point clouds (points_<init>.ply). The builtin face model ships in
# resources/face_models/builtin.npz; fit.model: bfm2009 converts the user's Basel Face Model files.

include: "fit_functions.smk"


rule convert_bfm:
    input:
        files=bfm_inputs,
        template=BUILTIN_MODEL,
        code=code("fit.bfm", "fit.facemodel", "fit.__main__"),
    output:
        BFM_MODEL,
    params:
        bfm_dir=lambda w: FIT["bfm_dir"],
        n_identity=FIT["bfm_n_identity"],
        n_expression=FIT["bfm_n_expression"],
    log:
        "logs/_models/convert_bfm.log",
    conda:
        "../../envs/fit.yaml"
    shell:
        "python -m gtalker.fit convert-bfm --bfm-dir {params.bfm_dir:q} --template {input.template} "
        "--n-identity {params.n_identity} --n-expression {params.n_expression} --out {output} > {log} 2>&1"


rule fit_face_model:
    input:
        landmarks="results/{dataset}/face/landmarks.npz",
        index="results/{dataset}/ingest/frames.json",
        model=face_model_file(),
        code=code("fit.tracker", "fit.facemodel", "fit.rotation", "fit.__main__"),
    output:
        "results/{dataset}/fit/track.npz",
    params:
        flags=track_flags,
    log:
        "logs/{dataset}/fit/fit_face_model.log",
    benchmark:
        "logs/benchmarks/{dataset}/fit/fit_face_model.tsv"
    conda:
        "../../envs/fit.yaml"
    threads: 1
    shell:
        "python -m gtalker.fit track --landmarks {input.landmarks} --frames-json {input.index} "
        "--model {input.model} {params.flags} --device $GTALKER_DEVICE --threads {threads} "
        "--out {output} > {log} 2>&1"


rule check_trainable:
    input:
        track="results/{dataset}/fit/track.npz",
        landmarks="results/{dataset}/face/landmarks.npz",
        split="results/{dataset}/split.json",
        code=code("fit.trainable", "fit.tracker", "fit.rotation", "face.landmarks"),
    output:
        report="results/{dataset}/fit/trainable.json",
        notices=notice_file("check_trainable"),
    params:
        flags=flag_string(config["trainable"]),
    log:
        "logs/{dataset}/fit/check_trainable.log",
    conda:
        "../../envs/fit.yaml"
    shell:
        "python -m gtalker.fit.trainable --track {input.track} --landmarks {input.landmarks} --split {input.split} "
        "{params.flags} --out {output.report} --notices {output.notices} > {log} 2>&1"


rule make_cameras:
    input:
        track="results/{dataset}/fit/track.npz",
        split="results/{dataset}/split.json",
        code=code("fit.cameras", "fit.tracker", "fit.rotation", "fit.__main__"),
    output:
        train="results/{dataset}/fit/transforms_train.json",
        val="results/{dataset}/fit/transforms_val.json",
    log:
        "logs/{dataset}/fit/make_cameras.log",
    conda:
        "../../envs/fit.yaml"
    shell:
        "python -m gtalker.fit cameras --track {input.track} --split {input.split} "
        "--out-train {output.train} --out-val {output.val} > {log} 2>&1"


rule init_points:
    input:
        track="results/{dataset}/fit/track.npz",
        model=face_model_file(),
        frames="results/{dataset}/ingest/frames",
        index="results/{dataset}/ingest/frames.json",
        split="results/{dataset}/split.json",
        code=code("fit.points", "fit.facemodel", "fit.tracker", "fit.cameras", "fit.__main__", "io"),
    output:
        "results/{dataset}/fit/points_{init}.ply",
    params:
        n_points=FIT["n_points"],
        seed=FIT["seed"],
    log:
        "logs/{dataset}/fit/init_points_{init}.log",
    conda:
        "../../envs/fit.yaml"
    shell:
        "python -m gtalker.fit points --track {input.track} --model {input.model} --frames-dir {input.frames} "
        "--split {input.split} --init {wildcards.init} --n-points {params.n_points} --seed {params.seed} "
        "--out {output} > {log} 2>&1"


register_targets(
    lambda d: [f"results/{d}/fit/track.npz", f"results/{d}/fit/transforms_train.json",
               f"results/{d}/fit/transforms_val.json"]
    + [f"results/{d}/fit/points_{init}.ply" for init in POINT_INITS]
)
