"""Snakemake shim: train the models of one padding x architecture fused (lookloss.jobs.train_group)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821
from lookloss.logs import job_logger  # noqa: E402
from lookloss.jobs import train_group  # noqa: E402

smk = snakemake  # noqa: F821
w = smk.wildcards
outs = [
    {"model": model, "history": history, "metrics": metrics}
    for model, history, metrics in zip(smk.output.models, smk.output.histories, smk.output.metrics, strict=True)
]
identities = [{**member, "padding": w.padding, "arch": w.arch} for member in smk.params.members]
train_group(
    dict(zip(smk.params.splits, smk.input.splits, strict=True)),
    outs,
    identities,
    {**smk.params.training, "max_fused": smk.params.max_fused},
    threads=smk.threads,
    snapshots=smk.params.snapshots,
    log=job_logger(smk.log[0]),
)
