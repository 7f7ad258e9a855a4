# Figures 3-8 and S1-S5 (STUDY.md section 6, poster numbering), one rule per figure,
# each named as its figure: `snakemake --cores 1 fig4` rebuilds figures/fig4.{pdf,png}.
# A rule's params hold only the plotting options its figure uses (config key
# `figures`), so changing one reruns just the figures that use it, nothing upstream.
# Plotting code: src/lookloss/plots.py; shim: workflow/scripts/plot.py.

FIGURES_CONFIG = config.get("figures", {})
FIGURE_DPI = FIGURES_CONFIG.get("dpi", 150)
FIGURE_NAMES = ["fig3", "fig4", "fig5", "fig6", "fig7", "fig8", "figS1", "figS2", "figS3", "figS4", "figS5"]
# fig6 and fig8 are about the negative control; a config without it shows every control.
FOCUS_CONTROLS = ["neg"] if "neg" in MODELS["controls"] else list(MODELS["controls"])


# Plain values rather than functions (snakemake --lint wants functions in common.smk).
FIGURE_OUTPUTS = [results("figures", f"{name}.{ext}") for name in FIGURE_NAMES for ext in ("pdf", "png")]
# Each output marked for the HTML report with its caption (workflow/report/{name}.rst).
FIGURE_FILES = {
    (name, ext): report(
        results("figures", f"{name}.{ext}"),
        caption=f"../report/{name}.rst",
        category="Figures",
        labels={"figure": name, "format": ext.upper()},
    )
    for name in FIGURE_NAMES
    for ext in ("pdf", "png")
}
# Test-pair interaction tables of every model, and of the FOCUS_CONTROLS models only.
TEST_PAIRS_ALL = [results("interactions", c, p, m, "test.parquet") for c, p, m in model_ids()]
TEST_PAIRS_FOCUS = [
    results("interactions", c, p, m, "test.parquet") for c, p, m in model_ids() if c in FOCUS_CONTROLS
]
# Every plotting option; each rule's params hold only those its figure uses, so a
# change reruns just those figures.
FIGURE_OPTIONS = {
    "alpha": config["analysis"]["alpha"],
    "gridsize": FIGURES_CONFIG.get("hexbin_gridsize", 40),
    "distance_bin": FIGURES_CONFIG.get("distance_bin", 5),
    "fig8_models": FIGURES_CONFIG.get("fig8_models", 1),
    "seq_len": SIM["seq_len"],
    "motif_names": dict(SIM["motifs"]),
    "pseudocount": SIM["pseudocount"],
}


rule figures:
    input:
        FIGURE_OUTPUTS,


rule fig3:
    input:
        models=results("tables", "models.tsv"),
    output:
        pdf=FIGURE_FILES["fig3", "pdf"],
        png=FIGURE_FILES["fig3", "png"],
    params:
        options={k: FIGURE_OPTIONS[k] for k in ("alpha",)},
        dpi=FIGURE_DPI,
    log:
        results("logs", "figures", "fig3.log"),
    conda:
        ENV
    script:
        "../scripts/plot.py"


rule fig4:
    input:
        models=results("tables", "models.tsv"),
    output:
        pdf=FIGURE_FILES["fig4", "pdf"],
        png=FIGURE_FILES["fig4", "png"],
    params:
        options={k: FIGURE_OPTIONS[k] for k in ("alpha",)},
        dpi=FIGURE_DPI,
    log:
        results("logs", "figures", "fig4.log"),
    conda:
        ENV
    script:
        "../scripts/plot.py"


rule fig5:
    input:
        models=results("tables", "models.tsv"),
        summary=results("tables", "summary.tsv"),
    output:
        pdf=FIGURE_FILES["fig5", "pdf"],
        png=FIGURE_FILES["fig5", "png"],
    params:
        options={k: FIGURE_OPTIONS[k] for k in ("alpha",)},
        dpi=FIGURE_DPI,
    log:
        results("logs", "figures", "fig5.log"),
    conda:
        ENV
    script:
        "../scripts/plot.py"


