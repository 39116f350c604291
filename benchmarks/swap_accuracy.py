"""How often PronounSwapper picks the right counterpart of an ambiguous pronoun.

Gold: the challenge set (tests/data/pronoun_challenge.tsv) and three UD English treebanks
(EWT and GUM: Penn tag PRP$ = determiner, PRP = standing alone / object; LinES: its own tags,
so the dependency relation decides: nmod:poss, or a conjunct of one, = determiner). Accuracy per
direction and per ambiguous form with a 95% Wilson lower bound, and how often the tag of a
window around the pronoun equals the tag the full en_core_web_sm pipeline gives in the whole
sentence. Data from DEBIAS_DATA_DIR (default ../shared/data).

    python benchmarks/swap_accuracy.py [--split dev|heldout|all] [--show-errors]
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import spacy
from spacy.language import Language

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from debias.pronoun_rules import is_determiner  # noqa: E402
from debias.pronouns import AMBIGUOUS, DIRECTIONS, PRONOUN_RE, TABLE, canonical_form, source_forms  # noqa: E402
from debias.swapper import PronounSwapper  # noqa: E402

CHALLENGE = REPO / "tests" / "data" / "pronoun_challenge.tsv"
UD_FILES = {
    "EWT": ["ud_english_ewt/en_ewt-ud-dev.conllu"],
    "GUM": ["ud_english_gum/en_gum-ud-dev.conllu"],
    "LinES": ["ud_english_lines/en_lines-ud-train.conllu", "ud_english_lines/en_lines-ud-dev.conllu"],
}
FORMS_OF = {"to_feminine": ("his",), "to_masculine": ("her",), "both": ("his", "her")}


def wilson_lower(correct: int, total: int, z: float = 1.959964) -> float:
    """Lower end of the 95% Wilson score interval of a proportion."""
    if total == 0:
        return float("nan")
    p = correct / total
    centre = p + z * z / (2 * total)
    margin = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return (centre - margin) / (1 + z * z / total)


def read_challenge(path: Path = CHALLENGE) -> list[dict[str, str]]:
    """Rows of the challenge set (comment lines start with '#')."""
    with open(path, encoding="utf-8", newline="") as fh:
        lines = [line for line in fh if not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))


def expected_targets(source: str, expected: str) -> list[str] | None:
    """The word at each pronoun of ``source`` in ``expected`` (everything else must match)."""
    import re

    pieces, pos, pattern = [], 0, []
    for m in PRONOUN_RE.finditer(source):
        pattern.append(re.escape(source[pos : m.start()]))
        pieces.append(m)
        pos = m.end()
    pattern.append(re.escape(source[pos:]))
    found = re.fullmatch(r"(\w+(?:['’]s)?)".join(pattern), expected)
    return list(found.groups()) if found else None


@dataclass
class Item:
    """One gold ambiguous occurrence: the sentence, the character span, and its gold role."""

    text: str
    start: int
    end: int
    determiner: bool
    where: str


def challenge_items(rows: list[dict[str, str]]) -> list[Item]:
    items = []
    for row in rows:
        text = row["input"]
        # Gold role from the both-direction column: his->her / her->his is a determiner.
        targets = expected_targets(text, row["both"])
        if targets is None:
            raise ValueError(f"{CHALLENGE}: row {row['id']}: 'both' column does not align with input")
        for m, target in zip(PRONOUN_RE.finditer(text), targets, strict=True):
            form = canonical_form(m.group())
            if form in AMBIGUOUS:
                det = target.lower() == AMBIGUOUS[form][0]
                items.append(Item(text, m.start(), m.end(), det, row["id"]))
    return items


def read_conllu(path: Path) -> list[tuple[str, list[dict[str, str]]]]:
    """(text, tokens) per sentence; each token a dict of the ten CoNLL-U columns."""
    cols = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")
    sentences, text, tokens = [], None, []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith("# text = "):
                text = line[len("# text = ") :]
            elif line.startswith("#"):
                continue
            elif not line:
                if text is not None and tokens:
                    sentences.append((text, tokens))
                text, tokens = None, []
            else:
                tokens.append(dict(zip(cols, line.split("\t"), strict=True)))
    if text is not None and tokens:
        sentences.append((text, tokens))
    return sentences


def ud_items(name: str, files: list[str], data_dir: Path) -> tuple[list[Item], int]:
    """Gold his/her occurrences of a treebank, and how many could not be placed in the text."""
    items, unplaced = [], 0
    for rel in files:
        for text, tokens in read_conllu(data_dir / rel):
            by_id = {t["id"]: t for t in tokens}
            pos, skip_until = 0, None
            for tok in tokens:
                tid = tok["id"]
                if "." in tid:
                    continue  # empty nodes
                if "-" in tid:
                    skip_until = tid.split("-")[1]
                elif skip_until is not None:
                    if tid == skip_until:
                        skip_until = None
                    continue
                at = text.find(tok["form"], pos)
                if at < 0:
                    if tok["form"].lower() in AMBIGUOUS:
                        unplaced += 1
                    continue
                pos = at + len(tok["form"])
                if tok["form"].lower() not in AMBIGUOUS or "-" in tid:
                    continue
                if name == "LinES":
                    head = by_id.get(tok["head"], {})
                    det = tok["deprel"] == "nmod:poss" or (
                        tok["deprel"] == "conj" and head.get("deprel") == "nmod:poss"
                    )
                elif tok["xpos"] in ("PRP$", "PRP"):
                    det = tok["xpos"] == "PRP$"
                else:
                    continue
                items.append(Item(text, at, pos, det, f"{name}:{tok['id']}"))
    return items, unplaced


def score(swappers: dict[str, PronounSwapper], items: list[Item]) -> dict[tuple[str, str], list]:
    """(direction, form) -> [correct, total, errors]."""
    texts = sorted({it.text for it in items})
    result: dict[tuple[str, str], list] = defaultdict(lambda: [0, 0, []])
    for direction, swapper in swappers.items():
        plans = dict(zip(texts, swapper.plan_batch(texts), strict=True))
        for it in items:
            form = it.text[it.start : it.end].lower()
            if form not in FORMS_OF[direction]:
                continue
            found = [s for s in plans[it.text] if s.start == it.start]
            want = AMBIGUOUS[form][0 if it.determiner else 1]
            got = found[0].target.lower() if found and found[0].target else None
            cell = result[(direction, form)]
            cell[1] += 1
            if got == want:
                cell[0] += 1
            else:
                cell[2].append((it, got, want))
    return result


def tagger_alone(swapper: PronounSwapper, items: list[Item]) -> str:
    """Accuracy of the tagger's own PRP$/PRP, without the rules, as a comparison."""
    texts = sorted({it.text for it in items})
    tags = {(text, start): tag for text, found in zip(texts, swapper.raw_tags(texts), strict=True)
            for start, _end, tag in found}
    cells: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for it in items:
        cell = cells[it.text[it.start : it.end].lower()]
        cell[1] += 1
        cell[0] += (tags.get((it.text, it.start)) == "PRP$") == it.determiner
    return ", ".join(f"{form} {c}/{n} ({c / n:.4f})" for form, (c, n) in sorted(cells.items()))


