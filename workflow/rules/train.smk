# Training (docs/study.md section 3). Exactly one of three rules is defined, so that
# `snakemake --list-rules` shows the one that runs; each writes the same files, one model
# folder each (models/{control}/{padding}/{arch}-l1_{l1}-seed_{seed}/):
#   - import_models, with models.checkpoints: one job per padding x architecture copies
#     its models from a published folder (lookloss.checkpoints);
#   - train_group, where training fuses (fuse_models() in common.smk; a GPU by default):
#     one job per padding x architecture trains its models as one network (lookloss.fused);
#   - train, otherwise (the CPU): one job per model.
# Training jobs ask for one unit of `gpu_slots` unless training.device is cpu, so that
# `--resources gpu_slots=N` caps the jobs sharing a GPU (docs/running.md).

# What the models compute (fuse and max_fused change only how they are trained).
TRAINING = training_job_settings(config)
GPU_SLOTS = 1 if config["training"]["device"] != "cpu" else 0
CHECKPOINTS = MODELS["checkpoints"]


if CHECKPOINTS:

    rule import_models:
        input:
            manifest=str(Path(CHECKPOINTS, "manifest.json")),
            simulated=split_files() + pair_files(),
            models=group_files("model.pt", CHECKPOINTS),
            histories=group_files("history.tsv", CHECKPOINTS),
            metrics=group_files("metrics.json", CHECKPOINTS),
        output:
            models=group_files("model.pt"),
            histories=group_files("history.tsv"),
            metrics=group_files("metrics.json"),
        params:
            folder=CHECKPOINTS,
            simulated=simulated_names,
            members=[member for member, _ in group_members()],
        log:
            results("logs", "import_models", "{padding}", "{arch}.log"),
        benchmark:
            results("benchmarks", "import_models", "{padding}", "{arch}.tsv")
        priority: 20  # cheap, and everything waits on it: before the analysis (10) and the detectors (0)
        conda:
            ENV
        script:
            "../scripts/import_models.py"

elif fuse_models():

    rule train_group:
        input:
            splits=split_files(),
        output:
            models=group_files("model.pt"),
            histories=group_files("history.tsv"),
            metrics=group_files("metrics.json"),
        params:
            training=TRAINING,
            max_fused=config["training"]["max_fused"],
            splits=layout.SPLITS,
            members=[member for member, _ in group_members()],
            snapshots=lambda w: results("snapshots", f"train_group-{w.padding}-{w.arch}"),
        log:
            results("logs", "train_group", "{padding}", "{arch}.log"),
        benchmark:
            results("benchmarks", "train_group", "{padding}", "{arch}.tsv")
        threads: 1
        resources:
            gpu_slots=GPU_SLOTS,
        conda:
            ENV
        script:
            "../scripts/train_group.py"

else:

    rule train:
        input:
            splits=split_files(),
        output:
            model=model_file("models", "model.pt"),
            history=model_file("models", "history.tsv"),
            metrics=model_file("models", "metrics.json"),
        params:
            training=TRAINING,
            splits=layout.SPLITS,
        log:
            results("logs", "train", f"{MODEL_DIR}.log"),
        benchmark:
            results("benchmarks", "train", f"{MODEL_DIR}.tsv")
        threads: 1
        resources:
            gpu_slots=GPU_SLOTS,
        conda:
            ENV
        script:
            "../scripts/train.py"
