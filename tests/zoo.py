"""A zoo of valid models of every kind users bring, built in the tests (no binary fixtures).

Every model answers the same question on one-hot ``(N, 4, L)`` input (and control tracks
where it takes them): the log1p of a count that has a GATA1 x TAL1 product term
(:class:`Core`), so the loss test has a real interaction to find. They differ in how they
are written and saved: a Python module, TorchScript scripted with a branch or traced, a
``torch.export`` program with a dynamic or a fixed batch, a pickled module with a
data-dependent branch, bpnet-lite's BPNet and ChromBPNet, several tasks, list, tuple and
dict outputs, float64 and bfloat16 parameters.
"""

from __future__ import annotations

import numpy as np
import torch


class Core(torch.nn.Module):
    """``log1p(20 + 40 g + 40 t + product g t)`` (product 60 by default); g and t are the best GATA1 and TAL1 log-odds of a
    sequence's centred ``core`` bases (either strand), squashed by a sigmoid."""

    def __init__(self, gata: np.ndarray, tal: np.ndarray, core: int = 200, product: float = 60.0) -> None:
        super().__init__()
        self.core, self.product = core, product
        for name, ppm in (("gata", gata), ("tal", tal)):
            logodds = torch.from_numpy(np.log(ppm * 0.999 + 0.00025) - np.log(0.25)).float()
            both = torch.stack([logodds, logodds.flip(0, 1)])  # the motif and its reverse complement
            self.register_buffer(name, both)

    def occupancy(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        lo = (x.shape[-1] - self.core) // 2
        scores = torch.nn.functional.conv1d(x[:, :, lo:lo + self.core], kernel.to(x.dtype))
        return torch.sigmoid(scores.amax(dim=(1, 2)) - 6.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, t = self.occupancy(x, self.gata), self.occupancy(x, self.tal)
        return torch.log1p(20 + 40 * g + 40 * t + self.product * g * t)


class Counts(torch.nn.Module):
    """The core's log counts, ``(N,)``."""

    def __init__(self, core: Core) -> None:
        super().__init__()
        self.core = core

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.core(x)


class Branchy(torch.nn.Module):
    """Scripted with an ``if`` whose branch returns a fusible op directly (issue 37's crash)."""

    def __init__(self, core: Core) -> None:
        super().__init__()
        self.core = core

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.core(x)
        if x.shape[0] > 0:
            return torch.relu(y)
        return y


class DataDependent(torch.nn.Module):
    """A data-dependent Python branch: a term only for batches where some sequence has a strong
    GATA1 site; a trace would bake in the branch of the batch it saw."""

    def __init__(self, core: Core) -> None:
        super().__init__()
        self.core = core

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.core(x)
        if (self.core.occupancy(x, self.core.gata) > 0.9).any():
            y = y + 0.05 * self.core.occupancy(x, self.core.gata)
        return y


class Profiled(torch.nn.Module):
    """BPNet-shaped: control tracks in, ``(profile, log counts)`` out, as a tuple, list or dict."""

    def __init__(self, core: Core, kind: str = "tuple", out_window: int = 100) -> None:
        super().__init__()
        self.core, self.kind, self.out_window = core, kind, out_window

    def forward(self, x: torch.Tensor, ctl: torch.Tensor):  # noqa: ANN201  (the kind decides)
        counts = self.core(x)[:, None] + 0 * ctl.sum(dim=(1, 2))[:, None]
        lo = (x.shape[-1] - self.out_window) // 2
        profile = x[:, :2, lo:lo + self.out_window] * counts[:, :, None]
        if self.kind == "list":
            return [profile, counts]
        if self.kind == "dict":
            return {"profile": profile, "counts": counts}
        return profile, counts


class MultiTask(torch.nn.Module):
    """Three tasks ``(N, 3)``: the core's log counts in the middle one (``--task 1``)."""

    def __init__(self, core: Core) -> None:
        super().__init__()
        self.core = core

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.core(x)
        return torch.stack([0.5 * y, y, 2 * y], dim=1)


class CountScale(torch.nn.Module):
    """A model of counts, not log counts (ten times the core's): read as log1p, it overflows."""

    def __init__(self, core: Core) -> None:
        super().__init__()
        self.core = core

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.expm1(self.core(x)) * 10


# ----------------------------------------------------------------------------- building and running
IN, OUT = 300, 200  # input window and output window of every zoo model


def _bpnet(controls: int, seed: int):  # noqa: ANN202
    from bpnetlite.bpnet import BPNet

    torch.manual_seed(seed)
    model = BPNet(n_filters=8, n_layers=2, n_outputs=2, n_control_tracks=controls, trimming=(IN - OUT) // 2,
                  verbose=False).eval()
    with torch.no_grad():  # a count head that is not flat (the bases matter), at about e^4 counts
        model.linear.weight.mul_(20)
        model.linear.bias.sub_(20.6)
    return model


def build(folder, gata: np.ndarray, tal: np.ndarray) -> dict[str, dict]:
    """Every zoo model saved in ``folder``: name -> file, extra options, whether it takes controls."""
    from pathlib import Path

    from bpnetlite.chrombpnet import ChromBPNet

    folder = Path(folder)
    core = Core(gata, tal, core=OUT).eval()
    x = torch.zeros(64, 4, IN)
    x[:, 0] = 1
    batch = torch.export.Dim("batch", min=1)
    zoo: dict[str, dict] = {}

    def save(name: str, model, *, pickle: bool = False, controls: bool = False, extra=(), suffix=".pt"):  # noqa: ANN001
        path = folder / f"{name}{suffix}"
        if pickle:
            torch.save(model, path)
        elif suffix == ".pt2":
            torch.export.save(model, str(path))
        else:
            model.save(str(path))
        zoo[name] = {"path": path, "controls": controls,
                     "extra": [*(["--trust-pickle"] if pickle else []), *extra]}

    save("python-pickled", Counts(core), pickle=True)
    save("scripted-branch", torch.jit.script(Branchy(core)))
    save("traced", torch.jit.trace(Counts(core), x[:2]))
    save("export-dynamic", torch.export.export(Counts(core), (x[:2],), dynamic_shapes=({0: batch},)), suffix=".pt2")
    save("export-static-64", torch.export.export(Counts(core), (x,)), suffix=".pt2")
    save("pickled-data-dependent", DataDependent(core), pickle=True)
    save("bpnet-controls", _bpnet(2, 0), pickle=True, controls=True, extra=["--output", "1"])
    save("bpnet-no-controls", _bpnet(0, 1), pickle=True, extra=["--output", "1"])
    save("chrombpnet", ChromBPNet(_bpnet(0, 2), _bpnet(0, 3)).eval(), pickle=True, extra=["--output", "1"])
    save("multi-task", MultiTask(core), pickle=True, extra=["--task", "1"])
    for kind in ("tuple", "list", "dict"):
        save(f"{kind}-output", Profiled(core, kind, OUT), pickle=True, controls=True, extra=["--output", "1"])
    save("float64", Counts(Core(gata, tal, core=OUT)).double().eval(), pickle=True)
    save("bfloat16", Counts(Core(gata, tal, core=OUT)).bfloat16().eval(), pickle=True)
    return zoo


def run(entry: dict, route: str, trace: bool, data: dict, out) -> dict:  # noqa: ANN001
    """One zoo model through one route: exit status, its summary (or the error's last line)."""
    import contextlib
    import io
    import json

    from lookloss import cli

    common = ["--model", str(entry["path"]), *entry["extra"], "--motifs", str(data["motifs"]),
              "--pair", "GATA_disc1", "TAL1_known1", "--link", "log1p", "--out", str(out),
              *([] if trace else ["--no-trace"])]
    if route == "genomic":
        args = ["loss-test", *common, "--loci", str(data["peaks"]), "--summits", "--genome", str(data["genome"]),
                "--signal", *map(str, data["signal"]), "--chroms", "chr1", "--in-window", str(IN),
                "--out-window", str(OUT), *(["--control", *map(str, data["control"])] if entry["controls"] else [])]
    else:
        args = ["loss-test", *common, "--sequences", str(data["fasta"]), "--targets", str(data["targets"]),
                "--batch-size", "64"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = cli.main(args)
        except Exception as error:  # noqa: BLE001  (a crash is an outcome the zoo reports)
            status, err = 1, io.StringIO(f"{type(error).__name__}: {error}")
    summary = json.loads((out / "summary.json").read_text()) if status == 0 else {}
    return {"status": status, "summary": summary, "stderr": err.getvalue().strip()}
