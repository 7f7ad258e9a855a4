"""Snakemake shim: the held-out fit of every model of the genome-scale grid (lookloss.genometables.fit_table)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821
from lookloss import genometables, io  # noqa: E402

io.write_tsv(snakemake.output[0], genometables.fit_table(snakemake.input))  # noqa: F821
