"""What every benchmark needs so that its figures measure the code and nothing else."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def one_core() -> Iterator[None]:
    """Pin this process to one of its CPUs (Linux), so thread pools cannot hide the cost."""
    if not hasattr(os, "sched_getaffinity"):
        yield
        return
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, cpus)


@contextmanager
def quiet_lightkurve() -> Iterator[None]:
    """lightkurve warns at import (oktopus missing) and logs a warning for every quarter with
    more than 20 % masked cadences; neither matters to a timing."""
    logger = logging.getLogger("lightkurve")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
