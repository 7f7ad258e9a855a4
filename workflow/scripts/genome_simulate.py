"""Snakemake shim: simulate the genome (lookloss.genomegrow.ensure_simulation)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821
from lookloss import genomegrow  # noqa: E402
from lookloss.logs import job_logger  # noqa: E402

job_logger(snakemake.log[0])  # noqa: F821
results = Path(snakemake.output[0]).parent  # noqa: F821
genomegrow.ensure_simulation(snakemake.params.config, results.parent, root=snakemake.params.root)  # noqa: F821
