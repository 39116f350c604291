"""Words per second of PronounSwapper against the full en_core_web_sm pipeline, same text, same
process, one core, per direction, with the noun group off (pronouns only) and on (pronouns +
nouns); and the fraction of the text's tokens the tagger read. Speeds
are words per CPU second of this process, so that other jobs on a shared machine count less.

The text: paragraphs from the held-out novels in gutenberg_corpus/heldout (DEBIAS_DATA_DIR,
default ../shared/data), the same number of words from each. Each round times the full
pipeline and then every direction over the same paragraphs; the ratio is taken within a round,
since these machines are noisy.

    python benchmarks/swap_speed.py [--words 20000] [--rounds 5]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"  # one core, before numpy loads

import argparse  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import spacy  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from debias.swap.pronouns import DIRECTIONS  # noqa: E402
from debias.swap.swapper import PronounSwapper  # noqa: E402

NOVELS = ("pg1661.txt", "105.txt", "121.txt", "pg550.txt")


def paragraphs(path: Path, words: int) -> list[str]:
    """The first paragraphs of a novel's body holding about ``words`` words."""
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    start = re.search(r"\*\*\* ?START OF[^\n]*\n", text)
    end = re.search(r"\*\*\* ?END OF", text)
    body = text[start.end() if start else 0 : end.start() if end else len(text)]
    out, count = [], 0
    for para in re.split(r"\n\s*\n", body):
        if para.strip():
            out.append(para)
            count += len(para.split())
            if count >= words:
                break
    return out


def timed(fn, *args) -> tuple[float, object]:
    """CPU seconds of this process (other jobs on a shared machine do not count) and the result."""
    t0 = time.process_time()
    result = fn(*args)
    return time.process_time() - t0, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=20_000, help="words of text in all")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--spacy-model", default=None)
    args = parser.parse_args()
    data_dir = Path(os.environ.get("DEBIAS_DATA_DIR", REPO.parent / "shared" / "data"))
    heldout = data_dir / "gutenberg_corpus" / "heldout"
    texts = [p for name in NOVELS for p in paragraphs(heldout / name, args.words // len(NOVELS))]
    n_words = sum(len(t.split()) for t in texts)

    swappers = {d: PronounSwapper(d, args.spacy_model) for d in DIRECTIONS}
    swappers |= {f"{d}+nouns": PronounSwapper(d, args.spacy_model, groups=("pronouns", "nouns")) for d in DIRECTIONS}
    full = spacy.load(swappers["to_feminine"].spacy_model)
    print(f"{n_words} words in {len(texts)} paragraphs of {len(NOVELS)} held-out novels; "
          f"full pipeline: {swappers['to_feminine'].spacy_model} {full.pipe_names}")
    swappers["to_feminine"].swap_batch(texts[:50])  # warm up caches
    list(full.pipe(texts[:50]))

    ratios: dict[str, list[float]] = {d: [] for d in swappers}
    tagged: dict[str, float] = {}
    for rnd in range(args.rounds):
        seconds, docs = timed(lambda: list(full.pipe(texts, batch_size=64)))
        full_wps = n_words / seconds
        n_tokens = sum(len(d) for d in docs)
        line = [f"round {rnd + 1}: full pipeline {full_wps:8.0f} words/s"]
        for direction, swapper in swappers.items():
            seconds, _ = timed(swapper.swap_batch, texts)
            ratios[direction].append(n_words / seconds / full_wps)
            tagged[direction] = swapper.tagged_tokens / n_tokens
            line.append(f"{direction} {n_words / seconds / full_wps:5.1f}x")
        print("; ".join(line))
    print("\ndirection           ratio median (range)       tagger read")
    for direction in swappers:
        r = ratios[direction]
        print(f"{direction:19} {statistics.median(r):6.1f}x ({min(r):.1f}-{max(r):.1f}x)"
              f"{'':8}{tagged[direction]:6.1%} of tokens")


if __name__ == "__main__":
    main()
