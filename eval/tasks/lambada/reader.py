"""LAMBADA (OpenAI's detokenized test set, as lm-eval's lambada_openai) from the local file."""

from __future__ import annotations

import json
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

LAMBADA_FILE = "lambada/lambada_test.jsonl"

def lambada_docs(path: str | Path | None = None, *, limit: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """LAMBADA (OpenAI's detokenized test set): predict a passage's last word from the rest."""
    path = data_path(LAMBADA_FILE, path)
    fix = "Restore the original lambada_test.jsonl (see debias/data/data_registry.json for its URL and sha256)."
    docs = []
    with decoding(path, fix), open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                text = json.loads(line)["text"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise BenchmarkFormatError(path, line_no, 'not a JSON object with a "text" field', fix) from None
            if not isinstance(text, str) or " " not in text.strip():
                raise BenchmarkFormatError(path, line_no, "the passage needs at least two words", fix)
            # The same split as lm-eval's lambada_openai: the target is everything after the last space.
            context, target = text.rsplit(" ", 1)
            if not target:
                raise BenchmarkFormatError(path, line_no, "the passage ends with a space, so it has no last word", fix)
            docs.append({"id": f"lambada.{line_no}", "context": context, "target": " " + target})
    return subsample(docs, limit, seed)


def data_sources(_: dict[str, Any]) -> dict[str, str]:
    """The file whose content decides the scores: {path: sha256}."""
    return file_digests([resolve(LAMBADA_FILE)])
