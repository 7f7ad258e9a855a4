# One job per model of the grid: control x padding x arch x l1 x seed (STUDY.md section 3).
# On a GPU several of these small models share one card: each job asks for
# `gpu_slots=1` (see README "Running on a GPU"), and `--resources gpu_slots=N`
# caps how many run on the card at once.


rule train:
    input:
        splits=split_files(),
    output:
        model=model_file("models", "model.pt"),
        history=model_file("models", "history.tsv"),
        metrics=model_file("models", "metrics.json"),
    params:
        training=config["training"],
        splits=layout.SPLITS,
    log:
        results("logs", "train", MODEL_DIR + ".log"),
    benchmark:
        results("benchmarks", "train", MODEL_DIR + ".tsv")
    threads: 1
    resources:
        gpu_slots=1 if config["training"]["device"] != "cpu" else 0,
    conda:
        ENV
    script:
        "../scripts/train.py"
