"""Held-out text (default: the held-out Gutenberg novels) cut at paragraph breaks into chunks,
the items of held-out perplexity; .txt files are cleaned by the training corpus's own Gutenberg
rules (``debias.data.text_corpus.strip_gutenberg``), so held-out text is cleaned like training text."""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from debias.data.fetch import resolve, resolve_dir
from debias.data.text_corpus import strip_gutenberg
from debias.eval.tasks.common import BenchmarkFormatError, file_digests, subsample

HELDOUT_DIR = "gutenberg_corpus/heldout"

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


def data_sources(options: dict[str, Any]) -> dict[str, str]:
    """The files whose content decides the scores: {path: sha256}, and for rewritten text the
    rewritten chunks' own digest (they depend on the swapper as well as the files)."""
    out = file_digests(heldout_files(options.get("path")))
    if options.get("swap"):
        out["swapped text"] = _swapped_digest(json.dumps(options, sort_keys=True, default=str))
    return out


@cache
def _swapped_digest(options_json: str) -> str:
    options = json.loads(options_json)
    docs = heldout_docs(options.get("path"), chunk_chars=options["chunk_chars"], limit=options["limit"],
                        seed=options["seed"], unwrap=options["unwrap"], swap=options["swap"])
    return hashlib.sha256("\n".join(d["text"] for d in docs).encode()).hexdigest()