def report(title: str, result: dict[tuple[str, str], list], show_errors: bool, plain: str = "") -> None:
    print(f"\n{title}")
    if plain:
        print(f"  tagger alone, no rules: {plain}")
    print(f"  {'direction':13} {'form':5} {'correct':>8} {'total':>6} {'accuracy':>9} {'wilson95_lo':>12}")
    for direction in DIRECTIONS:
        cells = [(f, result[(direction, f)]) for f in FORMS_OF[direction] if (direction, f) in result]
        rows = list(cells)
        if len(cells) > 1:
            rows.append(("all", [sum(c[0] for _, c in cells), sum(c[1] for _, c in cells), []]))
        for form, (correct, total, _) in rows:
            acc = correct / total if total else float("nan")
            print(f"  {direction:13} {form:5} {correct:8d} {total:6d} {acc:9.4f} {wilson_lower(correct, total):12.4f}")
    if show_errors:
        seen = set()
        for (_direction, _form), (_, _, errors) in sorted(result.items()):
            for it, got, want in errors:
                key = (it.where, it.start)
                if key in seen:
                    continue
                seen.add(key)
                marked = f"{it.text[:it.start]}[{it.text[it.start:it.end]}]{it.text[it.end:]}"
                print(f"    {it.where}: got {got}, want {want}: {marked}")


