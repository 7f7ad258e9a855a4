"""Snakemake shim: the genome-scale run's figure (lookloss.genomefigures.flagged_figure)."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821
from lookloss import genomefigures, io  # noqa: E402

smk = snakemake  # noqa: F821
figure = genomefigures.flagged_figure(pd.read_csv(smk.input[0], sep="\t"))
with io.atomic_path(smk.output[0]) as tmp:
    figure.savefig(tmp, dpi=150, format="png", metadata={"Software": None})
