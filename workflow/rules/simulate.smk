# Simulated sequences, labels, pair sets and nulls (docs/study.md sections 1-2).


rule simulate:
    input:
        motifs=SIM["motif_file"],
    output:
        splits=split_files(),
        pairs=pair_files(),
        summary=results("simulation", "{padding}", "summary.tsv"),
    params:
        simulation=SIM,
    log:
        results("logs", "simulate", "{padding}.log"),
    benchmark:
        results("benchmarks", "simulate", "{padding}.tsv")
    conda:
        ENV
    script:
        "../scripts/simulate.py"
