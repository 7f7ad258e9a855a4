"""Snakemake shim: train one model of the grid (lookloss.jobs.train_model)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821
from lookloss.logs import job_logger  # noqa: E402
from lookloss.jobs import train_model  # noqa: E402

smk = snakemake  # noqa: F821
w = smk.wildcards
train_model(
    dict(zip(smk.params.splits, smk.input.splits, strict=True)),
    {"model": smk.output.model, "history": smk.output.history, "metrics": smk.output.metrics},
    {"control": w.control, "padding": w.padding, "arch": w.arch, "l1": float(w.l1), "seed": int(w.seed)},
    smk.params.training,
    threads=smk.threads,
    log=job_logger(smk.log[0]),
)
