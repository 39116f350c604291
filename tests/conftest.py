from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Tests read the shared benchmark data; CI sets DEBIAS_DATA_DIR, a checkout beside ../shared needs nothing.
os.environ.setdefault("DEBIAS_DATA_DIR", str((REPO.parent / "shared" / "data").resolve()))
# Nothing in the tests may reach the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DEBIAS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ["DEBIAS_DATA_DIR"])
    if not path.is_dir():
        pytest.fail(f"DEBIAS_DATA_DIR={path} does not exist; point it at the shared data folder")
    return path


@pytest.fixture(scope="session")
def neox_tokenizer_path(data_dir: Path) -> Path:
    return data_dir / "pythia_tokenizer_config" / "20B_tokenizer.json"
