# The canonical (static) Gaussian head, one job per dataset and distinct canonical settings:
# results/{dataset}/{variant}/canonical/head.pt, gaussians.ply (3DGS layout) and train_log.json, where
# {variant} is the first variant with those settings (canonical_owner); the others use its files.
# Every canonical setting of the variant but `cameras` (which selects the cameras and points: see
# landmark_cameras_functions.smk) is passed as a flag (nested keys joined by "-"), so changing
# one reruns exactly its jobs. A killed job resumes from .../canonical/checkpoint.pt on the next run.

include: "canonical_functions.smk"


rule train_canonical:
    input:
        unpack(canonical_camera_inputs),  # track (+ view) and the check before training (notices) first
        gt="results/{dataset}/face/gt",
        torso_bg="results/{dataset}/face/torso_bg",
        parsing="results/{dataset}/face/parsing",
        lips="results/{dataset}/face/lips.npy",
        split="results/{dataset}/split.json",
        points=canonical_points,
        code=code("canonical", "splat", "data", "audio.windowing", "io"),
        kernels=ancient(KERNELS_REPORT),  # compiled beforehand; ancient: its rerun does not rerun training
    output:
        head="results/{dataset}/{variant}/canonical/head.pt",
        ply="results/{dataset}/{variant}/canonical/gaussians.ply",
        log_json="results/{dataset}/{variant}/canonical/train_log.json",
    params:
        flags=lambda w: canonical_flags(w.variant) + view_flag(w),
    log:
        "logs/{dataset}/canonical/train_canonical.{variant}.log",
    benchmark:
        "logs/benchmarks/{dataset}/canonical/train_canonical.{variant}.tsv"
    conda:
        "../../envs/splat.yaml"
    threads: 2
    priority: CRITICAL_PATH
    shell:
        "python -m gtalker.canonical --dataset-dir results/{wildcards.dataset} --points {input.points} "
        "--head {output.head} --ply {output.ply} --log {output.log_json} --device $GTALKER_DEVICE "
        "--threads {threads} {params.flags} > {log} 2>&1"


# The CPU kernels (rasteriser, tri-plane, upsampling) and librosa's numba functions compiled into their
# on-disk caches on one core, so that a fresh install compiles them while the single-threaded face steps
# run (~55 s) rather than inside train_canonical and the first audio job; results/_kernels/numba.json
# says which were compiled or loaded.
rule compile_kernels:
    input:
        code=code("kernels", "splat", "canonical.triplane_kernel", "talker.upsample", "audio.mel"),
    output:
        KERNELS_REPORT,
    log:
        "logs/_kernels/compile_kernels.log",
    benchmark:
        "logs/benchmarks/_kernels/compile_kernels.tsv"
    conda:
        "../../envs/splat.yaml"
    threads: 1
    priority: CRITICAL_PATH
    shell:
        "python -m gtalker.kernels --out {output} --device $GTALKER_DEVICE > {log} 2>&1"


register_targets(
    lambda d: [f"{canonical_dir(d, v)}/{name}" for v in VARIANTS
               for name in ("head.pt", "gaussians.ply", "train_log.json")]
)
