# lookloss: "Look at the Loss" (Finkelstein, Shrikumar, Kundaje 2020) as one workflow.
#   snakemake --cores all                                   # the study, default config
#   snakemake --cores all --configfile presets/smoke.yaml   # every rule on a tiny grid (CI)
#   snakemake --cores 1 fig4                                # one figure by name
#   snakemake --cores all --configfile presets/genome.yaml  # known truth at genome scale
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


if "genome" in config:  # known truth at genome scale (presets/genome.yaml)

    include: "workflow/rules/genome.smk"

    rule all:
        input:
            genome_simulated(),
            results("tables", "flagged.tsv"),
            results("figures", "genome.png"),
        default_target: True

else:

    include: "workflow/rules/simulate.smk"
    include: "workflow/rules/train.smk"
    include: "workflow/rules/analyse.smk"
    include: "workflow/rules/detectors.smk"
    include: "workflow/rules/figures.smk"

    rule all:
        input:
            simulation_outputs(),
            table_files(),
            figure_outputs(),
        default_target: True
