"""Snakemake shim: interaction tables and statistics of one model (lookloss.runs.analyse_model)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821
import torch  # noqa: E402

from lookloss.logs import job_logger  # noqa: E402
from lookloss.runs import analyse_model  # noqa: E402

smk = snakemake  # noqa: F821
torch.set_num_threads(smk.threads)
sets = smk.params.pair_sets
w = smk.wildcards
analyse_model(
    smk.input.model,
    smk.input.metrics,
    dict(zip(sets, smk.input.pairs, strict=True)),
    dict(zip(sets, smk.output.tables, strict=True)),
    smk.output.stats,
    {"control": w.control, "padding": w.padding, "arch": w.arch, "l1": float(w.l1), "seed": int(w.seed)},
    log=job_logger(smk.log[0]),
)