def every_pronoun(swappers: dict[str, PronounSwapper], texts: list[str], gold: list[Item]) -> None:
    """Accuracy per direction over every gendered pronoun a direction rewrites (the table forms
    too), on whole treebank sentences; ambiguous forms without a gold tag are not counted."""
    det = {(it.text, it.start): it.determiner for it in gold}
    print(f"  {'direction':13} {'correct':>8} {'total':>6} {'accuracy':>9} {'wilson95_lo':>12}")
    for direction, swapper in swappers.items():
        sources = set(source_forms(direction))
        chosen = [t for t in texts if any(canonical_form(m.group()) in sources for m in PRONOUN_RE.finditer(t))]
        correct = total = 0
        for text, plan in zip(chosen, swapper.plan_batch(chosen), strict=True):
            by_start = {s.start: s for s in plan}
            for m in PRONOUN_RE.finditer(text):
                form = canonical_form(m.group())
                if form not in sources:
                    continue
                if form in AMBIGUOUS:
                    if (text, m.start()) not in det:
                        continue
                    want = AMBIGUOUS[form][0 if det[(text, m.start())] else 1]
                else:
                    want = TABLE[form]
                swap = by_start.get(m.start())
                total += 1
                correct += bool(swap and swap.target and swap.target.lower() == want)
        print(f"  {direction:13} {correct:8d} {total:6d} {correct / total:9.4f} {wilson_lower(correct, total):12.4f}")


def window_agreement(swapper: PronounSwapper, full: Language, items: list[Item]) -> None:
    """Compare the tag of each pronoun in its window with the tag the full pipeline gives it in
    the whole sentence, and the rules' decision on the window with their decision on the sentence."""
    texts = sorted({it.text for it in items})
    window_tags = swapper.raw_tags(texts)
    plans = swapper.plan_batch(texts)
    same_tag = same_decision = total = 0
    sentence_docs = swapper.nlp.pipe(texts, batch_size=64)  # the same tagger, whole sentence
    full_docs = full.pipe(texts, batch_size=64)
    for tags, plan, full_doc, doc in zip(window_tags, plans, full_docs, sentence_docs, strict=True):
        targets = {s.start: s for s in plan}
        for start, end, tag in tags:
            span, own = full_doc.char_span(start, end), doc.char_span(start, end)
            if span is None or own is None or len(span) != 1:
                continue
            total += 1
            same_tag += span[0].tag_ == tag
            swap = targets[start]
            window_det = swap.target.lower() == AMBIGUOUS[swap.form][0]
            same_decision += is_determiner(doc, own[0].i) == window_det
    print(
        f"  context_words={swapper.context_words}: window tag = whole-sentence tag of the full "
        f"pipeline for {same_tag}/{total} ({same_tag / total:.2%}); "
        f"swap decision the same for {same_decision}/{total} ({same_decision / total:.2%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="all", choices=("dev", "heldout", "all"))
    parser.add_argument("--show-errors", action="store_true")
    parser.add_argument("--spacy-model", default=None)
    parser.add_argument("--no-agreement", action="store_true", help="skip the window-agreement part")
    args = parser.parse_args()
    data_dir = Path(os.environ.get("DEBIAS_DATA_DIR", REPO.parent / "shared" / "data"))

    swappers = {d: PronounSwapper(d, args.spacy_model) for d in DIRECTIONS}
    print(f"spaCy model: {swappers['both'].model_info}")
    rows = [r for r in read_challenge() if args.split in ("all", r["split"])]
    items = challenge_items(rows)
    report(f"challenge set ({args.split}, {len(rows)} sentences)", score(swappers, items), args.show_errors,
           tagger_alone(swappers["both"], items))

    all_ud: list[Item] = []
    for name, files in UD_FILES.items():
        items, unplaced = ud_items(name, files, data_dir)
        all_ud += items
        note = f", {unplaced} not placed in the sentence text" if unplaced else ""
        report(f"UD English {name} ({len(items)} his/her{note})", score(swappers, items), args.show_errors,
               tagger_alone(swappers["both"], items))

    report(f"UD English EWT + GUM + LinES ({len(all_ud)} his/her)", score(swappers, all_ud), False,
           tagger_alone(swappers["both"], all_ud))

    texts = [text for files in UD_FILES.values() for rel in files for text, _ in read_conllu(data_dir / rel)]
    print("\nevery gendered pronoun each direction rewrites, UD EWT + GUM + LinES sentences")
    every_pronoun(swappers, texts, all_ud)

    if not args.no_agreement:
        print("\nwindow vs whole sentence (UD EWT + GUM + LinES sentences with his/her)")
        full = spacy.load(swappers["both"].spacy_model)
        for words in (1, 2, 3, 4):
            window_agreement(PronounSwapper("both", args.spacy_model, context_words=words), full, all_ud)


if __name__ == "__main__":
    main()
