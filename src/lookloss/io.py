"""Writing outputs whole or not at all, with the same bytes for the same content.

Every writer here writes to a temporary file beside the target and renames it into
place, so an interrupted job never leaves a half-written output that a later run
would take for finished.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# The process umask, read once (os.umask can only be read by setting it).
_UMASK = os.umask(0)
os.umask(_UMASK)

# A fixed timestamp makes zip archives byte-identical across runs.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_npz(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Save arrays as a compressed ``.npz`` that :func:`numpy.load` reads.

    Unlike :func:`numpy.savez_compressed`, the archive's bytes depend only on the
    arrays (members in the given order, fixed timestamps), and it appears atomically.
    """
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue(), compresslevel=1)


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` file into memory.

    Raises
    ------
    FileNotFoundError
        Naming the file, when it does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist")
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def write_tsv(path: str | Path, table: pd.DataFrame, float_format: str = "%.6g") -> None:
    """Write a table as tab-separated text, atomically, without the index."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format=float_format, lineterminator="\n")


def write_json(path: str | Path, data: Mapping) -> None:
    """Write a mapping as indented JSON with sorted keys, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def plain(data: Any) -> Any:
    """``data`` as JSON's builtins: numpy scalars as Python numbers, other objects as strings
    (the one converter for every JSON file and saved record)."""

    def scalar(value: Any) -> Any:
        return value.item() if hasattr(value, "item") else str(value)

    return json.loads(json.dumps(data, default=scalar))


def write_together(out: str | Path, writers: Mapping[str, Callable[[Path], None]]) -> list[Path]:
    """Write several files into the folder ``out``, all or none: each ``writers[name](path)`` writes
    into a staging folder beside ``out``, and only when every one has succeeded are they moved
    into ``out`` (created if need be). Returns the files written."""
    out = Path(out)
    parent = out.parent if out.parent.exists() else None
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    try:
        for name, write in writers.items():
            write(stage / name)
        out.mkdir(parents=True, exist_ok=True)
        for name in writers:
            os.replace(stage / name, out / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return [out / name for name in writers]


def write_parquet(path: str | Path, table: pd.DataFrame) -> None:
    """Write a table as Parquet (pyarrow, no index), atomically."""
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False, engine="pyarrow")


def read_fasta(path: str | Path) -> list[tuple[str, str]]:
    """The records of a FASTA file as ``(name, sequence)``: name = the header's first word.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When it holds no record, text before the first header, or a header without a name.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sequence file {str(path)!r} does not exist")
    records: list[tuple[str, list[str]]] = []
    with open(path) as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if line.startswith(">"):
                name = line[1:].split()[0] if line[1:].split() else ""
                if not name:
                    raise ValueError(f"{str(path)!r} line {number}: a header without a name")
                records.append((name, []))
            elif line:
                if not records:
                    raise ValueError(f"{str(path)!r} line {number}: sequence before the first '>' header; "
                                     "expected FASTA")
                records[-1][1].append(line)
    if not records:
        raise ValueError(f"{str(path)!r} holds no FASTA record (no line starting with '>')")
    return [(name, "".join(parts)) for name, parts in records]


def write_fasta(path: str | Path, records: list[tuple[str, str]], width: int = 80) -> None:
    """Write ``(name, sequence)`` records as FASTA, ``width`` bases per line, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w") as handle:
        for name, sequence in records:
            handle.write(f">{name}\n")
            for start in range(0, len(sequence), width):
                handle.write(sequence[start:start + width] + "\n")
