# Interaction effects, loss tests and the study's tables (docs/study.md section 4).


# One job analyses the seeds of one control x padding x arch x L1 (5 models by default):
# starting a Python process that imports torch, pandas and scipy costs about as much as
# analysing one model, so 36 jobs instead of 180 (BENCHMARKS.md, analysis time). The
# study's own analysis and tables go before the extra detectors (detectors.smk): with
# both ready, Snakemake runs the higher priority first, so the study's answer comes first.
rule interactions:
    input:
        models=seed_files("models", "model.pt"),
        metrics=seed_files("models", "metrics.json"),
        pairs=pair_files(),
    output:
        tables=seed_files("interactions", "{s}.parquet", pair_sets=layout.PAIR_SETS),
        stats=seed_files("interactions", "stats.json"),
    params:
        seeds=MODELS["seeds"],
        pair_sets=layout.PAIR_SETS,
    log:
        results("logs", "interactions", "{control}", "{padding}", "{arch}-l1_{l1}.log"),
    benchmark:
        results("benchmarks", "interactions", "{control}", "{padding}", "{arch}-l1_{l1}.tsv")
    threads: 1
    priority: 10
    conda:
        ENV
    script:
        "../scripts/interactions.py"


rule tables:
    input:
        stats=per_model("interactions", "stats.json"),
        truth=truth_files(),
    output:
        models=report(results("tables", "models.tsv"), caption="../report/models.rst", category="Tables"),
        summary=report(results("tables", "summary.tsv"), caption="../report/summary.rst", category="Tables"),
        consistency=report(
            results("tables", "consistency.tsv"), caption="../report/consistency.rst", category="Tables"
        ),
        power=report(results("tables", "power.tsv"), caption="../report/power_table.rst", category="Tables"),
    params:
        alpha=config["analysis"]["alpha"],
        consistency_fraction=config["analysis"]["consistency_fraction"],
        controls={c: SIM["controls"][c] for c in MODELS["controls"]},
    log:
        results("logs", "tables.log"),
    benchmark:
        results("benchmarks", "tables.tsv")
    priority: 10
    conda:
        ENV
    script:
        "../scripts/tables.py"
