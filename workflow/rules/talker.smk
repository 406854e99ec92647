# The audio-driven deformation stage, one job per dataset and variant:
# results/{dataset}/{variant}/talker/model.pt (canonical + deformation) and train_log.json.
# Every talker setting of the variant is passed as a flag, so changing one reruns exactly its jobs.
# A killed job resumes from results/{dataset}/{variant}/talker/checkpoint.pt on the next run.

include: "talker_functions.smk"


rule train_talker:
    input:
        unpack(talker_inputs),
        perceptual=perceptual_input,
        landmarks="results/{dataset}/face/landmarks.npz",
        code=code("talker", "canonical", "splat", "data", "audio.windowing", "io", "face.landmarks",
                  "metrics.landmarks"),
    output:
        model="results/{dataset}/{variant}/talker/model.pt",
        log_json="results/{dataset}/{variant}/talker/train_log.json",
    params:
        flags=lambda w: talker_flags(w.variant) + view_flag(w),
    log:
        "logs/{dataset}/talker/train_talker.{variant}.log",
    benchmark:
        "logs/benchmarks/{dataset}/talker/train_talker.{variant}.tsv"
    conda:
        "../../envs/talker.yaml"
    threads: 2
    priority: CRITICAL_PATH
    shell:
        "python -m gtalker.talker train --dataset-dir results/{wildcards.dataset} --head {input.head} "
        "--features {input.features} --split {input.split} --out-model {output.model} "
        "--out-log {output.log_json} --device $GTALKER_DEVICE --threads {threads} {params.flags} "
        "> {log} 2>&1"


rule download_vgg16:
    output:
        "resources/vgg16-397923af.pth",
    log:
        "logs/resources/download_vgg16.log",
    conda:
        "../../envs/talker.yaml"
    localrule: True
    shell:
        "python -m gtalker.talker download-vgg --out {output} > {log} 2>&1"


register_targets(talker_targets)
