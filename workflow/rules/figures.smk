# Figures 3-8 and S1-S5 (docs/study.md section 6, poster numbering): one rule per figure,
# named as its figure, generated from the figure table lookloss.figures.FIGURES (what
# each figure reads and which options it uses). `snakemake --cores 1 fig4` rebuilds
# figures/fig4.{pdf,png}. A rule's params hold only the options its figure uses, so
# changing one reruns just the figures that use it, nothing upstream. Captions for
# the HTML report: workflow/report/{name}.rst. Shim: workflow/scripts/plot.py. The
# figures are the study's answer, so they share the analysis' priority (analyse.smk) and
# go before the extra detectors.

# Every option a figure may take, named like its config key.
FIGURE_OPTIONS = {
    **config["figures"],
    "alpha": config["analysis"]["alpha"],
    "seq_len": SIM["seq_len"],
    "motifs": dict(SIM["motifs"]),
    "pseudocount": SIM["pseudocount"],
    "focus_controls": FOCUS_CONTROLS,
}


rule figures:
    input:
        figure_outputs(),


for figure, spec in figures.FIGURES.items():

    rule:
        name:
            figure
        input:
            **figure_inputs(spec),
        output:
            **{
                ext: report(
                    results("figures", f"{figure}.{ext}"),
                    caption=f"../report/{figure}.rst",
                    category="Figures",
                    labels={"figure": figure, "format": ext.upper()},
                )
                for ext in ("pdf", "png")
            },
        params:
            options={option: FIGURE_OPTIONS[option] for option in spec.all_options},
            dpi=config["figures"]["dpi"],
        priority: 10
        log:
            results("logs", "figures", f"{figure}.log"),
        benchmark:
            results("benchmarks", "figures", f"{figure}.tsv")
        conda:
            ENV
        script:
            "../scripts/plot.py"
