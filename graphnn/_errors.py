"""Exceptions and source locations shared by every layer of the front end."""
from __future__ import annotations

import traceback


class GraphBreak(Exception):
    """Raised when traced code needs a concrete value (``.item()``, ``if tensor:``)."""


def user_line() -> str:
    """The innermost stack frame outside graphnn, as ``file:line``."""
    for frame in reversed(traceback.extract_stack(limit=12)):
        if "/graphnn/" not in frame.filename.replace("\\", "/"):
            return f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
    return ""
