"""Snakemake shim: the study's tables from every model's statistics (lookloss.runs.write_tables)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821
from lookloss.logs import job_logger  # noqa: E402
from lookloss.runs import write_tables  # noqa: E402

smk = snakemake  # noqa: F821
log = job_logger(smk.log[0])
table = write_tables(list(smk.input), smk.params.alpha, smk.params.consistency_fraction, smk.output)
log.info("%d models tabulated", len(table))
