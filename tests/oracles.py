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
