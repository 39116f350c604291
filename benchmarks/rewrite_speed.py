"""Tokens per second of the tail rewrite (to_feminine) against, in the same run, the full spaCy
pipeline over the same rows and the published method (decode each row, replace strings,
re-encode, pad or cut), and how many pronouns the rewrite had to leave.

The rows are the first ``--rows`` rows of a data order built from the Gutenberg novels in
DEBIAS_DATA_DIR (gutenberg_corpus/train) with the GPT-NeoX-20B tokenizer and Pythia's row length
(2,049), cached under ``--work``. Tokens are the 20B tokenizer's, counted the same way for every
method. Timings on these shared machines are noisy: compare the ratios, which come from one run.

    python benchmarks/rewrite_speed.py [--rows 1024] [--baseline-rows 32] [--rounds 4] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # one core per method, as the workers get
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DEBIAS_DATA_DIR", str(REPO.parent / "shared" / "data"))

import numpy as np  # noqa: E402
import spacy  # noqa: E402

import debias.swap.swapper as swapper_module  # noqa: E402
from debias.config import DataConfig  # noqa: E402
from debias.data.corpus import prepare_data_order  # noqa: E402
from debias.data.indexed import MMapIndexedDataset  # noqa: E402
from debias.data.token_bytes import ByteVocab  # noqa: E402
from debias.rewrite.rows import RewriteStats, RowRewriter  # noqa: E402
from debias.rewrite.tail import rewrite_tail  # noqa: E402
from debias.swap.swapper import DEFAULT_MODELS, PronounSwapper  # noqa: E402

# The published rewrite's idea: a fixed word map, applied to the decoded text.
PUBLISHED_MAP = {"he": "she", "him": "her", "his": "her", "himself": "herself"}
_WORD = re.compile(r"\b(he|him|his|himself)\b", re.IGNORECASE)


def _published_replace(m: re.Match[str]) -> str:
    word = m.group()
    target = PUBLISHED_MAP[word.lower()]
    if word.isupper():
        return target.upper()
    return target.capitalize() if word[0].isupper() else target


def published_method(vocab: ByteVocab, rows: np.ndarray) -> tuple[np.ndarray, int]:
    """Decode, replace, re-encode, pad or cut; returns the rows and how many changed length first."""
    tok, out, resized = vocab.tokenizer, np.empty_like(rows), 0
    pad = tok.token_to_id("<|padding|>")
    for i, row in enumerate(rows):
        ids = tok.encode(
            _WORD.sub(_published_replace, tok.decode(row.tolist(), skip_special_tokens=False)),
            add_special_tokens=False,
        ).ids
        resized += len(ids) != len(row)
        ids = (ids + [pad] * len(row))[: len(row)]
        out[i] = ids
    return out, resized


def timed(fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default="gutenberg_corpus/train")
    ap.add_argument(
        "--rows", type=int, default=1024, help="rows rewritten (2,049 tokens each); 0: all"
    )
    ap.add_argument(
        "--baseline-rows", type=int, default=32, help="rows the full spaCy pipeline reads"
    )
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--work", default=str(REPO / "runs" / "bench"))
    args = ap.parse_args()
    work = Path(args.work)

    cfg = DataConfig(
        name="gutenberg-20b",
        source="text",
        corpus=args.corpus,
        tokenizer="neox-20b",
        seq_length=2048,
        rows_per_step=1,
    )
    prefix, tokenizer = prepare_data_order(cfg, out_dir=work / "data_orders", seed=1234)
    data = MMapIndexedDataset(prefix)
    n = len(data) if args.rows <= 0 else min(args.rows, len(data))
    rows = data.rows(0, n)
    tokens = rows.size
    vocab = ByteVocab(tokenizer)
    print(f"rows: {n} of {len(data)} ({tokens:,} tokens of the 20B tokenizer) from {args.corpus}")

    # Interleaved rounds: each round times the three methods on its own share of the rows, so a
    # burst of load from other processes hits all of them alike; ratios are per round.
    swapper = PronounSwapper("to_feminine")
    rewriter = RowRewriter(vocab, swapper)
    name = next(m for m in DEFAULT_MODELS if spacy.util.is_package(m))
    nlp = spacy.load(name)
    rewriter.rewrite(rows[:8], RewriteStats())  # warm up both
    list(nlp.pipe([vocab.tokenizer.decode(rows[0].tolist())]))
    base_rows = min(args.baseline_rows, n)
    rates: dict[str, list[float]] = {"full": [], "published": [], "rewrite": []}
    resized = 0
    for r in range(args.rounds):
        part = rows[r * n // args.rounds : (r + 1) * n // args.rounds]
        base = rows[r * base_rows // args.rounds : (r + 1) * base_rows // args.rounds]
        texts = [vocab.tokenizer.decode(row.tolist()) for row in base]
        _, secs = timed(lambda texts=texts: list(nlp.pipe(texts, batch_size=8)))
        rates["full"].append(base.size / secs)
        (_, changed), secs = timed(published_method, vocab, part)
        resized += changed
        rates["published"].append(part.size / secs)
        stats = RewriteStats()
        _, secs = timed(
            lambda part=part, stats=stats: [
                rewriter.rewrite(part[a : a + 32], stats) for a in range(0, len(part), 32)
            ]
        )
        rates["rewrite"].append(part.size / secs)

    e2e: dict[int, float] = {}
    manifest = None
    for w in args.workers:
        swapper_module._MODELS.clear()  # every end-to-end run loads its spaCy model itself
        out = work / f"tail-w{w}"
        shutil.rmtree(out, ignore_errors=True)
        manifest, e2e[w] = timed(
            rewrite_tail,
            prefix,
            out,
            start_step=0,
            end_step=n,
            rows_per_step=1,
            tokenizer=tokenizer,
            direction="to_feminine",
            workers=w,
            progress=False,
        )
        shutil.rmtree(out, ignore_errors=True)

    def spread(values: list[float]) -> str:
        return f"median {statistics.median(values):>10,.1f} (range {min(values):,.1f} .. {max(values):,.1f})"

    full = rates["full"]
    print(f"\ntokens/s over {args.rounds} interleaved rounds (one core each):")
    print(
        f"  full spaCy pipeline ({name}: {', '.join(nlp.pipe_names)}), {base_rows} rows: {spread(full)}"
    )
    print(
        f"  published method (decode, replace, re-encode, pad/cut):  {spread(rates['published'])}; "
        f"{resized} of {n} rows changed length and were padded or cut"
    )
    print(f"  rewrite (RowRewriter, model loaded, no file I/O):        {spread(rates['rewrite'])}")
    vs_full = [a / b for a, b in zip(rates["rewrite"], full, strict=True)]
    vs_pub = [a / b for a, b in zip(rates["rewrite"], rates["published"], strict=True)]
    print(f"  rewrite / full pipeline: {spread(vs_full)}  (goal >= 30x)")
    print(f"  rewrite / published:     {spread(vs_pub)}")
    print("end to end, rewrite_tail (start-up, tasks, assembly, checksums included):")
    for w, secs in e2e.items():
        print(
            f"  {w} worker(s): {tokens / secs:>10,.0f} tokens/s ({secs:.1f} s for {tokens:,} tokens)"
        )
    for w in sorted(e2e)[1:]:
        print(
            f"  scaling {min(e2e)} -> {w} workers: {e2e[min(e2e)] / e2e[w]:.2f}x (this machine: {os.cpu_count()} cores, "
            f"shared with other work)"
        )
    totals = manifest["totals"]
    print(
        f"\npronouns seen {totals['seen']:,}, swapped {totals['swapped']:,}, left {totals['left']:,} "
        f"= {100 * totals['left_fraction']:.3f}% (goal < 0.5%); non-canonical spellings {manifest['noncanonical']}"
    )
    for form, c in manifest["counts"].items():
        print(f"  {form:8s} seen {c['seen']:7,d}  swapped {c['swapped']:7,d}  left {c['left']}")


if __name__ == "__main__":
    main()
