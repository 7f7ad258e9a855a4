# Interaction effects, loss tests and the study's tables (STUDY.md section 4).


rule interactions:
    input:
        model=results("models", "{control}", "{padding}", "{arch}-l1_{l1}-seed_{seed}", "model.pt"),
        metrics=results("models", "{control}", "{padding}", "{arch}-l1_{l1}-seed_{seed}", "metrics.json"),
        pairs=expand(results("simulation", "{{padding}}", "pairs_{s}.npz"), s=PAIR_SETS),
    output:
        tables=expand(
            results("interactions", "{{control}}", "{{padding}}", "{{arch}}-l1_{{l1}}-seed_{{seed}}", "{s}.parquet"),
            s=PAIR_SETS,
        ),
        stats=results("interactions", "{control}", "{padding}", "{arch}-l1_{l1}-seed_{seed}", "stats.json"),
    params:
        pair_sets=PAIR_SETS,
    log:
        results("logs", "interactions", "{control}", "{padding}", "{arch}-l1_{l1}-seed_{seed}.log"),
    benchmark:
        results("benchmarks", "interactions", "{control}", "{padding}", "{arch}-l1_{l1}-seed_{seed}.tsv")
    threads: 1
    conda:
        ENV
    script:
        "../scripts/interactions.py"


rule tables:
    input:
        per_model("interactions", "stats.json"),
    output:
        models=report(results("tables", "models.tsv"), caption="../report/models.rst", category="Tables"),
        summary=report(results("tables", "summary.tsv"), caption="../report/summary.rst", category="Tables"),
        consistency=report(
            results("tables", "consistency.tsv"), caption="../report/consistency.rst", category="Tables"
        ),
    params:
        alpha=config["analysis"]["alpha"],
        consistency_fraction=config["analysis"]["consistency_fraction"],
    log:
        results("logs", "tables.log"),
    conda:
        ENV
    script:
        "../scripts/tables.py"
