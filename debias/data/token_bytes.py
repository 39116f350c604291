"""A byte-level BPE vocabulary seen as bytes: what each token id spells, and every way to spell a
byte string with exactly ``n`` tokens. The tail rewrite works on tokens in place, so it needs both:
a token's bytes to find pronouns in a row, and an equal-count spelling of the replacement."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from debias.data.tokenizer_files import read_tokenizer_file


def _byte_alphabet() -> dict[str, int]:
    """GPT-2's reversible map from the 256 bytes to printable characters, inverted (char -> byte).

    Printable Latin-1 bytes stand for themselves; the other 68 bytes take the characters from
    U+0100 on, in byte order (so the space byte is 'Ġ', U+0120).
    """
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(0x100 + extra)
            extra += 1
    return {c: b for b, c in chars.items()}


_CHAR_TO_BYTE = _byte_alphabet()


def _uses_byte_level(spec: dict) -> bool:
    def has(node: dict | None) -> bool:
        if not node:
            return False
        if node.get("type") == "ByteLevel":
            return True
        return any(
            has(child) for key in ("decoders", "pretokenizers") for child in node.get(key) or []
        )

    return spec.get("model", {}).get("type") == "BPE" and has(spec.get("decoder"))


class ByteVocab:
    """Token ids <-> bytes for a byte-level BPE ``tokenizer.json`` (GPT-NeoX-20B's, or ``debias.data.bpe``'s).

    Special tokens (``<|endoftext|>``, ``<|padding|>``) spell no text: they are boundaries.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        spec, self.tokenizer = read_tokenizer_file(self.path)
        if not _uses_byte_level(spec):
            raise ValueError(
                f"{self.path}: the tail rewrite needs a byte-level BPE tokenizer (a BPE model with a "
                "ByteLevel decoder, like GPT-NeoX-20B's); this one is not. Use the tokenizer the data "
                "order was built with, if it is byte-level, or rebuild the data with one"
            )
        added = self.tokenizer.get_added_tokens_decoder()
        vocab = self.tokenizer.get_vocab(with_added_tokens=True)
        size = max(vocab.values()) + 1
        self.token_bytes: list[bytes] = [b""] * size
        self.special = np.zeros(size, dtype=bool)
        for token, i in vocab.items():
            if i in added:
                self.token_bytes[i] = b"" if added[i].special else added[i].content.encode("utf-8")
                self.special[i] = added[i].special
            else:
                try:
                    self.token_bytes[i] = bytes(_CHAR_TO_BYTE[c] for c in token)
                except KeyError as exc:
                    raise ValueError(
                        f"{self.path}: token {token!r} (id {i}) is not in the byte-level alphabet; "
                        "the file is not a byte-level BPE"
                    ) from exc
        self.lengths = np.fromiter((len(b) for b in self.token_bytes), dtype=np.int64, count=size)
        self.size = size
        self.by_bytes: dict[bytes, int] = {}
        for i, b in enumerate(self.token_bytes):
            if b and not self.special[i]:
                self.by_bytes.setdefault(b, i)  # the lower id when two tokens spell the same bytes
        self.max_len = max(len(b) for b in self.by_bytes)
        self.respell = lru_cache(maxsize=1 << 16)(self._respell)

    def spell(self, ids: np.ndarray | list[int]) -> bytes:
        """The bytes a token sequence spells (special tokens spell nothing)."""
        tb = self.token_bytes
        return b"".join([tb[i] for i in (ids.tolist() if isinstance(ids, np.ndarray) else ids)])

    def canonical(self, data: bytes) -> tuple[int, ...] | None:
        """The tokenizer's own encoding of ``data`` taken alone (None when it is not whole UTF-8 or
        does not round-trip, e.g. under normalization)."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        ids = tuple(self.tokenizer.encode(text, add_special_tokens=False).ids)
        return ids if self.spell(list(ids)) == data else None

    def _respell(self, data: bytes, n: int) -> tuple[tuple[int, ...], bool] | None:
        """``(ids, canonical)``: ``data`` spelled with exactly ``n`` tokens, the tokenizer's own
        spelling when it has ``n`` tokens, else the spelling with the lowest token ids (the earliest,
        most frequent merges); None when no such spelling exists."""
        canonical = self.canonical(data)
        if canonical is not None and len(canonical) == n:
            return canonical, True
        m = len(data)
        # best[pos][k]: cheapest (sum of ids, ids) spelling data[:pos] with k tokens
        best: list[dict[int, tuple[int, tuple[int, ...]]]] = [{} for _ in range(m + 1)]
        best[0][0] = (0, ())
        for pos in range(m):
            for k, (cost, ids) in best[pos].items():
                if k >= n:
                    continue
                for length in range(1, min(self.max_len, m - pos) + 1):
                    tid = self.by_bytes.get(data[pos : pos + length])
                    if tid is None:
                        continue
                    cand = (cost + tid, ids + (tid,))
                    old = best[pos + length].get(k + 1)
                    if old is None or cand < old:
                        best[pos + length][k + 1] = cand
        found = best[m].get(n)
        return None if found is None else (found[1], False)
