"""Read text corpora into documents: a folder of .txt books or a JSONL file, decoded even where
a file is not clean UTF-8, without Project Gutenberg's boilerplate, and cut into documents of
about ``doc_words`` words so that a training batch mixes many sources."""

from __future__ import annotations

import codecs
import json
import logging
import os
import re
import threading
from pathlib import Path

from debias.core.errors import DebiasError
from debias.core.input_errors import json_field_problem

log = logging.getLogger(__name__)

_fallback = threading.local()


def _cp1252_bytes(exc: UnicodeError) -> tuple[str, int]:
    """Decode bytes that are not UTF-8 one by one as cp1252 (Latin-1 where cp1252 has a hole)."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    out = []
    for b in bad:
        try:
            out.append(bytes([b]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(bytes([b]).decode("latin-1"))
    _fallback.count = getattr(_fallback, "count", 0) + len(bad)
    return "".join(out), exc.end


codecs.register_error("debias_cp1252", _cp1252_bytes)


class CorpusError(DebiasError, ValueError):
    """A corpus file cannot be read as text documents."""


def decode_text(data: bytes, source: str | os.PathLike, *, bad_utf8: str = "cp1252") -> str:
    """UTF-8 text of a file, without a BOM and with ``\\n`` line ends.

    Bytes that are not UTF-8 (``train/141.txt`` has a Latin-1 pound sign, ``train/74-0.txt`` cp1252
    smart quotes) become the cp1252 character they most likely meant, and the count is logged;
    ``bad_utf8="error"`` stops instead.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if bad_utf8 == "error":
            raise CorpusError(
                f"{source}: not valid UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start}). Convert it "
                "(iconv -f cp1252 -t utf-8) or set data.bad_utf8=cp1252 to decode such bytes as cp1252"
            ) from exc
        _fallback.count = 0
        text = data.decode("utf-8", errors="debias_cp1252")
        log.warning(
            "%s: %d byte(s) were not UTF-8 and were decoded as cp1252", source, _fallback.count
        )
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


_PG_START = re.compile(r"^\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG", re.I | re.M)
_PG_END = re.compile(r"^\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG", re.I | re.M)
_PG_END_LINE = re.compile(r"^\s*End of (?:the )?Project Gutenberg", re.I | re.M)


def strip_gutenberg(text: str) -> str:
    """The book without Project Gutenberg's header, licence and footer (text without them is kept)."""
    start = _PG_START.search(text)
    if start:
        close = text.find(
            "***", start.end()
        )  # the marker's closing stars, maybe after a wrapped title
        cut = close if 0 <= close - start.end() < 400 else start.end()
        eol = text.find("\n", cut)
        text = text[eol + 1 :] if eol >= 0 else ""
    end = _PG_END.search(text)
    if end:
        text = text[: end.start()]
    tail_from = max(0, len(text) - 2000)
    last = None
    for m in _PG_END_LINE.finditer(text, tail_from):
        last = m
    if last:
        text = text[: last.start()]
    return text.strip("\n") + "\n" if text.strip() else ""


_PARAGRAPH_END = re.compile(r"\n[ \t]*\n\s*")


def split_document(text: str, doc_words: int) -> list[str]:
    """Cut a long text into documents of at least ``doc_words`` words at paragraph breaks (a
    paragraph longer than twice that is cut between words); a short remainder joins the last one."""
    if not text.strip():
        return []
    if doc_words <= 0:
        return [text.strip()]
    bounds = [m.end() for m in _PARAGRAPH_END.finditer(text)] + [len(text)]
    cuts = [0]
    words, prev = 0, 0
    for b in bounds:
        n = len(text[prev:b].split())
        if n > 2 * doc_words:  # one giant paragraph: cut it between words
            for m in re.finditer(r"\S+", text[prev:b]):
                words += 1
                if words >= doc_words:
                    cuts.append(prev + m.end())
                    words = 0
        else:
            words += n
            if words >= doc_words:
                cuts.append(b)
                words = 0
        prev = b
    if cuts[-1] != len(text):
        if len(cuts) > 1 and words < doc_words // 4:
            cuts[-1] = len(text)
        else:
            cuts.append(len(text))
    pieces = (text[a:b].strip() for a, b in zip(cuts, cuts[1:], strict=False))
    return [p for p in pieces if p]


def _corpus_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise CorpusError(
                f"{path}: a corpus folder must hold .txt files, and this one holds none"
            )
        return files
    return [path]


def read_corpus(
    path: str | os.PathLike,
    *,
    text_key: str = "text",
    doc_words: int = 2_000,
    strip_boilerplate: bool = True,
    bad_utf8: str = "cp1252",
) -> list[str]:
    """Documents of a folder of .txt files (one work per file, in sorted path order) or of a JSONL
    file (one document per line in the ``text_key`` field), cut to about ``doc_words`` words."""
    path = Path(path)
    if not path.exists():
        raise CorpusError(
            f"{path}: no such corpus file or folder; set data.corpus to a folder of .txt files "
            "or a .jsonl file (relative paths are looked up under DEBIAS_DATA_DIR)"
        )
    docs: list[str] = []
    for file in _corpus_files(path):
        if file.suffix == ".jsonl":
            for lineno, line in enumerate(
                decode_text(file.read_bytes(), file, bad_utf8=bad_utf8).split("\n"), 1
            ):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CorpusError(
                        f"{file}:{lineno}: not a JSON object ({exc.msg}); a JSONL corpus holds one "
                        f'object per line, e.g. {{"{text_key}": "..."}}'
                    ) from exc
                problem = json_field_problem(record, text_key)
                if problem is not None:
                    raise CorpusError(
                        f"{file}:{lineno}: {problem.removeprefix('has ')}; set data.text_key to the "
                        "field that holds each document's text"
                    )
                docs.extend(split_document(record[text_key], doc_words))
        else:
            text = decode_text(file.read_bytes(), file, bad_utf8=bad_utf8)
            if strip_boilerplate:
                text = strip_gutenberg(text)
            docs.extend(split_document(text, doc_words))
    if not docs:
        raise CorpusError(f"{path}: the corpus holds no text")
    return docs
