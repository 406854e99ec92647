# The built-in demo video: a talking head generated from a real face photo (gtalker.demo).


rule make_demo_video:
    input:
        code=code("demo", "demo_voice", "espeak", "phones", "io",
                  *(["demo_scene", "face.regions"] if config["demo"]["scene"] == "hard" else [])),
    output:
        video="results/_demo/demo.mp4",
        truth="results/_demo/truth.npz",
    params:
        flags=flag_string(config["demo"]),
    log:
        "logs/_demo/make_demo_video.log",
    conda:
        "../../envs/ingest.yaml"
    priority: CRITICAL_PATH
    shell:
        "python -m gtalker.demo --out {output.video} --truth {output.truth} {params.flags} > {log} 2>&1"
