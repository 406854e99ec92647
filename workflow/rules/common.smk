# Helpers shared by every rules file (config validation, code inputs, targets, variant settings).

import copy
import os
import re
import shlex
import sys

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

SCHEMA = os.path.join(workflow.basedir, "workflow/schemas/config.schema.yaml")
SRC = os.path.join(workflow.basedir, "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)
from gtalker.settings import flag_string  # standard library only: the flags of a config section

from gtalker import runlock
from gtalker.omp import shell_exports as omp_exports  # standard library only
from snakemake_interface_executor_plugins.settings import ExecMode

# A run killed with kill -9 leaves its directory lock; the main Snakemake process removes it when the
# run that held it is gone (gtalker.runlock), so that a plain rerun goes on.
_MAIN_PROCESS = workflow.exec_mode == ExecMode.DEFAULT
if _MAIN_PROCESS:
    runlock.remove_stale_locks()
_LOCKS_BEFORE = runlock.lock_files()


def run_started():
    """onstart: record this run's lock files, so that a rerun after a kill can release them."""
    runlock.record_run(_LOCKS_BEFORE)


def run_ended():
    """onsuccess/onerror: the run ends normally (Snakemake releases its lock)."""
    runlock.release_run()



def _config_key(prefix, err):
    """Dotted key of a schema error (no trailing dot when the error is about `prefix` itself)."""
    return ".".join([prefix, *(str(p) for p in err.absolute_path)] if prefix else
                    [str(p) for p in err.absolute_path]) or "(top level)"


def _validate_config():
    """Check the config against the schema: each failing key and its message in a line (not the schema
    dump snakemake.utils.validate prints), then fill in the defaults."""
    import jsonschema

    with open(SCHEMA) as fh:
        schema = yaml.safe_load(fh)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(config),
                    key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = [f"  {_config_key('', e)}: {e.message[:300]}" for e in errors[:10]]
        raise WorkflowError("config: invalid settings (config.yaml and any --config/--configfile):\n"
                            + "\n".join(lines)
                            + "\nEvery key, its type and default: workflow/schemas/config.schema.yaml")
    validate(config, schema=SCHEMA, set_default=True)


_validate_config()

# Steps run as `python -m gtalker.<step>`, with the package on PYTHONPATH. Without conda, `python` is
# the interpreter that runs Snakemake (the .venv's); with --sdm conda it is the env's python.
_USING_CONDA = "conda" in str(workflow.deployment_settings.deployment_method).lower()
_PATH_EXPORT = "" if _USING_CONDA else f"export PATH={shlex.quote(os.path.dirname(sys.executable))}:$PATH; "
# The device (auto/cpu/cuda) reaches the steps as $GTALKER_DEVICE, not as a param: switching it does not
# change any result, so it must not rerun anything.
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={shlex.quote(SRC)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; {_PATH_EXPORT}"
    f"export GTALKER_DEVICE={config['device']}; "
    # torch/OpenMP threads spin-wait 3 ms by default, which is many times slower on a loaded machine.
    + omp_exports().replace("{", "{{").replace("}", "}}")
)

DATASETS = config["datasets"]
VARIANTS = config["variants"]
# The ablation set (method.md section 6): names of variants measured side by side (ablation.smk).
ABLATION = config.get("ablation") or {}
ABLATION_VARIANTS = list(ABLATION.get("variants") or [])
_unknown_ablation = [v for v in ABLATION_VARIANTS if v not in VARIANTS]
if _unknown_ablation:
    raise WorkflowError(f"config: ablation.variants: {_unknown_ablation} not defined under 'variants'; "
                        "define them there (name -> overrides) or drop them from the list")

# Priority of the jobs on a run's longest chain ((demo video ->) landmarks -> parsing -> background ->
# torso -> canonical -> talker, with the kernels' compilation and the audio features those two wait
# for): on few cores Snakemake starts them before side jobs ready at the same time (the face-model fit,
# exports, renders), which then run beside them or after them.
CRITICAL_PATH = 10

# The shared tier any stage may import (CONTRACTS.md): every step depends on it.
SHARED_CODE = ("common", "settings", "imaging", "camera", "weights", "notices", "rng")


def code(*modules):
    """Source files of the given gtalker modules (e.g. 'ingest', 'io'), plus the shared tier.

    Rules list them as inputs so that a change to the step's code reruns the step.
    """
    files = [os.path.join(SRC, "gtalker", f"{name}.py") for name in SHARED_CODE]
    for mod in modules:
        base = os.path.join(SRC, "gtalker", *mod.split("."))
        if os.path.isdir(base):
            for root, _dirs, names in os.walk(base):
                files += [os.path.join(root, n) for n in sorted(names) if n.endswith(".py")]
        else:
            files.append(f"{base}.py")
    return sorted(set(files))


_TARGET_FUNCS = []


def register_targets(func):
    """Register func(dataset) -> list of final outputs; `rule all` asks for all of them."""
    _TARGET_FUNCS.append(func)
    return func


def all_targets():
    """Every registered output for every dataset."""
    out = []
    for dataset in DATASETS:
        for func in _TARGET_FUNCS:
            out += list(func(dataset))
    return out


_NOTICE_STEPS = []


def notice_file(step):
    """Output path of a step's notices (what it decided about the input; see gtalker.notices).

    A rule that can notice something lists it as an output and passes it as --notices; the file is
    gathered into results/<dataset>/warnings.json and printed at the end of the run.
    """
    if step not in _NOTICE_STEPS:
        _NOTICE_STEPS.append(step)
    return f"results/{{dataset}}/notices/{step}.json"


# Steps a reference-folder dataset does not run (rule import_reference makes their outputs instead).
REFERENCE_REPLACES = ("probe", "extract_frames", "extract_audio", "detect_landmarks", "parse_faces",
                      "extract_background", "composite_torso", "lip_boxes", "detect_blinks", "split_dataset",
                      "fit_face_model", "make_cameras", "init_points")


def notice_files(wildcards):
    """Every registered step's notice file for one dataset, in registration order (for a reference
    folder the import's instead of those of the steps it replaces)."""
    reference = wildcards.dataset in REFERENCE_DATASETS
    steps = [s for s in _NOTICE_STEPS
             if (s not in REFERENCE_REPLACES if reference else s != "import_reference")]
    return [f"results/{wildcards.dataset}/notices/{step}.json" for step in steps]


def dataset_cfg(dataset):
    """The config entry of a dataset."""
    return DATASETS[dataset]


def _deep_merge(base, override):
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _validate_variants():
    with open(SCHEMA) as fh:
        schema = yaml.safe_load(fh)
    import jsonschema

    for name, variant in VARIANTS.items():
        for section in ("canonical", "talker"):
            merged = _deep_merge(config.get(section, {}), variant.get(section, {}))
            sub = schema["properties"][section]
            try:
                jsonschema.validate(merged, sub)
            except jsonschema.ValidationError as err:
                raise WorkflowError(
                    f"config: {_config_key(f'variants.{name}.{section}', err)}: {err.message}"
                ) from None


_validate_variants()


def variant_cfg(variant, section):
    """Settings of `section` ('canonical' or 'talker') for a variant: defaults + its overrides."""
    return _deep_merge(config.get(section, {}), VARIANTS[variant].get(section, {}))


def canonical_owner(variant):
    """The first variant (config order) whose canonical settings equal this variant's: variants that
    differ only in their talker share its canonical job (results/D/<owner>/canonical/)."""
    mine = variant_cfg(variant, "canonical")
    return next(v for v in VARIANTS if variant_cfg(v, "canonical") == mine)


def canonical_dir(dataset, variant):
    """results/D/<owner>/canonical: where a variant's canonical head and log are."""
    return f"results/{dataset}/{canonical_owner(variant)}/canonical"


# Datasets read from a reference-layout folder (rule import_reference) and those made from a video.
REFERENCE_DATASETS = [d for d, e in DATASETS.items() if e.get("reference")]
VIDEO_DATASETS = [d for d in DATASETS if d not in REFERENCE_DATASETS]


def dataset_regex(names):
    """Wildcard constraint matching exactly these dataset names (nothing when empty)."""
    return "|".join(re.escape(d) for d in names) if names else "(?!)"


def _check_reference(name, entry):
    """A reference folder must hold every file the import needs: each missing one is named, and only that
    dataset fails (its import job), as with a missing video."""
    for key in ("video", "audio", "start", "end"):
        if entry.get(key) is not None:
            raise WorkflowError(f"config: datasets.{name}: '{key}' does not apply to a 'reference' folder "
                                "(it is already cut and preprocessed); remove it")
    if SRC not in sys.path:
        sys.path.insert(0, SRC)
    from gtalker.refdata import missing_reference_files

    missing = missing_reference_files(entry["reference"])
    if missing:
        print(f"gtalker: config: datasets.{name}.reference: the folder cannot be trained from:\n  "
              + "\n  ".join(missing) + f"\nDataset {name!r} will fail (rule import_reference names the same "
              "files); the other datasets run.", file=sys.stderr)


def reference_folder(wildcards):
    """The dataset's reference folder as an input when it exists; a missing one fails the import job
    (naming it) instead of stopping every dataset's plan."""
    folder = dataset_cfg(wildcards.dataset)["reference"]
    return [folder] if os.path.isdir(folder) else []


def _is_built(path):
    """True for a source file that a rule makes (the built-in demo video)."""
    return path.startswith("results/_demo/")


def _check_datasets():
    """Warn about a dataset's missing source file: its own jobs fail (rule probe names the file), while
    the other datasets still plan and run (the default profile keeps going past a failed job)."""
    for name, entry in DATASETS.items():
        if entry.get("reference"):
            _check_reference(name, entry)
            continue
        for key in ("video", "audio"):
            path = entry.get(key)
            if path and not _is_built(path) and not os.path.exists(path):
                print(f"gtalker: config: datasets.{name}.{key}: file {path!r} not found; fix the path in "
                      "config.yaml (relative paths are relative to the working directory). Dataset "
                      f"{name!r} will fail; the other datasets run.", file=sys.stderr)
        start, end = entry.get("start"), entry.get("end")
        if start is not None and end is not None and end <= start:
            raise WorkflowError(f"config: datasets.{name}: end ({end}) must be after start ({start})")


_check_datasets()


def passage_opts(wildcards):
    """CLI flags for a dataset's optional start/end cut."""
    entry = dataset_cfg(wildcards.dataset)
    opts = []
    if entry.get("start") is not None:
        opts.append(f"--start {entry['start']}")
    if entry.get("end") is not None:
        opts.append(f"--end {entry['end']}")
    return " ".join(opts)


def audio_opt(wildcards):
    """CLI flag for a dataset's separate audio file, if any (shell-quoted: any character works)."""
    audio = dataset_cfg(wildcards.dataset).get("audio")
    return f"--audio {shlex.quote(audio)}" if audio else ""


def source_path(key):
    """Params function: the dataset's `key` file ('video'), passed to the step as given."""
    return lambda wildcards: dataset_cfg(wildcards.dataset)[key]


def source_input(key):
    """Input function: the dataset's `key` file ('video' or 'audio') when the dataset names one that
    exists or that a rule makes. A missing file is left out of the inputs, so that it fails only its own
    dataset's probe (whose message names it) instead of stopping every dataset's jobs."""

    def files(wildcards):
        path = dataset_cfg(wildcards.dataset).get(key)
        return [path] if path and (_is_built(path) or os.path.exists(path)) else []

    return files


def audio_input(wildcards):
    """The separate audio file as an input, when the dataset names one."""
    return source_input("audio")(wildcards)


def short_opt(wildcards):
    """--allow-short when the dataset allows a short video (the built-in demo's length is demo.seconds)."""
    entry = dataset_cfg(wildcards.dataset)
    return "--allow-short" if entry.get("allow_short") or _is_built(entry["video"]) else ""


def mismatch_opt(wildcards):
    """--audio-mismatch pad|trim when the dataset accepts audio of another length than the video."""
    how = dataset_cfg(wildcards.dataset).get("audio_mismatch")
    return f"--audio-mismatch {how}" if how else ""


def check_cluster_fit():
    """On SLURM (onstart): stop at once, with the fix, when a job would pend forever or never be tracked."""
    plugin = workflow.executor_plugin
    if plugin is None or getattr(plugin, "name", None) != "slurm":
        return
    from gtalker import cluster

    status = getattr(workflow.executor_settings, "status_command", None)
    jobs = [job for job in workflow.dag.needrun_jobs() if not job.is_local]
    requests = [cluster.request_of(job.rule.name, job.resources, job.threads) for job in jobs]
    try:
        partitions = cluster.cluster_partitions()
    except RuntimeError as err:
        raise WorkflowError(f"SLURM executor: {err}") from None
    bad = cluster.problems(requests, partitions)
    messages = [cluster.fix_hint(bad)] if bad else []
    if status != "squeue" and not cluster.accounting_enabled():
        messages.append(cluster.NO_ACCOUNTING)
    if messages:
        raise WorkflowError("\n".join(messages))


def print_summary():
    """After a successful run: what the pipeline decided about each dataset's input, where the
    rendered videos and the metrics table are."""
    from gtalker.notices import summary_lines

    warned = [line for d in DATASETS for line in summary_lines(os.path.join("results", d, "warnings.json"))]
    if warned:
        print("\ngtalker warnings (decisions about the input that change the result):", file=sys.stderr)
        print("\n".join(warned), file=sys.stderr)
    lines = []
    for dataset in DATASETS:
        for variant in VARIANTS:
            render_dir = os.path.join("results", dataset, variant, "render")
            if os.path.isdir(render_dir):
                for root, _dirs, names in os.walk(render_dir):
                    lines += [f"  video   {os.path.join(root, n)}" for n in sorted(names) if n.endswith(".mp4")]
            metrics = os.path.join("results", dataset, variant, "metrics.json")
            if os.path.exists(metrics):
                lines.append(f"  metrics {metrics}")
    table = os.path.join("results", "compare.tsv")
    if lines or os.path.exists(table):
        print("\ngtalker results:", file=sys.stderr)
        print("\n".join(lines), file=sys.stderr)
    if os.path.exists(table):
        print(f"\nMetrics table ({table}):", file=sys.stderr)
        with open(table) as fh:
            print(fh.read(), file=sys.stderr)
