"""Genomic input as a model sees it: motifs by name, BED loci and ChromBPNet folds, and the
windows of sequence, signal and control tracks around each locus (docs/genomic.md).

- **Windows.** Each locus is centred on its midpoint (or its summit, BED column 10);
  the model sees ``in_window`` bases and the target is the signal summed over the
  centred ``out_window`` bases, all tracks summed. Sequences and signals are read by
  tangermeme's :func:`tangermeme.io.extract_loci` (pyfaidx and figwig). A window that
  runs off its chromosome, or holds a base other than A, C, G, T, is skipped and
  counted.
- **Held-out chromosomes.** ``--chroms`` or a ChromBPNet splits file per model
  (``--fold``, its ``test`` list).
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lookloss import io, losstest

#: Characters a genome may hold besides A, C, G, T (IUPAC codes, N, gaps); a window
#: with any of them is skipped. Lower case (soft-masked) bases are read as upper case.
OTHER_BASES = tuple("NRYKMSWBDHVUX-.")


class GenomicError(losstest.LossTestError):
    """The genomic input cannot be tested as given; the message names the file, the key and what was expected."""


# ----------------------------------------------------------------------------- motifs
def read_pair(path: Path, pair: list[str]) -> tuple[list[np.ndarray], tuple[str, str]]:
    """The two motifs of ``pair``, each found by its ID or its name, case-insensitive.

    A MEME ``MOTIF`` line holds an ID and optionally a name (``MOTIF MA0035.4 Gata1``).
    A word is matched against the IDs first, then against the names.

    Returns
    -------
    ppms : list of numpy.ndarray, shape=(4, w)
        The two matrices (rows A, C, G, T).
    labels : tuple of str
        Each motif as it was matched, spelled as in the file.

    Raises
    ------
    GenomicError
        A missing file, a word that matches no motif ("not found in", with the IDs the
        file holds) or several (an ambiguous name, with the candidates).
    """
    from memelite.io import read_meme

    if not Path(path).is_file():
        raise GenomicError(f"motif file {str(path)!r} does not exist")
    records = {key: np.asarray(value, dtype=np.float64) for key, value in read_meme(str(path)).items()}
    ppms, labels = [], []
    for word in pair:
        key, label = match_motif(path, records, word)
        ppms.append(records[key])
        labels.append(label)
    return ppms, (labels[0], labels[1])


def match_motif(path: Path, records: dict[str, np.ndarray], word: str) -> tuple[str, str]:
    """The MEME key and the label of the one motif whose ID, else whose name, is ``word``."""
    ids = {key: key.split()[0] for key in records}
    names = {key: key.split()[1] for key in records if len(key.split()) > 1}
    for words in (ids, names):
        hits = [key for key, value in words.items() if value.lower() == word.lower()]
        if len(hits) == 1:
            return hits[0], words[hits[0]]
        if len(hits) > 1:
            raise GenomicError(f"motif name {word!r} is ambiguous in {str(path)!r}: it names {sorted(hits)}; "
                               "give one of their IDs instead")
    raise GenomicError(f"motif {word!r} not found in {str(path)!r} (neither an ID nor a name); the file holds "
                       f"{sorted(ids.values())[:20]}{' ...' if len(ids) > 20 else ''}")


# ----------------------------------------------------------------------------- loci and folds
def read_fold(path: Path) -> list[str]:
    """The ``test`` chromosomes of a ChromBPNet splits file (``{"train": [...], "valid": [...], "test": [...]}``)."""
    expected = 'expected the ChromBPNet splits format {"train": [...], "valid": [...], "test": ["chr1", ...]}'
    try:
        splits = json.loads(Path(path).read_text())
    except OSError:
        raise GenomicError(f"fold file {str(path)!r} does not exist or cannot be read") from None
    except ValueError as error:
        raise GenomicError(f"fold file {str(path)!r} is not JSON ({error}); {expected}") from None
    test = splits.get("test") if isinstance(splits, dict) else None
    if not isinstance(test, list) or not test or not all(isinstance(c, str) for c in test):
        raise GenomicError(f"fold file {str(path)!r} has no 'test' list of chromosome names; {expected}")
    return test


def read_loci(path: Path, summits: bool) -> pd.DataFrame:
    """The loci of a BED file: ``chrom``, ``centre`` (midpoint, or start + summit), ``name`` and ``line``.

    The midpoint is ``start + (end - start) // 2``, tangermeme's; with ``summits`` the
    centre is ``start + column 10`` (narrowPeak), or the midpoint where column 10 is -1
    (narrowPeak's "no summit called"). Track, browser and ``#`` lines are skipped. A locus
    without a name (column 4) is named ``chrom:centre``; a name that several lines share
    gets `` (line N)`` added, so that every row of the pair table names its own locus.
    """
    if not Path(path).is_file():
        raise GenomicError(f"BED file {str(path)!r} does not exist")
    rows = []
    with open(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip() or line.startswith(("track", "browser", "#")):
                continue
            rows.append((number, line.rstrip("\n").split("\t")))
    if not rows:
        raise GenomicError(f"BED file {str(path)!r} holds no locus")
    need = 10 if summits else 3
    loci = []
    for number, fields in rows:
        try:
            if len(fields) < need:
                raise ValueError
            start, end = int(fields[1]), int(fields[2])
            summit = int(fields[9]) if summits else -1
            if not -1 <= summit < end - start:
                raise ValueError
            centre = start + summit if summit >= 0 else start + (end - start) // 2
        except ValueError:
            what = ("10 tab-separated columns with an integer summit offset in column 10, from 0 to end - start - 1 "
                    "or -1 for none (--summits)") if summits else "tab-separated chrom, start, end with integer start "\
                "and end"
            raise GenomicError(f"BED file {str(path)!r} line {number}: expected {what}") from None
        name = fields[3] if len(fields) > 3 and fields[3] not in ("", ".") else f"{fields[0]}:{centre}"
        loci.append((fields[0], centre, name, number))
    table = pd.DataFrame(loci, columns=["chrom", "centre", "name", "line"])
    shared = table["name"].duplicated(keep=False)
    table.loc[shared, "name"] = [f"{name} (line {line})" for name, line in zip(table["name"][shared],
                                                                              table["line"][shared], strict=True)]
    return table


@dataclass
class Windows:
    """The loci that can be tested, as the model sees them.

    Attributes
    ----------
    loci : pandas.DataFrame
        ``chrom``, ``centre``, ``name``, ``line`` of each kept locus.
    onehot : numpy.ndarray, shape=(n, 4, in_window)
        Their sequences, uint8.
    targets : numpy.ndarray, shape=(n,)
        The signal summed over the centred output window, tracks summed.
    control_tracks : numpy.ndarray or None, shape=(n, tracks, in_window)
        The control tracks over the input window (float32).
    skipped : dict
        ``off_chromosome`` and ``non_acgt``: loci left out, and why.
    """

    loci: pd.DataFrame
    onehot: np.ndarray
    targets: np.ndarray
    control_tracks: np.ndarray | None
    skipped: dict[str, int]

    def subset(self, keep: np.ndarray) -> Windows:
        """The windows where ``keep`` is true (the skipped counts of those loci's chromosomes are not split)."""
        return Windows(self.loci[keep].reset_index(drop=True), self.onehot[keep], self.targets[keep],
                       None if self.control_tracks is None else self.control_tracks[keep], dict(self.skipped))


def check_chromosomes(loci: pd.DataFrame, bed: Path, genome: Path, tracks: list[Path]) -> None:
    """Fail, naming the files, when a locus's chromosome is missing from the genome or a bigWig."""
    import figwig
    import pyfaidx

    if not Path(genome).is_file():
        raise GenomicError(f"genome FASTA {str(genome)!r} does not exist")
    try:
        with pyfaidx.Fasta(str(genome)) as fasta:
            sizes = {str(k): len(v) for k, v in fasta.items()}
    except (ValueError, pyfaidx.FastaIndexingError, OSError) as error:
        raise GenomicError(f"cannot read genome FASTA {str(genome)!r}: {error}") from None
    _missing(loci, sizes, f"the genome {str(genome)!r}", bed)
    for track in tracks:
        if not Path(track).is_file():
            raise GenomicError(f"bigWig file {str(track)!r} does not exist")
        try:
            sizes = figwig.BigWigReader(str(track)).chrom_sizes
        except Exception as error:  # noqa: BLE001  (whatever figwig raises for a file that is no bigWig)
            raise GenomicError(f"cannot read {str(track)!r} as a bigWig file: {error}") from None
        _missing(loci, sizes, f"the bigWig {str(track)!r}", bed)


def _missing(loci: pd.DataFrame, sizes: dict[str, int], what: str, bed: Path) -> None:
    """Fail, naming the BED line, when a locus's chromosome is not one of ``sizes`` (of ``what``)."""
    absent = ~loci["chrom"].isin(list(sizes))
    if absent.any():
        first = loci[absent].iloc[0]
        raise GenomicError(f"BED file {str(bed)!r} line {first['line']}: chromosome {first['chrom']!r} is not in "
                           f"{what} (it holds {sorted(sizes)[:10]}); expected every locus on one of its "
                           "chromosomes (restrict them with --chroms or --fold)")


def extract(loci: pd.DataFrame, genome: Path, signals: list[Path], control_tracks: list[Path] | None,
            windows: tuple[int, int], non_acgt: str = "skip") -> Windows:
    """Sequences, targets and control tracks of ``loci`` (:func:`read_loci`) by tangermeme's ``extract_loci``.

    ``windows`` is ``(in_window, out_window)``. Loci whose windows run off their
    chromosome, or whose sequence holds a base other than A, C, G, T, are left out
    and counted in :attr:`Windows.skipped`; with ``non_acgt="fail"`` the first such
    sequence is an error instead.
    """
    from tangermeme.io import extract_loci

    in_window, out_window = windows
    frame = pd.DataFrame({"chrom": loci["chrom"], "start": loci["centre"], "end": loci["centre"] + 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = extract_loci(frame, str(genome), signals=[str(s) for s in signals],
                                  in_signals=[str(c) for c in control_tracks] if control_tracks else None,
                                  in_window=in_window, out_window=out_window, ignore=list(OTHER_BASES),
                                  return_mask=True, n_jobs=1)
        except ValueError as error:
            if "No loci remain" not in str(error):
                raise GenomicError(f"cannot read the loci from {str(genome)!r}: {error}") from None
            return _empty(loci, len(loci), control_tracks, in_window)
    seqs, signal, mask = result[0], result[1], result[-1]
    ctl = result[2].numpy() if control_tracks else None
    kept = loci[mask.numpy()].reset_index(drop=True)
    onehot = seqs.numpy().astype(np.uint8)
    acgt = (onehot.sum(axis=1) == 1).all(axis=1)
    if non_acgt == "fail" and not acgt.all():
        first = kept[~acgt].iloc[0]
        raise GenomicError(f"BED line {first['line']} ({first['name']}): its {in_window}-base window of "
                           f"{str(genome)!r} holds a base other than A, C, G, T; expected only ACGT with "
                           "--non-acgt fail (use --non-acgt skip to leave such loci out)")
    skipped = {"off_chromosome": int((~mask.numpy()).sum()), "non_acgt": int((~acgt).sum())}
    targets = signal.numpy().astype(np.float64).sum(axis=(1, 2))
    return Windows(kept[acgt].reset_index(drop=True), onehot[acgt], targets[acgt],
                   None if ctl is None else ctl[acgt], skipped)


def _empty(loci: pd.DataFrame, off: int, control_tracks: list[Path] | None, in_window: int) -> Windows:
    """No window fits: every locus runs off its chromosome."""
    return Windows(loci.iloc[:0], np.zeros((0, 4, in_window), np.uint8), np.zeros(0),
                   None if not control_tracks else np.zeros((0, len(control_tracks), in_window), np.float32),
                   {"off_chromosome": off, "non_acgt": 0})


#: Bases a sequence may hold (either case: soft-masked sequences are read as they are).
BASES = frozenset("ACGT")


def read_sequences(path: Path, non_acgt: str) -> tuple[list[str], list[str], list[str]]:
    """Names and upper-case sequences of a FASTA file (``loss-test --sequences``), and the names skipped for
    characters other than ACGT (``non_acgt``: ``skip``, or ``fail`` to refuse them)."""
    try:
        records = io.read_fasta(path)
    except (OSError, ValueError) as error:
        raise losstest.LossTestError(str(error)) from None
    names, seqs, skipped = [], [], []
    for name, sequence in records:
        sequence = sequence.upper()
        if not set(sequence) <= BASES:
            if non_acgt == "fail":
                bad = sorted(set(sequence) - BASES)
                raise losstest.LossTestError(f"sequence {name!r} in {str(path)!r} holds characters other than ACGT ({bad}); "
                                 "use --non-acgt skip to leave such sequences out")
            skipped.append(name)
            continue
        names.append(name)
        seqs.append(sequence)
    duplicated = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicated:
        raise losstest.LossTestError(f"sequence name(s) {duplicated[:5]} occur more than once in {str(path)!r}")
    if not seqs:
        raise losstest.LossTestError(f"no sequence of {str(path)!r} is made of A, C, G and T only ({len(skipped)} skipped)")
    lengths = {}
    for name, sequence in zip(names, seqs, strict=True):
        lengths.setdefault(len(sequence), name)
    if len(lengths) > 1:
        (l1, n1), (l2, n2) = sorted(lengths.items())[:2]
        raise losstest.LossTestError(f"sequences differ in length: {n1!r} has {l1} bp, {n2!r} has {l2} bp; "
                         "every sequence must have the same length")
    return names, seqs, skipped


def read_targets(path: Path, names: list[str], skipped: list[str]) -> list[float]:
    """The target of each named sequence from a TSV with columns ``name`` and ``target`` (``loss-test --targets``)."""
    import pandas as pd

    if not path.is_file():
        raise losstest.LossTestError(f"target file {str(path)!r} does not exist")
    try:
        table = pd.read_csv(path, sep="\t", dtype={"name": str})
    except (ValueError, pd.errors.ParserError) as error:
        raise losstest.LossTestError(f"cannot read {str(path)!r} as a tab-separated table: {error}") from None
    missing = [c for c in ("name", "target") if c not in table.columns]
    if missing:
        raise losstest.LossTestError(f"{str(path)!r} has no column(s) {missing}; expected a header with 'name' and 'target' "
                         f"(found {list(table.columns)})")
    values = pd.to_numeric(table["target"], errors="coerce")
    bad = table["name"][values.isna()].tolist()
    if bad:
        raise losstest.LossTestError(f"{str(path)!r}: the target of {bad[0]!r} is not a number ({len(bad)} such rows)")
    if (values < 0).any():
        raise losstest.LossTestError(f"{str(path)!r}: targets are counts; {table['name'][values < 0].iloc[0]!r} has a negative one")
    duplicated = table["name"][table["name"].duplicated()].tolist()
    if duplicated:
        raise losstest.LossTestError(f"{str(path)!r}: sequence {duplicated[0]!r} has more than one target")
    targets = dict(zip(table["name"], values, strict=True))
    without = [n for n in names if n not in targets]
    if without:
        raise losstest.LossTestError(f"sequence {without[0]!r} has no target in {str(path)!r} ({len(without)} without one)")
    known = set(names) | set(skipped)
    orphans = [n for n in targets if n not in known]
    if orphans:
        raise losstest.LossTestError(f"target {orphans[0]!r} in {str(path)!r} names no sequence ({len(orphans)} such)")
    return [float(targets[n]) for n in names]
