"""Snakemake shim: copy the models of one padding x architecture from a published folder
(lookloss.checkpoints.import_models), every file checked against the manifest first."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821
from lookloss.checkpoints import import_models  # noqa: E402
from lookloss.logs import job_logger  # noqa: E402

smk = snakemake  # noqa: F821
log = job_logger(smk.log[0])
w = smk.wildcards
identities = [{**member, "padding": w.padding, "arch": w.arch} for member in smk.params.members]
outs = [{"model": m, "history": h, "metrics": x}
        for m, h, x in zip(smk.output.models, smk.output.histories, smk.output.metrics, strict=True)]
import_models(smk.params.folder, identities, outs, dict(zip(smk.params.simulated, smk.input.simulated, strict=True)))
log.info("%d models of %s/%s taken from %s, each file matching its sha256 in the manifest, trained on this simulation",
         len(outs), w.arch, w.padding, smk.params.folder)
