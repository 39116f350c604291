"""The data resolver (debias.data.fetch): local data directory, checksummed cache, download, offline."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from debias.data import fetch

CONTENT = b"1 [The developer] argued with the designer because [he] did not like the design.\n"
SHA = hashlib.sha256(CONTENT).hexdigest()
REL = "winobias/data/pro_stereotyped_type1.txt.dev"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A 'remote' file reachable through a file:// URL, so downloads run without a network."""
    path = tmp_path / "remote" / "pro.dev"
    path.parent.mkdir()
    path.write_bytes(CONTENT)
    return path


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: Path) -> Path:
    """No local data dir, an empty cache, offline, and a one-entry registry pointing at ``source``."""
    cache = tmp_path / "cache"
    monkeypatch.delenv("DEBIAS_DATA_DIR", raising=False)
    monkeypatch.setenv("DEBIAS_CACHE_DIR", str(cache))
    monkeypatch.setenv("DEBIAS_OFFLINE", "1")
    monkeypatch.setattr(fetch, "registry", lambda: {REL: {"url": source.as_uri(), "sha256": SHA}})
    return cache


def go_online(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBIAS_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")


def test_local_data_dir_wins_and_is_trusted_as_is(env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = tmp_path / "data"
    (local / REL).parent.mkdir(parents=True)
    (local / REL).write_bytes(b"the user's own edited copy\n")
    monkeypatch.setenv("DEBIAS_DATA_DIR", str(local))
    assert fetch.resolve(REL) == (local / REL).resolve()


def test_local_data_dir_serves_unregistered_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "extra.txt").write_text("x")
    monkeypatch.setenv("DEBIAS_DATA_DIR", str(tmp_path))
    assert fetch.resolve("extra.txt") == (tmp_path / "extra.txt").resolve()


def test_cache_hit_needs_no_network(env: Path) -> None:
    (env / REL).parent.mkdir(parents=True)
    (env / REL).write_bytes(CONTENT)
    assert fetch.resolve(REL) == env / REL  # offline, yet found


def test_cache_checksum_mismatch_names_file_and_fix(env: Path) -> None:
    (env / REL).parent.mkdir(parents=True)
    (env / REL).write_bytes(CONTENT + b"tampered")
    with pytest.raises(fetch.ChecksumError) as err:
        fetch.resolve(REL)
    message = str(err.value)
    assert str(env / REL) in message and SHA in message and "Delete the file" in message


def test_offline_and_missing_says_what_where_and_how(env: Path, source: Path) -> None:
    with pytest.raises(fetch.DataNotFoundError) as err:
        fetch.resolve(REL)
    message = str(err.value)
    assert REL in message  # the dataset
    assert str(env / REL) in message and "$DEBIAS_DATA_DIR/" + REL in message  # where it was expected
    assert source.as_uri() in message and "DEBIAS_DATA_DIR" in message  # how to get it


def test_download_verifies_and_caches(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    go_online(monkeypatch)
    path = fetch.resolve(REL)
    assert path == env / REL and path.read_bytes() == CONTENT
    assert not list(path.parent.glob("*.part"))


def test_download_with_wrong_checksum_leaves_nothing(env: Path, monkeypatch: pytest.MonkeyPatch, source: Path) -> None:
    go_online(monkeypatch)
    monkeypatch.setattr(fetch, "registry", lambda: {REL: {"url": source.as_uri(), "sha256": "0" * 64}})
    with pytest.raises(fetch.ChecksumError):
        fetch.resolve(REL)
    assert not (env / REL).exists() and not list(env.rglob("*.part"))


def test_failed_download_is_a_clear_missing_error(env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    go_online(monkeypatch)
    gone = (tmp_path / "nowhere.txt").as_uri()
    monkeypatch.setattr(fetch, "registry", lambda: {REL: {"url": gone, "sha256": SHA}})
    with pytest.raises(fetch.DataNotFoundError, match="download failed"):
        fetch.resolve(REL)


def test_download_false_forbids_the_network(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    go_online(monkeypatch)
    with pytest.raises(fetch.DataNotFoundError):
        fetch.resolve(REL, download=False)


def test_unregistered_and_absent(env: Path) -> None:
    with pytest.raises(fetch.DataNotFoundError, match="not a registered dataset file"):
        fetch.resolve("nothing/here.txt")


def test_resolve_dir_prefers_a_complete_local_copy(env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = tmp_path / "data"
    (local / REL).parent.mkdir(parents=True)
    (local / REL).write_bytes(CONTENT)
    monkeypatch.setenv("DEBIAS_DATA_DIR", str(local))
    assert fetch.resolve_dir("winobias/data") == (local / "winobias/data").resolve()


def test_resolve_dir_fills_the_cache(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    go_online(monkeypatch)
    folder = fetch.resolve_dir("winobias/data")
    assert folder == env / "winobias/data" and (folder / Path(REL).name).read_bytes() == CONTENT


def test_shared_registry_is_consistent_with_the_shared_data(data_dir: Path) -> None:
    """Every registered file present in the shared data folder matches its pinned sha256."""
    checked = 0
    for rel, entry in fetch.registry().items():
        path = data_dir / rel
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert fetch.sha256_file(path) == entry["sha256"], rel
            checked += 1
    assert checked > 10
