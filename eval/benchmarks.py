"""Readers for the benchmark files: CrowS-Pairs, WinoGender, LAMBADA and held-out text.

Each reader checks every row and turns the file into plain dicts (one per scored item) that the
lm-eval tasks in ``eval/tasks`` consume. A bad row stops the run with a message naming the file,
the line and the fix, because a silently skipped row changes a benchmark's meaning. WinoBias has
its own module (``eval.winobias``): its rows come in pro/anti pairs.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from debias.core.errors import DebiasError
from debias.data.fetch import resolve, resolve_dir
from debias.data.text_corpus import (
    strip_gutenberg,  # the training corpus's own rules: held-out text is cleaned alike
)

log = logging.getLogger(__name__)

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
WINOGENDER_SENTENCES = "winogender/all_sentences.tsv"
WINOGENDER_STATS = "winogender/occupations-stats.tsv"
LAMBADA_FILE = "lambada/lambada_test.jsonl"
HELDOUT_DIR = "gutenberg_corpus/heldout"


class BenchmarkFormatError(DebiasError, ValueError):
    """A benchmark file has a row this code cannot score; the message names file, line and fix."""

    def __init__(self, path: str | Path, line: int | None, problem: str, fix: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}. {fix}", path=str(path), problem=problem, fix=fix)
        self.line = line


def not_utf8(path: Path, fix: str) -> BenchmarkFormatError:
    """The error for a benchmark file that is not UTF-8, naming the line and the first bad byte."""
    data = Path(path).read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BenchmarkFormatError(path, data[: exc.start].count(b"\n") + 1,
                                    f"not UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start})",
                                    f"Convert the file to UTF-8 (e.g. `iconv -f cp1252 -t utf-8`), or: {fix}")
    return BenchmarkFormatError(path, None, "not UTF-8", fix)


@contextmanager
def decoding(path: Path, fix: str) -> Iterator[None]:
    """Reading ``path`` inside: a byte that is not UTF-8 stops with the file, the line and ``fix``
    (Python's own error names neither the file nor the line)."""
    try:
        yield
    except UnicodeDecodeError:
        raise not_utf8(path, fix) from None


def data_path(relpath: str, override: str | Path | None = None) -> Path:
    """An absolute path: ``override`` when given (a user's own copy), else the resolved registry file."""
    if override is not None:
        path = Path(override).expanduser().resolve()
        if not path.exists():
            raise FileNotFoundError(f"{path}: benchmark file not found (given in place of {relpath})")
        return path
    return resolve(relpath)


def subsample(items: Sequence[Any], limit: int | None, seed: int) -> list[Any]:
    """A seeded subset of ``limit`` items in their original order (all items when limit is None)."""
    items = list(items)
    if limit is None or limit >= len(items):
        return items
    if limit < 1:
        raise ValueError(f"limit={limit} must be at least 1 (or null for every item)")
    keep = np.sort(np.random.default_rng(seed).choice(len(items), size=limit, replace=False))
    return [items[i] for i in keep]


# ---------------------------------------------------------------- CrowS-Pairs
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


# ---------------------------------------------------------------- WinoGender
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


# ---------------------------------------------------------------- synthetic probes
def synthetic_probe_docs(
    probe_seed: int = 0, n_per_occupation: int = 8, *, limit: int | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    """She/he probe pairs on the synthetic corpus's occupations, shaped like WinoBias pairs."""
    from debias.synthetic.stories import probe_pairs

    docs = [
        {"id": f"synthetic.{p.occupation}.{p.template}", "type": 0, "occupation": p.occupation,
         "stereotype": p.stereotype, "role": p.role, "pro": p.pro_sentence, "anti": p.anti_sentence}
        for p in probe_pairs(probe_seed, n_per_occupation)
    ]
    return subsample(docs, limit, seed)


# ---------------------------------------------------------------- LAMBADA
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


# ---------------------------------------------------------------- held-out text
def heldout_files(path: str | Path | None = None) -> list[Path]:
    """The .txt / .jsonl files of a held-out file or folder (default: ``gutenberg_corpus/heldout``).

    A .jsonl file holds one document per line as ``{"text": ...}`` (the synthetic corpus's format).
    """
    if path is None:
        root = resolve_dir(HELDOUT_DIR)
    else:
        root = Path(path).expanduser()
        if not root.is_absolute() and not root.exists():
            # A registry-relative name such as "gutenberg_corpus/heldout".
            root = resolve_dir(str(path)) if not str(path).endswith(".txt") else resolve(str(path))
        root = root.resolve()
    if root.is_file():
        return [root]
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".txt", ".jsonl"))
    if not files:
        raise FileNotFoundError(
            f"{root}: no .txt or .jsonl files for held-out perplexity; point eval.tasks.heldout.path at a text file or folder"
        )
    return files


