"""lookloss.io: files appear whole or not at all, JSON holds builtins only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookloss import io


def test_files_written_together_appear_all_or_none(tmp_path):
    def fails(path: Path) -> None:
        path.write_text("half")
        raise OSError("disk full")

    out = tmp_path / "out"
    with pytest.raises(OSError, match="disk full"):
        io.write_together(out, {"a.txt": lambda p: p.write_text("a"), "b.txt": fails})
    assert not out.exists() and list(tmp_path.iterdir()) == []  # no output, no staging folder left
    written = io.write_together(out, {"a.txt": lambda p: p.write_text("a"), "b.txt": lambda p: p.write_text("b")})
    assert written == [out / "a.txt", out / "b.txt"] and (out / "b.txt").read_text() == "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_plain_turns_numpy_scalars_into_numbers_and_other_objects_into_strings():
    data = {"n": np.int64(3), "x": np.float32(0.5), "flag": np.bool_(True), "path": Path("a/b"), "list": (1, 2)}
    assert io.plain(data) == {"n": 3, "x": 0.5, "flag": True, "path": "a/b", "list": [1, 2]}
