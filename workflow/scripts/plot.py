"""Snakemake shim: draw the figure named like the rule (lookloss.plots.draw) and save it."""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821
import matplotlib  # noqa: E402

matplotlib.use("Agg")
from lookloss import plots  # noqa: E402
from lookloss.logs import job_logger  # noqa: E402

smk = snakemake  # noqa: F821
log = job_logger(smk.log[0])
start = time.perf_counter()
inputs = {name: smk.input[name] for name in smk.input.keys()}
if isinstance(inputs.get("pairs"), str):  # a single file comes as a plain string
    inputs["pairs"] = [inputs["pairs"]]
fig = plots.draw(smk.rule, **inputs, options=dict(smk.params.options))
plots.save_figure(fig, smk.output.pdf, smk.output.png, dpi=int(smk.params.dpi))
log.info("%s: %s and %s in %.1f s (options %s)", smk.rule, smk.output.pdf, smk.output.png,
         time.perf_counter() - start, dict(smk.params.options))
