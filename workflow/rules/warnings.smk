# What the steps decided about each dataset's input (see gtalker.notices), gathered into one file per
# dataset; the end-of-run summary prints it.


rule gather_warnings:
    input:
        notices=notice_files,
        code=code("notices"),
    output:
        "results/{dataset}/warnings.json",
    log:
        "logs/{dataset}/warnings.log",
    conda:
        "../../envs/ingest.yaml"
    localrule: True
    shell:
        "python -m gtalker.notices gather --dataset {wildcards.dataset} --out {output} "
        "{input.notices} > {log} 2>&1"


register_targets(lambda d: [f"results/{d}/warnings.json"])
