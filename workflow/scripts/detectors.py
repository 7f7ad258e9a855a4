"""Snakemake shim of the detectors (docs/study.md section 8): rule ``detect`` runs GIA and DFIM
on the seeds of one model configuration (lookloss.jobs.detect_models); rule ``detector_table``
writes tables/detectors.tsv (lookloss.jobs.write_detector_table)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821
from lookloss.logs import job_logger  # noqa: E402

smk = snakemake  # noqa: F821
log = job_logger(smk.log[0])
if smk.rule == "detector_table":
    from lookloss.jobs import write_detector_table

    table = write_detector_table(smk.input.models, list(smk.input.stats), smk.params.alpha, dict(smk.params.controls),
                                 smk.output)
    log.info("%d rows (detector x control x padding)", len(table))
else:
    from lookloss.devices import cpu_threads
    from lookloss.jobs import detect_models

    cpu_threads(smk.threads)
    w = smk.wildcards
    jobs = [{"model": model, "stats": stats,
             "identity": {"control": w.control, "padding": w.padding, "arch": w.arch, "l1": float(w.l1),
                          "seed": int(seed)}}
            for model, stats, seed in zip(smk.input.models, smk.output.stats, smk.params.seeds, strict=True)]
    detect_models(jobs, {"test": smk.input.test, "shuffled": smk.input.shuffled}, dict(smk.params.simulation),
                  dict(smk.params.detectors), log=log)
