"""Exceptions and source locations shared by every layer of the front end."""
from __future__ import annotations

import traceback


class GraphBreak(Exception):
    """Raised when traced code needs a concrete value (``.item()``, ``if tensor:``)."""


def user_frame() -> tuple[str, int] | None:
    """(path, line number) of the innermost stack frame outside graphnn, or None."""
    for frame in reversed(traceback.extract_stack(limit=12)):
        if "/graphnn/" not in frame.filename.replace("\\", "/"):
            return frame.filename, frame.lineno
    return None


def user_line() -> str:
    """The innermost stack frame outside graphnn, as ``file:line``."""
    frame = user_frame()
    return f"{frame[0].rsplit('/', 1)[-1]}:{frame[1]}" if frame else ""
