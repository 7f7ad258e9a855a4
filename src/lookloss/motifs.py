"""Motifs: reading position probability matrices and scoring sequences with them.

Matrices are numpy arrays of shape (4, w), rows in A, C, G, T order, as tangermeme
and memelite use them. Sequences are either one-hot arrays (N, 4, L) or integer
codes (N, L) with 0..3 for A, C, G, T.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from memelite.io import read_meme



def read_motifs(path: str | Path, names: list[str]) -> dict[str, np.ndarray]:
    """Read named position probability matrices from a MEME minimal-format file.

    Parameters
    ----------
    path : str or Path
        The MEME file.
    names : list of str
        Motif identifiers (the first word after ``MOTIF``).

    Returns
    -------
    dict of str to numpy.ndarray, shape=(4, w)
        The matrices, float64, in the order of ``names``.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    KeyError
        When a name is not in the file; the message lists the names that are.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"motif file {str(path)!r} does not exist")
    records = read_meme(str(path))
    by_id = {key.split()[0]: np.asarray(value, dtype=np.float64) for key, value in records.items()}
    missing = [name for name in names if name not in by_id]
    if missing:
        raise KeyError(
            f"motif(s) {missing} not found in {str(path)!r}; the file holds {sorted(by_id)}"
        )
    return {name: by_id[name] for name in names}


def smooth(ppm: np.ndarray, pseudocount: float) -> np.ndarray:
    """Mix a PPM with the uniform distribution: ``p * (1 - eps) + eps / 4``.

    Parameters
    ----------
    ppm : numpy.ndarray, shape=(4, w)
        Position probability matrix, columns summing to 1.
    pseudocount : float
        The weight ``eps`` of the uniform distribution, in [0, 1).

    Returns
    -------
    numpy.ndarray, shape=(4, w)
        The smoothed matrix; every entry is at least ``eps / 4``.
    """
    return ppm * (1.0 - pseudocount) + pseudocount / 4.0


def ddg_matrix(ppm: np.ndarray, background: np.ndarray) -> np.ndarray:
    """The ΔΔG position weight matrix ``-ln(PPM / background)`` (Zhao & Stormo 2011).

    Parameters
    ----------
    ppm : numpy.ndarray, shape=(4, w)
        Smoothed position probability matrix (no zeros).
    background : numpy.ndarray, shape=(4,)
        Background base probabilities in A, C, G, T order.

    Returns
    -------
    numpy.ndarray, shape=(4, w)
        Energies: lower is a better match; a window's ΔΔG is the sum of the cells
        its bases pick, so ``-ΔΔG`` is its log-odds score.
    """
    return -np.log(ppm / background[:, None])


def to_codes(onehot: np.ndarray) -> np.ndarray:
    """One-hot (N, 4, L) to integer codes (N, L), 0..3 for A, C, G, T."""
    return np.argmax(onehot, axis=1).astype(np.int8)


def to_onehot(codes: np.ndarray) -> np.ndarray:
    """Integer codes (N, L) to a uint8 one-hot array (N, 4, L)."""
    return (codes[:, None, :] == np.arange(4, dtype=codes.dtype)[None, :, None]).astype(np.uint8)


def window_ddg(codes: np.ndarray, ddg: np.ndarray, padding: str = "valid") -> np.ndarray:
    """ΔΔG of every window of motif width, scanned along the forward strand.

    Parameters
    ----------
    codes : numpy.ndarray, shape=(N, L)
        Integer-coded sequences.
    ddg : numpy.ndarray, shape=(4, w)
        ΔΔG matrix from :func:`ddg_matrix`.
    padding : {"valid", "same"}
        ``valid`` scores the ``L - w + 1`` complete windows. ``same`` scores ``L``
        windows of a sequence zero-padded like a 'same' convolution: ``(w - 1) // 2``
        positions on the left, the rest on the right; a padded position adds 0.

    Returns
    -------
    numpy.ndarray, shape=(N, L - w + 1) or (N, L)
        Window energies, float64.
    """
    width = ddg.shape[1]
    if padding == "same":
        left = (width - 1) // 2
        right = width - 1 - left
        codes = np.pad(codes, ((0, 0), (left, right)), constant_values=4)
    elif padding != "valid":
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    # A fifth row of zeros scores the padding.
    table = np.vstack([ddg, np.zeros((1, width))])
    n_windows = codes.shape[1] - width + 1
    out = np.zeros((codes.shape[0], n_windows))
    for j in range(width):
        out += table[codes[:, j : j + n_windows].astype(np.intp), j]
    return out


def instance_ddg(codes: np.ndarray, starts: np.ndarray, ddg: np.ndarray) -> np.ndarray:
    """ΔΔG of one window per sequence, the one starting at ``starts``.

    Parameters
    ----------
    codes : numpy.ndarray, shape=(N, L)
        Integer-coded sequences.
    starts : numpy.ndarray, shape=(N,)
        Start of the window in each sequence; must fit wholly.
    ddg : numpy.ndarray, shape=(4, w)
        ΔΔG matrix.

    Returns
    -------
    numpy.ndarray, shape=(N,)
    """
    width = ddg.shape[1]
    cols = starts[:, None] + np.arange(width)[None, :]
    bases = np.take_along_axis(codes, cols, axis=1).astype(np.intp)
    return ddg[bases, np.arange(width)[None, :]].sum(axis=1)


def occupancy(ddg_values: np.ndarray, mu: float = 0.0) -> np.ndarray:
    """Occupancy ``1 / (1 + exp(ΔΔG - mu))`` of a site with energy ΔΔG."""
    return 1.0 / (1.0 + np.exp(ddg_values - mu))