def read_text(path: Path) -> str:
    """UTF-8 text (a BOM allowed) with LF line ends; any other encoding stops with the offending byte."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BenchmarkFormatError(
            path, line, f"not UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start})",
            "Convert the file to UTF-8 first, e.g. `iconv -f cp1252 -t utf-8`.",
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_documents(path: Path) -> list[str]:
    """The documents of one held-out file: a .txt file is one document, a .jsonl file one per line."""
    text = read_text(path)
    if path.suffix != ".jsonl":
        return [strip_gutenberg(text)]
    docs = []
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)["text"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise BenchmarkFormatError(path, line_no, 'not a JSON object with a "text" field',
                                       "Write one {\"text\": ...} object per line.") from None
        if not isinstance(doc, str):
            raise BenchmarkFormatError(path, line_no, '"text" is not a string', "Write one {\"text\": ...} object per line.")
        docs.append(doc)
    return docs


def heldout_docs(
    path: str | Path | None = None,
    *,
    chunk_chars: int = 4000,
    limit: int | None = None,
    seed: int = 0,
    unwrap: bool = True,
    swap: str | None = None,
) -> list[dict[str, Any]]:
    """Held-out text cut at paragraph breaks into chunks of about ``chunk_chars`` characters.

    Each chunk is scored on its own (lm-eval's rolling log-likelihood), so chunks are the items
    that the bootstrap resamples. ``unwrap`` joins hard-wrapped lines inside a paragraph.
    ``swap`` (a ``PronounSwapper`` direction) rewrites every chunk as an arm's tail was rewritten:
    the text on which that arm's own training predicts its perplexity.
    """
    if swap is not None:
        from debias.swap.swapper import PronounSwapper

        swapper = PronounSwapper(swap)
        docs = heldout_docs(path, chunk_chars=chunk_chars, limit=limit, seed=seed, unwrap=unwrap)
        return [{**d, "id": d["id"], "text": (t := swapper.swap(d["text"])), "n_bytes": len(t.encode("utf-8"))}
                for d in docs]
    if chunk_chars < 1:
        raise ValueError(f"chunk_chars={chunk_chars} must be positive")
    files = heldout_files(path)
    root = files[0].parent if len(files) == 1 else Path(*_common_parts(files))
    docs = []
    for file in files:
        paragraphs = [p.strip() for text in read_documents(file) for p in re.split(r"\n\s*\n", text) if p.strip()]
        if unwrap:
            paragraphs = [re.sub(r"\s*\n\s*", " ", p) for p in paragraphs]
        chunk: list[str] = []
        size = 0
        name = str(file.relative_to(root)) if file.is_relative_to(root) else file.name
        for para in paragraphs:
            chunk.append(para)
            size += len(para) + 2
            if size >= chunk_chars:
                docs.append(_chunk_doc(name, len(docs), chunk))
                chunk, size = [], 0
        if chunk:
            docs.append(_chunk_doc(name, len(docs), chunk))
    if not docs:
        raise BenchmarkFormatError(files[0], None, "no text to score", "Give a file or folder with non-empty .txt files.")
    return subsample(docs, limit, seed)


def _chunk_doc(name: str, index: int, paragraphs: list[str]) -> dict[str, Any]:
    text = "\n\n".join(paragraphs)
    return {"id": f"heldout.{name}.{index}", "file": name, "text": text, "n_bytes": len(text.encode("utf-8"))}


def _common_parts(files: list[Path]) -> tuple[str, ...]:
    parts = list(files[0].parent.parts)
    for file in files[1:]:
        other = file.parent.parts
        n = 0
        while n < min(len(parts), len(other)) and parts[n] == other[n]:
            n += 1
        parts = parts[:n]
    return tuple(parts) or ("/",)
