"""Models with known answers, shared by the tests: the simulation's own rate as a torch module."""

from __future__ import annotations

import torch

from lookloss.transforms import anscombe


class Oracle(torch.nn.Module):
    """A control's rate ``scale * q^exponent`` (q: GATA1 plus TAL1 occupancy, 'valid' scan), in
    Anscombe space, plus an optional spurious ``product * occ_GATA1 * occ_TAL1`` term.

    With ``product = 0`` it is the simulation's ground truth; with ``product > 0`` and
    an additive control it learned an interaction the data do not have.
    """

    def __init__(self, sim, control: str = "pos", product: float = 0.0):
        super().__init__()
        self.kernels = [torch.from_numpy(m.ddg)[None] for m in (sim.gata, sim.tal)]
        self.scale, self.exponent = sim.controls[control]
        self.mu, self.product = sim.mu, product
        self.dummy = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.double()
        occupancy = [torch.sigmoid(-(torch.nn.functional.conv1d(x, k) - self.mu)).sum(dim=(1, 2))
                     for k in self.kernels]
        rate = self.scale * (occupancy[0] + occupancy[1]) ** self.exponent
        return anscombe(rate + self.product * occupancy[0] * occupancy[1])


class GenomicOracle(torch.nn.Module):
    """:class:`Oracle` shaped like a BPNet: one-hot ``(N, 4, in_window)`` and control tracks in,
    ``(profile, log counts)`` out; the rate is the oracle's on the centred ``core`` bases.

    The count output is ``log1p`` of the oracle's counts (``--output 1 --link log1p``); the
    profile is a dummy ``(N, 2, core)``. The control tracks must come with the sequences,
    one row per sequence; they do not change the prediction.
    """

    def __init__(self, sim, control: str = "pos", product: float = 0.0, core: int = 100):
        super().__init__()
        self.oracle = Oracle(sim, control, product)
        self.core = core

    def forward(self, x: torch.Tensor, ctl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if ctl.shape[0] != x.shape[0] or ctl.shape[-1] != x.shape[-1]:
            raise ValueError(f"control tracks {tuple(ctl.shape)} do not match the sequences {tuple(x.shape)}")
        lo = (x.shape[-1] - self.core) // 2
        out = self.oracle(x[:, :, lo:lo + self.core])
        counts = (out / 2) ** 2 - 3 / 8  # the oracle's Anscombe output as counts
        return torch.zeros(len(x), 2, self.core, dtype=x.dtype), torch.log1p(counts)[:, None]
