"""Snakemake shim: the genome-scale run's tables (lookloss.genometables)."""
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821
from lookloss import genometables, io  # noqa: E402

smk = snakemake  # noqa: F821
models = genometables.model_table([json.loads(Path(p).read_text()) for p in smk.input.summaries])
io.write_tsv(smk.output.fit, genometables.fit_table(smk.input.metrics))
io.write_tsv(smk.output.models, models)
io.write_tsv(smk.output.flagged, genometables.flagged_table(models, smk.params.alpha))
io.write_tsv(smk.output.consistency, genometables.consistency(models, smk.params.alpha, smk.params.fraction))
sim = Path(smk.params.sim)
test = json.loads((sim / "fold_0.json").read_text())["test"]
io.write_tsv(smk.output.ceilings, genometables.ceilings(pd.read_csv(sim / "loci.tsv", sep="\t"), smk.params.truths, test))
