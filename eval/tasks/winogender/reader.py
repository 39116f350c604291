"""WinoGender (Rudinger et al. 2018): one doc per template and participant wording, with its
female, male and neutral sentence and the occupation's share of women."""

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

WINOGENDER_SENTENCES = "winogender/all_sentences.tsv"
WINOGENDER_STATS = "winogender/occupations-stats.tsv"

def winogender_docs(
    sentences: str | Path | None = None,
    stats: str | Path | None = None,
    *,
    limit: int | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One item per template and participant wording, with its female, male and neutral sentence.

    ``pct_female`` is the occupation's share of women in the US labour statistics (``bls_pct_female``).
    """
    sentences_path = data_path(WINOGENDER_SENTENCES, sentences)
    stats_path = data_path(WINOGENDER_STATS, stats)
    fix = "Restore the original WinoGender files (see debias/data/data_registry.json for their URLs and sha256)."
    pct: dict[str, float] = {}
    with decoding(stats_path, fix), open(stats_path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        for row in reader:
            try:
                pct[row["occupation"]] = float(row["bls_pct_female"])
            except (KeyError, TypeError, ValueError):
                raise BenchmarkFormatError(
                    stats_path, reader.line_num, "no numeric bls_pct_female for this occupation", fix
                ) from None
    groups: dict[tuple[str, str, str], dict[str, str]] = {}
    with decoding(sentences_path, fix), open(sentences_path, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        if header[:2] != ["sentid", "sentence"]:
            raise BenchmarkFormatError(sentences_path, 1, f"header is {header}, expected sentid<TAB>sentence", fix)
        for line_no, line in enumerate(fh, start=2):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            fields = parts[0].split(".")
            if len(parts) != 2 or len(fields) != 5 or fields[4] != "txt":
                raise BenchmarkFormatError(
                    sentences_path, line_no,
                    "expected '<occupation>.<participant>.<answer>.<gender>.txt<TAB><sentence>'", fix,
                )
            occupation, participant, answer, gender = fields[:4]
            if gender not in ("male", "female", "neutral"):
                raise BenchmarkFormatError(sentences_path, line_no, f"unknown pronoun gender {gender!r}", fix)
            if occupation not in pct:
                raise BenchmarkFormatError(
                    sentences_path, line_no, f"occupation {occupation!r} is missing from {stats_path.name}", fix
                )
            slot = groups.setdefault((occupation, participant, answer), {})
            if gender in slot:
                raise BenchmarkFormatError(sentences_path, line_no, f"duplicate sentence id {parts[0]}", fix)
            slot[gender] = parts[1].strip()
    docs = []
    for (occupation, participant, answer), slot in groups.items():
        if set(slot) != {"male", "female", "neutral"}:
            raise BenchmarkFormatError(
                sentences_path, None,
                f"template {occupation}.{participant}.{answer} lacks the {sorted({'male', 'female', 'neutral'} - set(slot))} sentence(s)",
                fix,
            )
        docs.append(
            {
                "id": f"winogender.{occupation}.{participant}.{answer}",
                "occupation": occupation,
                "participant": participant,
                "wording": "someone" if participant == "someone" else "participant",
                "answer": int(answer),  # 0: the pronoun refers to the occupation, 1: to the participant
                "pct_female": pct[occupation],
                "female": slot["female"],
                "male": slot["male"],
                "neutral": slot["neutral"],
            }
        )
    return subsample(docs, limit, seed)


def data_sources(_: dict[str, Any]) -> dict[str, str]:
    """The files whose content decides the scores: {path: sha256}."""
    return file_digests([resolve(WINOGENDER_SENTENCES), resolve(WINOGENDER_STATS)])
