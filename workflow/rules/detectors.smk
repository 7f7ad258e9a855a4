# Two more interaction detectors besides the study's, global importance analysis and deep
# feature interaction maps (docs/study.md section 8; lookloss.detectors), and their table
# beside the study's magnitude and loss tests. Like the analysis, one job runs the seeds
# of one control x padding x arch x L1 (a process start costs about one model's work).
# `snakemake --cores 2 detector_table` writes tables/detectors.tsv; the figure is the
# rule `detectors` (workflow/rules/figures.smk, from lookloss.figures.FIGURES).


rule detect:
    input:
        models=seed_files("models", "model.pt"),
        test=results("simulation", "{padding}", "pairs_test.npz"),
        shuffled=results("simulation", "{padding}", "pairs_shuffled.npz"),
        motifs=SIM["motif_file"],
    output:
        stats=seed_files("detectors", "stats.json"),
    params:
        seeds=MODELS["seeds"],
        simulation=SIM,
        detectors=config["detectors"],
    log:
        results("logs", "detect", "{control}", "{padding}", "{arch}-l1_{l1}.log"),
    benchmark:
        results("benchmarks", "detect", "{control}", "{padding}", "{arch}-l1_{l1}.tsv")
    threads: 1
    conda:
        ENV
    script:
        "../scripts/detectors.py"


rule detector_table:
    input:
        models=results("tables", "models.tsv"),
        stats=detector_stats(),
    output:
        table=report(
            results("tables", "detectors.tsv"), caption="../report/detectors_table.rst", category="Tables"
        ),
        per_model=results("tables", "detector_models.tsv"),
    params:
        alpha=config["analysis"]["alpha"],
        controls={c: SIM["controls"][c] for c in MODELS["controls"]},
    log:
        results("logs", "detector_table.log"),
    benchmark:
        results("benchmarks", "detector_table.tsv")
    conda:
        ENV
    script:
        "../scripts/detectors.py"
