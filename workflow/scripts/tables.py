"""Snakemake shim: the study's tables from every model's statistics (lookloss.jobs.write_tables)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821
from lookloss.logs import job_logger  # noqa: E402
from lookloss.jobs import write_tables  # noqa: E402

smk = snakemake  # noqa: F821
log = job_logger(smk.log[0])
table = write_tables(list(smk.input.stats), list(smk.input.truth), smk.params.alpha, smk.params.consistency_fraction,
                     dict(smk.params.controls), smk.output)
log.info("%d models tabulated", len(table))
