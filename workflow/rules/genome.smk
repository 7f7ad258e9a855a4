# Known truth at genome scale (presets/genome.yaml, docs/genome.md), used instead of the
# study's rules when the configuration has a `genome` section: the simulated genome, the
# BPNets of the grid (one job per model, one thread each; models/{truth}/{arch}-seed_{seed}/,
# as `lookloss grow` writes them) and the table of their held-out fit.
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


rule genome_fit:
    input:
        [results("models", genomegrow.key(i), "metrics.json") for i in genomegrow.grid_order(config)],
    output:
        results("tables", "genome_fit.tsv"),
    log:
        results("logs", "genome_fit.log"),
    conda:
        ENV
    script:
        "../scripts/genome_fit.py"
