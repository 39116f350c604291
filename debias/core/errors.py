"""One error type for everything a person can fix, and the one way every command fails.

Every exception this project raises derives from ``DebiasError``: it carries the file that is
wrong (``path``), what is wrong with it (``problem``) and what to do (``fix``). Each subclass keeps
its builtin base too (``ValueError``, ``FileNotFoundError``...), so callers that catch those keep
working. Errors of the libraries underneath (a truncated safetensors file, a corrupt ``.idx``, a
malformed benchmark row) are turned into one of these where the file is read, since only there is
it known which file it was and what would fix it.

Every command (swap, rewrite, train, eval, report, readme) runs through ``exits_on_error``: such an
error is printed as one or two lines and the command exits 2; ``DEBIAS_DEBUG=1`` adds the traceback.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

DEBUG_ENV = "DEBIAS_DEBUG"
EXIT_CODE = 2

F = TypeVar("F", bound=Callable[..., Any])


class DebiasError(Exception):
    """``path`` cannot be used: ``problem``; ``fix`` says what to do instead.

    Raised with the parts (``path=, problem=, fix=``) the message is ``"<path>: <problem>; <fix>"``.
    Many subclasses are raised with one ready message that already names the file and the fix; then
    ``problem`` is that message and ``path``/``fix`` are None.
    """

    def __init__(self, *args: Any, path: str | os.PathLike | None = None, problem: str | None = None,
                 fix: str | None = None) -> None:
        if problem is None and len(args) == 1 and isinstance(args[0], str):
            problem = args[0]
        self.path = None if path is None else os.fspath(path)
        self.problem, self.fix = problem, fix
        if not args:
            args = (message(self.path, problem or "", fix),)
        super().__init__(*args)

    def __reduce__(self) -> tuple:
        # Rebuilt from its args and attributes without calling the subclass's own __init__ (whose
        # signature differs from class to class): the study's worker processes pickle errors.
        args = self.args
        if isinstance(self, OSError) and self.filename is not None:
            args = (self.errno, self.strerror, self.filename)
        return (_rebuild, (type(self), args, dict(self.__dict__)))


def _rebuild(cls: type[DebiasError], args: tuple, state: dict[str, Any]) -> DebiasError:
    error = cls.__new__(cls, *args)
    super(DebiasError, error).__init__(*args)  # the builtin base's own (OSError sets errno, filename)
    error.__dict__.update(state)
    return error


def message(path: str | None, problem: str, fix: str | None) -> str:
    """``path: problem; fix``, leaving out the parts that are None."""
    text = problem if path is None else f"{path}: {problem}"
    return text if not fix else f"{text}; {fix}"


_OS_FIXES = {  # what to do about an OSError that names its file, by errno ("{rerun}": the command's way)
    errno.ENOSPC: "free space on that disk, then {rerun}",
    errno.EDQUOT: "free space within your quota, then {rerun}",
    errno.EFBIG: "free space there or raise the file size limit (ulimit -f), then {rerun}",
    errno.EROFS: "make it writable or choose a writable folder, then {rerun}",
    errno.EACCES: "give yourself access to it or choose another path, then {rerun}",
    errno.EPERM: "give yourself access to it or choose another path, then {rerun}",
    errno.ENOENT: "check the path (a typo? relative to another folder?)",
    errno.EISDIR: "name a file, not a folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder; check the path",
}


def describe(exc: BaseException, rerun: str = "rerun") -> str | None:
    """The one or two lines a command prints for ``exc``; None when it is not an error a user can
    act on (a bug, which keeps its traceback). An ``OSError`` that names its file is one."""
    if isinstance(exc, DebiasError):
        return str(exc)
    if isinstance(exc, (FileNotFoundError, FileExistsError)) and exc.filename is None and len(exc.args) == 1 \
            and isinstance(exc.args[0], str):
        return exc.args[0]  # raised with one ready message naming its path (a missing model, a folder taken)
    if isinstance(exc, OSError) and exc.filename is not None:
        fix = _OS_FIXES.get(exc.errno or 0)
        return message(os.fspath(exc.filename), exc.strerror or str(exc), fix and fix.format(rerun=rerun))
    return None


def debugging() -> bool:
    """Whether ``DEBIAS_DEBUG`` asks for tracebacks (any value but empty, 0, false, no)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def exits_on_error(command: str, *, rerun: str = "rerun") -> Callable[[F], F]:
    """Decorate a command's entry point (inside ``@hydra.main``, which would otherwise print its own
    traceback and exit 1): a ``DebiasError`` (or an ``OSError`` naming its file) becomes
    ``<command>: <message>`` on stderr and exit status 2. ``rerun`` says how to go on after a full
    disk (train: "rerun with resume=auto")."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                text = describe(exc, rerun)
                if text is None:
                    raise
                if debugging():
                    traceback.print_exc(file=sys.stderr)
                print(f"{command}: {text}", file=sys.stderr)
                sys.stderr.flush()
                raise SystemExit(EXIT_CODE) from None

        return run  # type: ignore[return-value]

    return decorate
