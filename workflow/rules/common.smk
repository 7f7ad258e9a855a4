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
