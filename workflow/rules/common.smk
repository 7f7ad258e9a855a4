# Configuration check, paths and input functions shared by every rule file.
import sys
from itertools import product
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from lookloss.config import ConfigError, check  # noqa: E402

try:
    check(config, base_dir=workflow.basedir)
except ConfigError as error:
    raise WorkflowError(str(error)) from None

RESULTS = Path(config["results_dir"])
SIM = config["simulation"]
MODELS = config["models"]
SPLITS = ["train", "valid", "test"]
PAIR_SETS = ["test", "train", "shuffled", "randpos"]
ENV = "../../envs/lookloss.yaml"


wildcard_constraints:
    control="neg|pos",
    padding="valid|same",
    arch="arch[0-9]+",
    l1="[0-9.e+-]+",
    seed="[0-9]+",
    split="train|valid|test",
    pair_set="test|train|shuffled|randpos",


def results(*parts):
    """A path below this configuration's results folder."""
    return str(RESULTS.joinpath(*parts))


def simulation_outputs():
    """Every simulated file of every padding the config asks for."""
    files = []
    for padding in MODELS["paddings"]:
        files += expand(results("simulation", padding, "{split}.npz"), split=SPLITS)
        files += expand(results("simulation", padding, "pairs_{s}.npz"), s=PAIR_SETS)
        files.append(results("simulation", padding, "summary.tsv"))
    return files


def l1_label(l1):
    """How an L1 weight is written in paths: Python's format(l1, "g")."""
    return format(float(l1), "g")


def model_ids():
    """(control, padding, model) of every model in the grid, model = arch-l1_X-seed_N."""
    return [
        (control, padding, f"{arch}-l1_{l1_label(l1)}-seed_{seed}")
        for control, padding, arch, l1, seed in product(
            MODELS["controls"], MODELS["paddings"], MODELS["archs"], MODELS["l1"], MODELS["seeds"]
        )
    ]


def per_model(stage, name):
    """One file of every model: results/{stage}/{control}/{padding}/{model}/{name}."""
    return [results(stage, c, p, m, name) for c, p, m in model_ids()]


def seed_files(stage, name, pair_sets=None):
    """Files of every seed of one {control}/{padding}/{arch}-l1_{l1} (wildcards kept), seed by seed.

    ``name`` may contain ``{s}``, expanded over ``pair_sets`` within each seed.
    """
    pattern = results(stage, "{{control}}", "{{padding}}", "{{arch}}-l1_{{l1}}-seed_{seed}", name)
    if pair_sets is None:
        return expand(pattern, seed=MODELS["seeds"])
    return [f for seed in MODELS["seeds"] for f in expand(pattern, seed=[seed], s=pair_sets)]


def interaction_files(pair_set):
    """The interaction table of every model on one pair set."""
    return per_model("interactions", f"{pair_set}.parquet")


def table_files():
    return [results("tables", f"{name}.tsv") for name in ("models", "summary", "consistency")]
