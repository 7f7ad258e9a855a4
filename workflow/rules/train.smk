# One job per model of the grid: control x padding x arch x l1 x seed (STUDY.md section 3).
# On a GPU several of these small models share one card: each job asks for
# `gpu_slots=1` (see README "Running on a GPU"), and `--resources gpu_slots=N`
# caps how many run on the card at once.


rule train:
    input:
        splits=expand(results("simulation", "{{padding}}", "{split}.npz"), split=SPLITS),
    output:
        model=results("models", "{control}", "{padding}", "{arch}-l1_{l1}-seed_{seed}", "model.pt"),
        history=results("models", "{control}", "{padding}", "{arch}-l1_{l1}-seed_{seed}", "history.tsv"),
        metrics=results("models", "{control}", "{padding}", "{arch}-l1_{l1}-seed_{seed}", "metrics.json"),
    params:
        training=config["training"],
        splits=SPLITS,
    log:
        results("logs", "train", "{control}", "{padding}", "{arch}-l1_{l1}-seed_{seed}.log"),
    benchmark:
        results("benchmarks", "train", "{control}", "{padding}", "{arch}-l1_{l1}-seed_{seed}.tsv")
    threads: 1
    resources:
        gpu_slots=1 if config["training"]["device"] != "cpu" else 0,
    conda:
        ENV
    script:
        "../scripts/train.py"
