# Simulated sequences, labels, pair sets and nulls (STUDY.md sections 1-2).


rule simulate:
    input:
        motifs=SIM["motif_file"],
    output:
        splits=expand(results("simulation", "{{padding}}", "{split}.npz"), split=SPLITS),
        pairs=expand(results("simulation", "{{padding}}", "pairs_{s}.npz"), s=PAIR_SETS),
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
