"""Find the public data files the project uses: a local data directory first, then a
checksummed download into a cache.

Tests and CI point ``DEBIAS_DATA_DIR`` at a folder laid out like the registry's keys
(``winobias/data/...``, ``lambada/lambada_test.jsonl``, ...). Real users without such a folder get
each file downloaded once from its canonical public location, checked against a pinned sha256,
and kept under ``DEBIAS_CACHE_DIR`` (default ``~/.cache/pythia-debias``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import urllib.request
from functools import lru_cache
from pathlib import Path

from debias.core import atomic
from debias.core.errors import DebiasError

log = logging.getLogger(__name__)

REGISTRY_FILE = Path(__file__).with_name("data_registry.json")


class DataNotFoundError(DebiasError, FileNotFoundError):
    """A dataset file is neither in the data directory nor in the cache, and could not be downloaded."""


class ChecksumError(DebiasError, ValueError):
    """A downloaded or cached file does not match its pinned sha256."""


@lru_cache(maxsize=1)
def registry() -> dict[str, dict[str, str]]:
    """Relative path -> {"url", "sha256"} for every file the project knows how to fetch."""
    return json.loads(REGISTRY_FILE.read_text())


def data_dir() -> Path | None:
    """The local data directory named by ``DEBIAS_DATA_DIR``, or None when unset."""
    value = os.environ.get("DEBIAS_DATA_DIR")
    return Path(value).expanduser().resolve() if value else None


def cache_dir() -> Path:
    value = os.environ.get("DEBIAS_CACHE_DIR")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "pythia-debias"


def offline() -> bool:
    """True when the user or the environment asked for no network (HF_HUB_OFFLINE, DEBIAS_OFFLINE)."""
    return any(os.environ.get(k, "") not in ("", "0", "false") for k in ("DEBIAS_OFFLINE", "HF_HUB_OFFLINE"))


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def resolve(relpath: str, *, download: bool | None = None) -> Path:
    """Absolute path of a registered data file, downloading it into the cache when needed.

    Order: ``$DEBIAS_DATA_DIR/relpath`` (trusted as is: it is the user's own copy), then the cache
    (checked against the pinned sha256), then the network unless offline. ``download=False``
    forbids the network even when online.
    """
    local = data_dir()
    if local is not None and (local / relpath).is_file():
        return local / relpath
    if relpath not in registry():
        where = local / relpath if local else f"$DEBIAS_DATA_DIR/{relpath}"
        raise DataNotFoundError(
            f"{relpath}: not a registered dataset file and not found at {where}. "
            "Set DEBIAS_DATA_DIR to a folder that holds it."
        )
    return _cached(relpath, download)


def resolve_dir(prefix: str, *, download: bool | None = None) -> Path:
    """A registered folder (e.g. ``gutenberg_corpus/heldout``), with every file in it present."""
    prefix = prefix.rstrip("/")
    names = [k for k in registry() if k.startswith(prefix + "/")]
    local = data_dir()
    if local is not None and (local / prefix).is_dir() and all((local / n).is_file() for n in names):
        return local / prefix
    if not names:
        raise DataNotFoundError(f"{prefix}: no registered files under this folder and no local copy; set DEBIAS_DATA_DIR.")
    for name in names:
        _cached(name, download)
    return cache_dir() / prefix


def _cached(relpath: str, download: bool | None) -> Path:
    entry = registry()[relpath]
    cached = cache_dir() / relpath
    if cached.is_file():
        actual = sha256_file(cached)
        if actual == entry["sha256"]:
            return cached
        raise ChecksumError(
            f"{cached}: sha256 {actual} does not match the pinned {entry['sha256']} for {relpath}. "
            f"Delete the file to download it again from {entry['url']}."
        )
    if download is False or (download is None and offline()):
        raise DataNotFoundError(_missing_message(relpath, entry, data_dir(), cached))
    try:
        _download(entry["url"], cached, entry["sha256"])
    except ChecksumError:
        raise
    except OSError as exc:
        raise DataNotFoundError(f"{_missing_message(relpath, entry, data_dir(), cached)} (download failed: {exc})") from exc
    return cached


def _missing_message(relpath: str, entry: dict[str, str], local: Path | None, cached: Path) -> str:
    return (
        f"dataset file {relpath} is missing: expected it at "
        f"{(local / relpath) if local else '$DEBIAS_DATA_DIR/' + relpath} or in the cache at {cached}, "
        f"and it could not be downloaded. Fetch {entry['url']} (sha256 {entry['sha256']}) to one of those paths, "
        "or set DEBIAS_DATA_DIR to a folder that holds it."
    )


def _download(url: str, dest: Path, sha256: str) -> None:
    """Stream ``url`` to a temporary file beside ``dest``, check its hash, then rename it in place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s -> %s", url, dest)
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=60) as resp, atomic.atomic_path(dest) as tmp:
        with open(tmp, "wb") as out:
            while block := resp.read(1 << 20):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != sha256:
            raise ChecksumError(f"{url}: downloaded sha256 {digest.hexdigest()} does not match the pinned {sha256}")
