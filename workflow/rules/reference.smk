# Datasets given as a folder in the reference's layout (datasets: {name: {reference: folder}}): one job
# imports everything the later stages read, in place of ingest, face preprocessing and tracking; the
# folder's own audio features (aud_ds.npy / aud_hu.npy) replace the extraction of that backend.

rule import_reference:
    input:
        folder=reference_folder,
        code=code("refdata", "refcams", "face", "fit", "io"),
    output:
        frames=directory("results/{dataset}/ingest/frames"),
        index="results/{dataset}/ingest/frames.json",
        audio="results/{dataset}/ingest/audio.wav",
        landmarks="results/{dataset}/face/landmarks.npz",
        parsing=directory("results/{dataset}/face/parsing"),
        torso=directory("results/{dataset}/face/torso"),
        gt=directory("results/{dataset}/face/gt"),
        torso_bg=directory("results/{dataset}/face/torso_bg"),
        bc="results/{dataset}/face/bc.jpg",
        lips="results/{dataset}/face/lips.npy",
        blinks="results/{dataset}/face/blinks.npy",
        au="results/{dataset}/face/au.csv",
        split="results/{dataset}/split.json",
        track="results/{dataset}/fit/track.npz",
        train="results/{dataset}/fit/transforms_train.json",
        val="results/{dataset}/fit/transforms_val.json",
        points=expand("results/{{dataset}}/fit/points_{init}.ply", init=POINT_INITS),
        notices=notice_file("import_reference"),
    params:
        folder=lambda w: dataset_cfg(w.dataset)["reference"],
        fps=config["preprocess"]["fps"],
        fraction=config["split"]["train_fraction"],
        n_points=FIT["n_points"],
        seed=FIT["seed"],
    wildcard_constraints:
        dataset=dataset_regex(REFERENCE_DATASETS),
    log:
        "logs/{dataset}/reference/import_reference.log",
    benchmark:
        "logs/benchmarks/{dataset}/reference/import_reference.tsv"
    conda:
        "../../envs/face.yaml"
    shell:
        "python -m gtalker.refdata import --src {params.folder:q} --out results/{wildcards.dataset} "
        "--fps {params.fps} --train-fraction {params.fraction} --n-points {params.n_points} "
        "--seed {params.seed} --no-features --notices {output.notices} > {log} 2>&1"


# The reference folder's outputs come from the import, not from the steps that make them from a video
# (REFERENCE_REPLACES, common.smk; what `ruleorder: import_reference > step` says for each).
for _step in REFERENCE_REPLACES:
    workflow.ruleorder("import_reference", _step)
