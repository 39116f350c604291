"""A text file read as pieces of bounded size, cut where the swap cannot see the cut.

The swapper decides an ambiguous *his* or *her* from a window of ``context_words`` words either
side (windows that touch are tagged together). A piece that ends outside every such window, with
a character to spare on each side, is swapped exactly as the text around it would be, so a file
swapped piece by piece gives the same output as the whole text at once, while no more than
``MAX_PIECE_CHARS`` (and one line's block of ``MAX_PIECE_CHARS`` bytes) is held at a time: a
200 MB file of one line took 4.4 GB before.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from debias.core.errors import DebiasError
from debias.swap.pronouns import find_pronouns
from debias.swap.swapper import window_bounds

log = logging.getLogger(__name__)

MAX_PIECE_CHARS = 1 << 20  # a piece longer than this is cut, where the swap cannot see the cut
SEARCH_CHARS = 1 << 16  # how far back from the limit a cut is looked for
_PAD = 4096  # text beyond the searched stretch that can hold a window reaching into it
_SPACE = re.compile(r"\s")


class SwapFileError(DebiasError, ValueError):
    """An input file that cannot be swapped as it is (not UTF-8, a malformed JSONL line ...)."""


def lines(path: Path, bar: tqdm, block: int | None = None) -> Iterator[tuple[int, str, bool]]:
    """(line number, decoded text, whether the line ends here) in blocks of at most ``block`` bytes
    (default ``MAX_PIECE_CHARS``): a long line comes in several, never split inside a character.
    SwapFileError on bytes that are not UTF-8."""
    block = block or MAX_PIECE_CHARS
    with open(path, "rb") as fh:
        number, carry = 1, b""
        while True:
            raw = carry + fh.readline(block)
            bar.update(len(raw) - len(carry))
            if not raw:
                return
            ends = raw.endswith(b"\n") or len(raw) - len(carry) < block and not raw.endswith(b"\n")
            keep = 0 if ends else _incomplete_tail(raw)
            carry = raw[len(raw) - keep:] if keep else b""
            body = raw[: len(raw) - keep]
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as err:
                raise SwapFileError(
                    f"{path}: line {number} is not UTF-8 (byte {body[err.start]:#04x}); convert the file first, "
                    f"e.g. `iconv -f cp1252 -t utf-8 {path}`"
                ) from None
            done = raw.endswith(b"\n")
            yield number, text, done or ends
            if done:
                number += 1


def _incomplete_tail(raw: bytes) -> int:
    """How many bytes at the end of ``raw`` begin a UTF-8 character that the next block completes."""
    for back in range(1, min(4, len(raw)) + 1):
        byte = raw[-back]
        if byte & 0xC0 != 0x80:  # the first byte of the last character
            need = 1 if byte < 0x80 else 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4
            return back if need > back else 0
    return 0


def paragraphs(path: Path, bar: tqdm, swapper: Any, limit: int | None = None) -> Iterator[str]:
    """The file's text in pieces that end after a blank line or, past ``limit`` characters
    (default ``MAX_PIECE_CHARS``), at a cut the swap cannot see (``cut_point``)."""
    limit = limit or MAX_PIECE_CHARS
    parts: list[str] = []
    size = 0
    for _, text, whole in lines(path, bar, block=limit):
        parts.append(text)
        size += len(text)
        if whole and not text.strip() and len(parts) > 1:
            yield "".join(parts)
            parts, size = [], 0
        while size >= limit:
            joined = "".join(parts)
            cut = cut_point(joined, limit, swapper)
            yield joined[:cut]
            parts, size = [joined[cut:]], len(joined) - cut
    if parts and size:
        yield "".join(parts)


def cut_point(text: str, limit: int, swapper: Any) -> int:
    """Where a piece of ``text`` ends, at or before ``limit``: just after a whitespace character
    that no tagging window of the swapper comes within a character of (so both sides are swapped
    as they would be together); the last whitespace before ``limit`` when no such place lies within
    ``SEARCH_CHARS``; ``limit`` itself in text with no whitespace at all."""
    lo = max(0, limit - SEARCH_CHARS)
    start = max(0, lo - _PAD)
    stretch = text[start: min(len(text), limit + _PAD)]
    forms = getattr(swapper, "ambiguous", None)
    words = getattr(swapper, "context_words", None)
    taken: list[tuple[int, int]] = []
    if forms and words:
        taken = sorted((start + a - 2, start + b + 2) for a, b in (
            window_bounds(stretch, m.start(), m.end(), words) for m in find_pronouns(stretch, forms)))
    merged: list[list[int]] = []
    for a, b in taken:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    spaces = [m.start() for m in _SPACE.finditer(text, lo, limit)]
    j = len(merged) - 1
    for at in reversed(spaces):
        while j >= 0 and merged[j][0] > at:
            j -= 1
        if j < 0 or merged[j][1] < at:
            return at + 1
    if spaces:
        log.warning("no place in %d characters outside every tagging window: the piece is cut at a space, "
                    "and a pronoun near it may be tagged with less context", SEARCH_CHARS)
        return spaces[-1] + 1
    return limit