rule fig6:
    input:
        interactions=TEST_PAIRS_FOCUS,
        motifs=SIM["motif_file"],
    output:
        pdf=FIGURE_FILES["fig6", "pdf"],
        png=FIGURE_FILES["fig6", "png"],
    params:
        options={
            k: FIGURE_OPTIONS[k] for k in ("gridsize", "distance_bin", "seq_len", "motif_names", "pseudocount")
        },
        dpi=FIGURE_DPI,
    log:
        results("logs", "figures", "fig6.log"),
    conda:
        ENV
    script:
        "../scripts/plot.py"


rule fig7:
    input:
        models=results("tables", "models.tsv"),
    output:
        pdf=FIGURE_FILES["fig7", "pdf"],
        png=FIGURE_FILES["fig7", "png"],
    params:
        options={k: FIGURE_OPTIONS[k] for k in ("alpha",)},
        dpi=FIGURE_DPI,
    log:
        results("logs", "figures", "fig7.log"),
    conda:
        ENV
    script:
        "../scripts/plot.py"


rule fig8:
    input:
        models=results("tables", "models.tsv"),
        interactions=TEST_PAIRS_FOCUS,
    output:
        pdf=FIGURE_FILES["fig8", "pdf"],
        png=FIGURE_FILES["fig8", "png"],
    params:
        options={k: FIGURE_OPTIONS[k] for k in ("alpha", "fig8_models")},
        dpi=FIGURE_DPI,
    log:
        results("logs", "figures", "fig8.log"),
    conda:
        ENV
    script:
        "../scripts/plot.py"


rule figS1:
    input:
        models=results("tables", "models.tsv"),
        interactions=TEST_PAIRS_ALL,
    output:
        pdf=FIGURE_FILES["figS1", "pdf"],
        png=FIGURE_FILES["figS1", "png"],
    params:
        options={k: FIGURE_OPTIONS[k] for k in ("gridsize",)},
        dpi=FIGURE_DPI,
    log:
        results("logs", "figures", "figS1.log"),
    conda:
        ENV
    script:
        "../scripts/plot.py"


rule figS2:
    input:
        models=results("tables", "models.tsv"),
        interactions=TEST_PAIRS_ALL,
    output:
        pdf=FIGURE_FILES["figS2", "pdf"],
        png=FIGURE_FILES["figS2", "png"],
    params:
        options={k: FIGURE_OPTIONS[k] for k in ("gridsize",)},
        dpi=FIGURE_DPI,
    log:
        results("logs", "figures", "figS2.log"),
    conda:
        ENV
    script:
        "../scripts/plot.py"


rule figS3:
    input:
        models=results("tables", "models.tsv"),
    output:
        pdf=FIGURE_FILES["figS3", "pdf"],
        png=FIGURE_FILES["figS3", "png"],
    params:
        options={},
        dpi=FIGURE_DPI,
    log:
        results("logs", "figures", "figS3.log"),
    conda:
        ENV
    script:
        "../scripts/plot.py"


rule figS4:
    input:
        models=results("tables", "models.tsv"),
    output:
        pdf=FIGURE_FILES["figS4", "pdf"],
        png=FIGURE_FILES["figS4", "png"],
    params:
        options={k: FIGURE_OPTIONS[k] for k in ("alpha",)},
        dpi=FIGURE_DPI,
    log:
        results("logs", "figures", "figS4.log"),
    conda:
        ENV
    script:
        "../scripts/plot.py"


rule figS5:
    input:
        motifs=SIM["motif_file"],
    output:
        pdf=FIGURE_FILES["figS5", "pdf"],
        png=FIGURE_FILES["figS5", "png"],
    params:
        options={k: FIGURE_OPTIONS[k] for k in ("motif_names", "pseudocount")},
        dpi=FIGURE_DPI,
    log:
        results("logs", "figures", "figS5.log"),
    conda:
        ENV
    script:
        "../scripts/plot.py"
