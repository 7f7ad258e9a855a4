# Training (docs/study.md section 3). Three rules make the same files, one model folder each
# (models/{control}/{padding}/{arch}-l1_{l1}-seed_{seed}/): which one runs follows
# models.checkpoints and training.fuse (fuse_models() in common.smk).
#   - train: one job per model (CPU default; many small jobs fill many cores).
#   - train_group: one job per padding x architecture, its models (every control, L1
#     weight and seed) trained as one fused network (lookloss.fused): the GPU default.
#     A killed train_group job (time limit, lost node) resumes from its snapshot.
#   - import_models: with models.checkpoints, one job per padding x architecture copies
#     its models from a published folder, each file checked against its manifest.
# Asking for one model's file builds it with the rule in force; with fusion, its whole
# group. Both ask for `gpu_slots=1` unless training.device is cpu, so
# `--resources gpu_slots=N` caps the jobs that share a GPU (README, "Running on a GPU").

# What the models compute (fuse and max_fused change only how they are trained).
TRAINING = training_job_settings(config)
GPU_SLOTS = 1 if config["training"]["device"] != "cpu" else 0

CHECKPOINTS = MODELS["checkpoints"]

if CHECKPOINTS:

    ruleorder: import_models > train_group > train

elif fuse_models():

    ruleorder: train_group > train > import_models

else:

    ruleorder: train > train_group > import_models


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
        results("logs", "train", MODEL_DIR + ".log"),
    benchmark:
        results("benchmarks", "train", MODEL_DIR + ".tsv")
    threads: 1
    resources:
        gpu_slots=GPU_SLOTS,
    conda:
        ENV
    script:
        "../scripts/train.py"


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
        # a killed job resumes from here (lookloss.fused: at most a minute lost)
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


rule import_models:
    input:
        manifest=str(Path(CHECKPOINTS or ".") / "manifest.json"),
        simulated=split_files() + pair_files(),
        models=group_files("model.pt", CHECKPOINTS or "."),
        histories=group_files("history.tsv", CHECKPOINTS or "."),
        metrics=group_files("metrics.json", CHECKPOINTS or "."),
    output:
        models=group_files("model.pt"),
        histories=group_files("history.tsv"),
        metrics=group_files("metrics.json"),
    params:
        folder=CHECKPOINTS,
        simulated=lambda w: [str(Path(f).relative_to(RESULTS)) for f in split_files(w.padding) + pair_files(w.padding)],
        members=[member for member, _ in group_members()],
    log:
        results("logs", "import_models", "{padding}", "{arch}.log"),
    benchmark:
        results("benchmarks", "import_models", "{padding}", "{arch}.tsv")
    conda:
        ENV
    script:
        "../scripts/import_models.py"
