"""Write files so that a reader never sees half of one: write beside the target, then rename.

Temporary files and folders get the mode the umask gives (``tempfile`` would make them 0600/0700,
and the rename would keep that), so outputs on a shared cluster are as readable as any other file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from debias.core.input_errors import with_path


def umask() -> int:
    """The process's umask (read from /proc on Linux, so no other thread sees it change)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def mkstemp(dir: str | os.PathLike, prefix: str, suffix: str = ".tmp") -> tuple[int, str]:
    """``tempfile.mkstemp`` with the mode ``open()`` would give (0666 less the umask), not 0600:
    the file is renamed into place, and others on a shared machine must read it as they read the rest."""
    fd, name = tempfile.mkstemp(dir=dir, prefix=prefix, suffix=suffix)
    os.fchmod(fd, 0o666 & ~umask())
    return fd, name


def mkdtemp(dir: str | os.PathLike, prefix: str, suffix: str = ".tmp") -> str:
    """``tempfile.mkdtemp`` with the mode ``mkdir`` would give (0777 less the umask), not 0700."""
    name = tempfile.mkdtemp(dir=dir, prefix=prefix, suffix=suffix)
    os.chmod(name, 0o777 & ~umask())
    return name


def honour_umask(folder: str | os.PathLike) -> None:
    """Give every file and folder under ``folder`` the mode the umask gives: libraries that write
    through their own temporary files (transformers' ``save_pretrained``) leave them 0600."""
    mask = umask()
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o777 & ~mask)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o666 & ~mask)


@contextmanager
def atomic_path(dest: str | os.PathLike, *, is_dir: bool = False, keep_existing: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success it is renamed to ``dest``, on error removed.

    A directory target replaces any existing directory of that name only after it is complete;
    with ``keep_existing`` one that another process finished first is kept and ours dropped (two
    builders of the same content-addressed folder).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if is_dir:
        tmp = Path(mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
    else:
        fd, name = mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
    try:
        try:
            yield tmp
        except OSError as exc:
            raise with_path(exc, dest) from exc
        if is_dir:
            honour_umask(tmp)
            if keep_existing:
                try:
                    os.rename(tmp, dest)
                except OSError:
                    if not dest.is_dir():
                        raise
            elif dest.exists():
                old = dest.with_name(f".{dest.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(dest, old)
                os.replace(tmp, dest)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, dest)
        else:
            os.replace(tmp, dest)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_bytes(dest: str | os.PathLike, data: bytes) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def write_text(dest: str | os.PathLike, text: str) -> None:
    write_bytes(dest, text.encode("utf-8"))


def write_json(dest: str | os.PathLike, obj: Any) -> None:
    write_text(dest, json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n")
