"""``GRAPHNN_DEBUG=1|2|3``: what graphnn logs while it compiles and runs, on the ``graphnn``
logger (stderr unless the application configured logging).

1: one line per compiled graph (nodes, kernels, launches, compile time by phase);
2: also every kernel launch with its device time (each launch then waits for the device);
3: also the OpenCL source of every compiled program.
"""
from __future__ import annotations

import logging
import os

LOG = logging.getLogger("graphnn")


def debug_level() -> int:
    """The level from ``GRAPHNN_DEBUG`` (0 when unset). Raises ValueError naming the variable
    for a value that is not 0-3."""
    text = os.environ.get("GRAPHNN_DEBUG", "").strip()
    if not text:
        return 0
    if text not in ("0", "1", "2", "3"):
        raise ValueError(f"GRAPHNN_DEBUG must be 0, 1, 2 or 3, not {text!r}")
    level = int(text)
    if level and LOG.level == logging.NOTSET:
        LOG.setLevel(logging.DEBUG)
        if not LOG.handlers and not logging.getLogger().handlers:
            # an application that configured logging decides where the lines go
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("graphnn: %(message)s"))
            LOG.addHandler(handler)
            LOG.propagate = False
    return level


def log_launch(name: str, launch, event) -> None:
    """One line for a launch at level 2: waits for the launch to read its profiling times."""
    event.wait()
    us = (event.profile.end - event.profile.start) * 1e-3
    LOG.info("launch %s %s global %s local %s: %.1f us", name, ",".join(launch.ops),
             list(launch.global_size), list(launch.local_size or ()), us)
