"""Snakemake shim: train one BPNet of the genome-scale grid (lookloss.bpnets.train)."""
import contextlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821
from lookloss import bpnets  # noqa: E402

smk = snakemake  # noqa: F821
w = smk.wildcards
Path(smk.log[0]).parent.mkdir(parents=True, exist_ok=True)
with open(smk.log[0], "w") as handle, contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
    bpnets.train(smk.params.config, smk.params.sim, w.truth, w.arch, int(w.seed), Path(smk.output.metrics).parent,
                 threads=smk.threads)
