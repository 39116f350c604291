"""The error for a file from elsewhere that is not what it claims to be.

Checkpoints from the hub, data orders built by other tools, tails rewritten by someone else: when
one of them is unusable (non-finite weights, rows that no longer match their manifest, pickled
state that would run code), the message names the file, the problem and what to do, and the
commands print it as one line and exit 2.
"""

from __future__ import annotations

import errno
import os
import re

from debias.core.errors import DebiasError


class InputError(DebiasError, ValueError):
    """``path`` cannot be used: ``problem``; ``fix`` says what to do instead."""

    def __init__(self, path: str | os.PathLike, problem: str, fix: str) -> None:
        super().__init__(f"{path}: {problem}; {fix}", path=str(path), problem=problem, fix=fix)


_WRITE_FAILURE = re.compile(r"os error \d+|I/O error|inline_container|fail(ed)? writ|write fail", re.IGNORECASE)


def is_write_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a failed write: an ``OSError``, or what torch's zip writer (a RuntimeError)
    and safetensors (a SafetensorError) raise instead on a full disk or a read-only folder."""
    return isinstance(exc, OSError) or bool(_WRITE_FAILURE.search(str(exc)))


def with_path(exc: BaseException, path: str | os.PathLike) -> OSError:
    """``exc`` as an ``OSError`` that names ``path`` when it names no file (a full disk's ENOSPC
    names none; torch and safetensors raise errors that are not even OSErrors)."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return exc
    code = getattr(exc, "errno", None)
    if code is None:
        found = re.search(r"os error (\d+)", str(exc))
        code = int(found.group(1)) if found else errno.EIO
    text = getattr(exc, "strerror", None) or (os.strerror(code) if code != errno.EIO else "") or str(exc)
    return OSError(code, text, str(path))  # OSError picks the subclass by errno (PermissionError...)


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
               float: "a number", type(None): "null"}


def json_field_problem(doc: object, field: str) -> str | None:
    """What keeps ``doc[field]`` of a JSONL line from being text, in words (None when it is)."""
    if not isinstance(doc, dict):
        return f"is {_JSON_TYPES.get(type(doc), type(doc).__name__)}, not a JSON object"
    if field not in doc:
        return f"has no string field {field!r} (it has {sorted(doc)[:10]})"
    value = doc[field]
    if not isinstance(value, str):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        return f"has field {field!r} holding {_JSON_TYPES.get(type(value), type(value).__name__)} ({shown}), not a string"
    return None
