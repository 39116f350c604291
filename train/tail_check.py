"""Before a run trains on a rewritten tail, check the tail against its manifest.

A tail can come from elsewhere or be edited after its rewrite; training on it would still mark
the run complete. ``tail_check=sample`` (the default) checks what is cheap at any size: the
``.bin`` holds exactly the rows the manifest describes, the ``.idx`` is the one it recorded, and a
sample of rows differs from its source rows only at whole-word pronouns (the row-by-row proof
``verify_tail`` makes for every row). ``tail_check=full`` also hashes the whole ``.bin`` against
the manifest's sha256.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from debias.core.contracts import MANIFEST, TAIL, RewriteManifest
from debias.data.fetch import sha256_file
from debias.data.indexed import MMapIndexedDataset, bin_path, idx_path

log = logging.getLogger(__name__)

SAMPLE_ROWS = 64
_CHUNK = 1 << 24
FIX = ("rewrite the tail (delete the folder; the run rewrites it, or run debias-rewrite), or verify it with "
       "debias.verify_tail")


def _bin_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def sample_rows(rows: int, k: int = SAMPLE_ROWS, rng: np.random.Generator | None = None) -> list[int]:
    """The first and the last row and ``k - 2`` others drawn afresh each time (so no fixed set of
    rows escapes every check)."""
    if rows <= k:
        return list(range(rows))
    rng = rng or np.random.default_rng()
    picked = {0, rows - 1, *rng.choice(rows, size=k - 2, replace=False).tolist()}
    return sorted(picked)


def check_tail(tail_dir: Path, manifest: RewriteManifest, source: MMapIndexedDataset, tokenizer: Path,
               how: str = "sample") -> list[str]:
    """Problems with the tail in ``tail_dir`` against ``manifest`` and the data order ``source``."""
    from debias.data.token_bytes import ByteVocab
    from debias.rewrite.rows import check_row
    from debias.rewrite.selection import RowSelection
    from debias.rewrite.verify import sample_sha256

    where = tail_dir / MANIFEST
    prefix = tail_dir / TAIL
    if not manifest.finished():
        return [f"{where}: lacks the rows, row length or output checksums a finished rewrite records; {FIX}"]
    assert manifest.source is not None and manifest.output is not None and manifest.row_length is not None
    out_sums = manifest.output
    rows, length, first = manifest.source.rows, manifest.row_length, manifest.source.first_row
    if not bin_path(prefix).is_file() or not idx_path(prefix).is_file():
        return [f"{prefix}.bin/.idx: missing beside {where}; {FIX}"]
    itemsize = np.dtype(manifest.dtype or source.dtype).itemsize
    want = rows * length * itemsize
    have = bin_path(prefix).stat().st_size
    if have != want:
        return [f"{bin_path(prefix)}: {have:,} bytes, but the manifest's {rows:,} rows of {length} tokens take "
                f"{want:,}; {FIX}"]
    if sha256_file(idx_path(prefix)) != out_sums["idx_sha256"]:
        return [f"{idx_path(prefix)}: not the index the rewrite wrote (sha256 differs from {where}); {FIX}"]
    if manifest.tokenizer_sha256 and sha256_file(tokenizer) != manifest.tokenizer_sha256:
        return [f"{where}: the tail was rewritten with another tokenizer than this run's {tokenizer} (sha256 "
                f"differs); rewrite it with this run's tokenizer"]
    tail = MMapIndexedDataset(prefix)
    if how == "full" or manifest.method != "morphological":
        # The placebo, sham and published arms change more than pronouns: no row proof applies, so
        # their (small) tails are held to the manifest's sha256 whole.
        if _bin_sha256(bin_path(prefix)) != out_sums["bin_sha256"]:
            return [f"{bin_path(prefix)}: its rows changed since the rewrite (sha256 differs from {where}); {FIX}"]
        return []
    vocab = ByteVocab(tokenizer)
    selection = RowSelection.from_record(manifest.selection)
    for k in sample_rows(rows):
        old, new = source.rows(first + k, first + k + 1)[0], tail.rows(k, k + 1)[0]
        if (old != new).any() and not selection.chosen(np.array([first + k]))[0]:
            return [f"{bin_path(prefix)}: row {k} (source row {first + k}) changed, but the manifest's selection "
                    f"leaves it as it was: the tail was changed after its rewrite; {FIX}"]
        _, problem = check_row(vocab, old, new, manifest.direction, manifest.groups)
        if problem is not None:
            return [f"{bin_path(prefix)}: row {k} (source row {first + k}) is not its source row with pronouns "
                    f"swapped ({problem}): the tail was changed after its rewrite; {FIX}"]
    sampled = out_sums.get("sample_rows_sha256")
    if sampled is not None and sample_sha256(tail) != sampled:
        # The rewrite's own hash of evenly spaced rows: a tail put back to its source rows (undone), or
        # rows changed in any way, differs here even where each row alone passes the proof above.
        return [f"{bin_path(prefix)}: the rows the rewrite hashed (evenly spaced, {where}) are not the rows it "
                f"wrote: the tail was changed or undone after its rewrite; {FIX}"]
    return []
