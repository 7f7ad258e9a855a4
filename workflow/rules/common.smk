# Configuration check, paths and input functions shared by every rule file. The names
# of splits, pair sets and model folders come from lookloss.layout (one place).
import sys
from itertools import product
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from lookloss import figures, layout  # noqa: E402
from lookloss.config import ConfigError, check, fuse_training, grid, training_job_settings  # noqa: E402
from lookloss.devices import gpu_visible  # noqa: E402

try:
    check(config, base_dir=workflow.basedir)  # also fills in the schema's defaults
except ConfigError as error:
    raise WorkflowError(str(error)) from None

RESULTS = Path(config["results_dir"])
SIM = config["simulation"]
MODELS = config["models"]
ENV = "../../envs/lookloss.yaml"
# A model's folder: {stage}/{control}/{padding}/{arch}-l1_{l1}-seed_{seed}
MODEL_DIR = f"{{control}}/{{padding}}/{layout.MODEL_PATTERN}"
# The controls that figures about the additive truth (fig6, fig8) show: those with
# exponent 1 (the study's negative control), or every control when none is additive.
FOCUS_CONTROLS = [c for c in MODELS["controls"] if SIM["controls"][c]["exponent"] == 1] or list(
    MODELS["controls"]
)


wildcard_constraints:
    control=layout.control_constraint(list(SIM["controls"])),
    **layout.WILDCARDS,


def results(*parts):
    """A path below this configuration's results folder."""
    return str(RESULTS.joinpath(*parts))


def split_files(padding="{padding}"):
    """The simulated splits of one padding (a wildcard by default)."""
    return [results("simulation", padding, f"{split}.npz") for split in layout.SPLITS]


def simulated_names(wildcards):
    """The simulated files of one padding, relative to the results folder (as a manifest names them)."""
    files = split_files(wildcards.padding) + pair_files(wildcards.padding)
    return [str(Path(f).relative_to(RESULTS)) for f in files]


def pair_files(padding="{padding}"):
    """The simulated pair sets of one padding (a wildcard by default)."""
    return [results("simulation", padding, f"{layout.pairs_name(s)}.npz") for s in layout.PAIR_SETS]


def simulation_outputs():
    """Every simulated file of every padding the config asks for."""
    files = []
    for padding in MODELS["paddings"]:
        files += split_files(padding) + pair_files(padding) + [results("simulation", padding, "summary.tsv")]
    return files


def model_ids(controls=None):
    """(control, padding, model folder name) of every model in the grid (of ``controls``)."""
    return [(i["control"], i["padding"], layout.model_id(i["arch"], i["l1"], i["seed"])) for i in grid(config)
            if controls is None or i["control"] in controls]


def per_model(stage, name, controls=None):
    """One file of every model: results/{stage}/{control}/{padding}/{model}/{name}."""
    return [results(layout.model_dir(stage, c, p, m), name) for c, p, m in model_ids(controls)]


def model_file(stage, name):
    """One file of one model, its coordinates left as wildcards."""
    return results(stage, MODEL_DIR, name)


def seed_files(stage, name, pair_sets=None):
    """Files of every seed of one {control}/{padding}/{arch}-l1_{l1} (wildcards kept), seed by seed.

    ``name`` may contain ``{s}``, expanded over ``pair_sets`` within each seed.
    """
    folder = layout.MODEL_PATTERN.format(arch="{{arch}}", l1="{{l1}}", seed="{seed}")
    pattern = results(stage, "{{control}}", "{{padding}}", folder, name)
    if pair_sets is None:
        return expand(pattern, seed=MODELS["seeds"])
    return [f for seed in MODELS["seeds"] for f in expand(pattern, seed=[seed], s=pair_sets)]


def gpu_given(rule):
    """Whether the resources of a profile (or --set-resources) give ``rule`` a GPU
    (``gres: gpu:N`` or ``gpu: N``, as the Slurm executor takes them)."""
    settings = getattr(workflow, "resource_settings", None)
    wanted = {name: getattr(r, "raw", r) for name, r in dict(getattr(settings, "overwrite_resources", {}).get(rule, {})).items()}
    return "gpu" in str(wanted.get("gres", "")) or str(wanted.get("gpu", 0)) not in ("0", "", "None")


def fuse_models():
    """training.fuse resolved: train the models of each padding x arch as one fused network?

    ``auto`` fuses where training runs on a GPU: training.device is cuda, or it is auto
    and this machine shows an NVIDIA GPU or the profile gives train_group a GPU
    (profiles/slurm-gpu). On the CPU fusing measured slower (BENCHMARKS.md).
    """
    return fuse_training(config, gpu_visible() or gpu_given("train_group"))


def group_members():
    """Every model of one {padding} x {arch} (wildcards kept): (identity without padding/arch, folder)."""
    return [
        ({"control": c, "l1": l1, "seed": seed}, layout.MODEL_PATTERN.format(arch="{arch}", l1=layout.l1_label(l1), seed=seed))
        for c, l1, seed in product(MODELS["controls"], MODELS["l1"], MODELS["seeds"])
    ]


def group_files(name, root=None):
    """One file of every model of one {padding} x {arch}, in the order of group_members(),
    below this configuration's results folder (or below ``root``)."""
    base = Path(root) if root is not None else RESULTS
    return [str(base / "models" / m["control"] / "{padding}" / folder / name) for m, folder in group_members()]


def table_files():
    return [results("tables", f"{name}.tsv") for name in layout.STUDY_TABLES]


def truth_files():
    """One test-pair table per control x padding (its true effects are every model's)."""
    first = {}
    for control, padding, model in model_ids():
        first.setdefault((control, padding), results(layout.model_dir("interactions", control, padding, model), "test.parquet"))
    return list(first.values())


def figure_inputs(spec):
    """The files a figure reads (figures.FigureSpec.inputs), keyed as plots.draw takes them."""
    files = {
        "models": results("tables", "models.tsv"),
        "summary": results("tables", "summary.tsv"),
        "power": results("tables", "power.tsv"),
        "detectors": results("tables", "detectors.tsv"),
        "pairs": per_model("interactions", "test.parquet", FOCUS_CONTROLS if spec.focus else None),
        "motif_file": SIM["motif_file"],
    }
    return {name: files[name] for name in spec.inputs}


def figure_outputs():
    """PDF and PNG of every figure."""
    return [results("figures", f"{name}.{ext}") for name in figures.FIGURES for ext in ("pdf", "png")]


def detector_stats():
    """The detectors' statistics of every model (docs/study.md section 8)."""
    return [results("detectors", control, padding, model, "stats.json") for control, padding, model in model_ids()]
