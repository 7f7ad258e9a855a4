"""Snakemake shim: simulate one padding mode (lookloss.simulation.write)."""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821
from lookloss import simulation  # noqa: E402
from lookloss.logs import job_logger  # noqa: E402

log = job_logger(snakemake.log[0])  # noqa: F821
start = time.perf_counter()
sim = simulation.Simulation.from_config(snakemake.params.simulation)  # noqa: F821
summary = simulation.write(sim, snakemake.wildcards.padding, Path(snakemake.output.summary).parent)  # noqa: F821
log.info("simulated padding=%s in %.1f s\n%s", snakemake.wildcards.padding,  # noqa: F821
         time.perf_counter() - start, summary.to_string(index=False))
