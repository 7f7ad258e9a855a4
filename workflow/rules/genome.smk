# Known truth at genome scale (presets/genome.yaml, docs/genome.md), used instead of the
# study's rules when the configuration has a `genome` section: the simulated genome, the
# BPNets of the grid (one job per model, one thread each; models/{truth}/{arch}-seed_{seed}/,
# as `lookloss grow` writes them), the tests on each model's held-out chromosome
# (analysis/{truth}/{arch}-seed_{seed}/), the tables and the figure. Named targets:
# genome_simulate, genome_tables, genome_figure.
from lookloss import genomegrow, genomesim  # noqa: E402

GENOME = config["genome"]


wildcard_constraints:
    truth="|".join(genomesim.TRUTHS),
    arch="bpnet|additive",
    seed=r"\d+",


def genome_simulated():
    """Every file of the simulated genome."""
    return [results("simulation", name) for name in genomesim.files()]



rule genome_simulate:
    output:
        genome_simulated(),
    params:
        config=config,
        root=workflow.basedir,
    log:
        results("logs", "genome_simulate.log"),
    benchmark:
        results("benchmarks", "genome_simulate.tsv")
    conda:
        ENV
    script:
        "../scripts/genome_simulate.py"


rule genome_train:
    input:
        genome_simulated(),
    output:
        model=results("models", "{truth}", "{arch}-seed_{seed}", "model.pt"),
        history=results("models", "{truth}", "{arch}-seed_{seed}", "history.tsv"),
        metrics=results("models", "{truth}", "{arch}-seed_{seed}", "metrics.json"),
    params:
        config=config,
        sim=results("simulation"),
    log:
        results("logs", "train-{truth}-{arch}-seed_{seed}.log"),
    benchmark:
        results("benchmarks", "genome_train", "{truth}-{arch}-seed_{seed}.tsv")
    threads: 1
    conda:
        ENV
    script:
        "../scripts/genome_train.py"


rule genome_analyse:
    input:
        genome_simulated(),
        model=results("models", "{truth}", "{arch}-seed_{seed}", "model.pt"),
    output:
        pairs=results("analysis", "{truth}", "{arch}-seed_{seed}", "pairs.tsv"),
        summary=results("analysis", "{truth}", "{arch}-seed_{seed}", "summary.json"),
    params:
        config=config,
        sim=results("simulation"),
        root=workflow.basedir,
    log:
        results("logs", "analyse-{truth}-{arch}-seed_{seed}.log"),
    threads: 1
    conda:
        ENV
    script:
        "../scripts/genome_analyse.py"


def genome_per_model(stage, name):
    """One file of every model of the grid."""
    return [results(stage, genomegrow.key(i), name) for i in genomegrow.grid_order(config)]


rule genome_tables:
    input:
        metrics=genome_per_model("models", "metrics.json"),
        summaries=genome_per_model("analysis", "summary.json"),
    output:
        **{name: results("tables", f"{name}.tsv") for name in ("fit", "models", "flagged", "consistency", "ceilings")},
    params:
        sim=results("simulation"),
        truths=GENOME["models"]["truths"],
        alpha=config["analysis"]["alpha"],
        fraction=config["analysis"]["consistency_fraction"],
    log:
        results("logs", "genome_tables.log"),
    conda:
        ENV
    script:
        "../scripts/genome_tables.py"


rule genome_figure:
    input:
        results("tables", "flagged.tsv"),
    output:
        results("figures", "genome.png"),
    log:
        results("logs", "genome_figure.log"),
    conda:
        ENV
    script:
        "../scripts/genome_figure.py"
