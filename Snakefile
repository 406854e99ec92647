# gtalker: video of one person talking -> audio-driven 3D Gaussian head, renders, metrics.
# Run:  snakemake --cores all            (default config: the built-in demo video)
#       snakemake --profile profiles/slurm   (cluster; GPU rules get a GPU)

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    dataset="|".join(re.escape(d) for d in DATASETS),
    variant="|".join(re.escape(v) for v in VARIANTS),


include: "workflow/rules/demo.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/face.smk"
include: "workflow/rules/audio.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/landmark_cameras.smk"
include: "workflow/rules/reference.smk"
include: "workflow/rules/canonical.smk"
include: "workflow/rules/talker.smk"
include: "workflow/rules/render.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/warnings.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/ablation.smk"


rule all:
    default_target: True
    input:
        all_targets(),
    localrule: True


onstart:
    check_cluster_fit()
    run_started()


onsuccess:
    run_ended()
    print_summary()


onerror:
    run_ended()
