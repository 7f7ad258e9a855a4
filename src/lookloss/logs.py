"""Logging for workflow scripts: one file per job, lines a user can follow with ``tail -f``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def job_logger(path: str | Path | None, name: str = "lookloss", echo: bool = True) -> logging.Logger:
    """A logger writing timestamped lines to ``path`` (and to stderr if ``echo``), flushed line by line.

    Parameters
    ----------
    path : str or Path or None
        The job's log file (Snakemake's ``log[0]``); None logs to stderr only.
    name : str
        Logger name.
    echo : bool
        Also write to stderr (False: a worker of ``lookloss grow``, whose stderr is the
        grow command's).
    """
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    logger.propagate = False
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)] if echo or path is None else []
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    for handler in handlers:
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    return logger
