"""Snakemake shim: the tests on one BPNet of the genome-scale grid (lookloss.genomeanalysis.analyse)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821
from lookloss import bpnets, checkpoints, genomeanalysis  # noqa: E402
from lookloss.logs import job_logger  # noqa: E402

smk = snakemake  # noqa: F821
job_logger(smk.log[0])
w = smk.wildcards
pairs, summary = genomeanalysis.analyse(bpnets.load(smk.input.model), smk.params.config, smk.params.sim, w.truth)
summary.update(truth=w.truth, arch=w.arch, seed=int(w.seed), model_sha256=checkpoints.sha256(smk.input.model))
genomeanalysis.write(pairs, summary, Path(smk.output.summary).parent)
