"""CrowS-Pairs English (Nangia et al. 2020) from the original CSV: one doc per sentence pair."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from debias.data.fetch import resolve
from debias.eval.tasks.common import (
    BenchmarkFormatError,
    data_path,
    decoding,
    file_digests,
    subsample,
)

CROWS_FILE = "crows_pairs/crows_pairs_anonymized.csv"
CROWS_BIAS_TYPES = (
    "race-color",
    "socioeconomic",
    "gender",
    "disability",
    "nationality",
    "sexual-orientation",
    "physical-appearance",
    "religion",
    "age",
)


def crows_pairs_docs(
    path: str | Path | None = None, *, bias_type: str | None = None, limit: int | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    """CrowS-Pairs English rows: ``sent_more`` (the more stereotyping sentence) and ``sent_less``."""
    path = data_path(CROWS_FILE, path)
    fix = "Restore the original crows_pairs_anonymized.csv (see debias/data/data_registry.json for its URL and sha256)."
    docs = []
    with decoding(path, fix), open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"sent_more", "sent_less", "stereo_antistereo", "bias_type"} - set(reader.fieldnames or [])
        if missing:
            raise BenchmarkFormatError(path, 1, f"header lacks column(s) {sorted(missing)}", fix)
        for row in reader:
            line = reader.line_num
            index = row.get("") or row.get("id") or str(len(docs))
            more, less = (row.get("sent_more") or "").strip(), (row.get("sent_less") or "").strip()
            if not more or not less:
                raise BenchmarkFormatError(path, line, "empty sent_more or sent_less", fix)
            if more == less:
                raise BenchmarkFormatError(path, line, "sent_more and sent_less are identical", fix)
            direction = row.get("stereo_antistereo")
            if direction not in ("stereo", "antistereo"):
                raise BenchmarkFormatError(
                    path, line, f"stereo_antistereo is {direction!r}, expected 'stereo' or 'antistereo'", fix
                )
            kind = row.get("bias_type")
            if kind not in CROWS_BIAS_TYPES:
                raise BenchmarkFormatError(
                    path, line, f"bias_type is {kind!r}, expected one of {', '.join(CROWS_BIAS_TYPES)}", fix
                )
            docs.append(
                {"id": f"crows.{index}", "sent_more": more, "sent_less": less, "bias_type": kind,
                 "stereo": direction == "stereo"}
            )
    if bias_type is not None:
        docs = [d for d in docs if d["bias_type"] == bias_type]
    return subsample(docs, limit, seed)


def data_sources(_: dict[str, Any]) -> dict[str, str]:
    """The files whose content decides the scores: {path: sha256}."""
    return file_digests([resolve(CROWS_FILE)])
