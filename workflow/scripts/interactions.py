"""Snakemake shim: interaction tables and statistics of the seeds of one model configuration.

Calls lookloss.jobs.analyse_models; output.tables lists, per seed in params.seeds, one
Parquet file per set of params.pair_sets.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821
from lookloss.devices import cpu_threads  # noqa: E402
from lookloss.logs import job_logger  # noqa: E402
from lookloss.jobs import analyse_models  # noqa: E402

smk = snakemake  # noqa: F821
cpu_threads(smk.threads)
sets, seeds, w = list(smk.params.pair_sets), list(smk.params.seeds), smk.wildcards
tables = list(smk.output.tables)
jobs = [
    {
        "model": smk.input.models[i],
        "metrics": smk.input.metrics[i],
        "tables": dict(zip(sets, tables[i * len(sets):(i + 1) * len(sets)], strict=True)),
        "stats": smk.output.stats[i],
        "identity": {"control": w.control, "padding": w.padding, "arch": w.arch, "l1": float(w.l1), "seed": int(seed)},
    }
    for i, seed in enumerate(seeds)
]
analyse_models(jobs, dict(zip(sets, smk.input.pairs, strict=True)), log=job_logger(smk.log[0]))
