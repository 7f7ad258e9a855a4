"""lookloss: detect false-positive motif interactions learned by neural networks.

A re-implementation of "Look at the Loss" (Finkelstein, Shrikumar, Kundaje, 2020).
All logic of the workflow lives in this package; the Snakemake scripts only unpack
the ``snakemake`` object and call it.
"""

__version__ = "0.1.0"
