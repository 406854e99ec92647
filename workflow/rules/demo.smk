# The built-in demo video: a talking head generated from a real face photo (gtalker.demo).


rule make_demo_video:
    input:
        code=code("demo", "demo_voice", "espeak", "phones", "io",
                  *(["demo_scene", "face.regions"] if config["demo"]["scene"] == "hard" else [])),
    output:
        video="results/_demo/demo.mp4",
        truth="results/_demo/truth.npz",
    params:
        seconds=config["demo"]["seconds"],
        size=config["demo"]["size"],
        seed=config["demo"]["seed"],
        scene=config["demo"]["scene"],
        voice=config["demo"]["voice"],
    log:
        "logs/_demo/make_demo_video.log",
    conda:
        "../../envs/ingest.yaml"
    shell:
        "python -m gtalker.demo --out {output.video} --truth {output.truth} --seconds {params.seconds} "
        "--size {params.size} --seed {params.seed} --scene {params.scene} --voice {params.voice} > {log} 2>&1"
