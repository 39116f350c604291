"""Redrawing the genders of the synthetic corpus's characters in a tail, in place: the machinery the
placebo (``debias.rewrite.arms.placebo``) and the unlinked arm (``debias.rewrite.arms.unlink``) share,
and a measurement of any tail's she-share per kind of character read from its tokens.

Only the synthetic corpus (``debias.synthetic.stories``) can be redrawn: each character's gender there is
drawn once per story from a uniform ``u`` against ``stereotype_rate``, and story ``i`` has its own
generator. A redraw regenerates each story the tail reads with the same generator, every draw the
same, but with the chance of following the stereotype set per stereotyped gender (``rates``:
``{"female": p, "male": q}``), so only characters whose ``u`` lies between the old and the new
threshold change gender, and the text differs only in their pronouns, each written in its correct
form by the generator. Each changed story is tokenized with the run's tokenizer; where its token
count and every token but its pronouns' are unchanged, its tokens replace the old ones in the
tail's rows at the same positions; otherwise the story is left and counted by reason
(``length_changed``: the new pronouns need a different number of tokens; ``other_tokens_changed``;
``split_differs``: the story splits into documents otherwise). Rows and their lengths are kept, as
in every tail.

To find a tail row's documents the data order is rebuilt as ``debias.data.corpus`` built it (documents,
their shuffle, the stream cut into samples, the samples' shuffle) and checked against the source
rows token for token, so a data order of another corpus is refused, not silently mismatched.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from debias.config import DataConfig
from debias.core.contracts import MANIFEST, RewriteManifest, add_left, empty_counts
from debias.data.corpus import ORDER_META, load_tokenizer, pack_samples, tokenize_documents
from debias.data.fetch import sha256_file
from debias.data.indexed import MMapIndexedDataset, idx_path
from debias.data.text_corpus import split_document
from debias.data.token_bytes import ByteVocab
from debias.rewrite.arms.tailfile import TailSpan, finished, verify_arm_tail, write_tail
from debias.swap.pronouns import FEMININE, MASCULINE
from debias.synthetic.stories import OCCUPATIONS, gendered_spans, generate_stories, generate_story

log = logging.getLogger(__name__)


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def synthetic_problems(method: str, data: DataConfig) -> list[str]:
    """Why a redraw of ``method`` cannot run on this corpus (empty when it can)."""
    if data.source != "synthetic":
        return [f"method={method} redraws each character's gender from the synthetic corpus's generator, but "
                f"data.source={data.source}; run it on data=synthetic80 (or another synthetic corpus), or pick "
                "another method for this corpus"]
    return []


def _pronoun_tokens(offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> np.ndarray:
    """Which tokens (by their character offsets) overlap a pronoun span."""
    inside = np.zeros(len(offsets), dtype=bool)
    for i, (a, b) in enumerate(offsets):
        inside[i] = any(a < e and s < b for s, e in spans)
    return inside


def _segments(text: str, spans: list[tuple[int, int]]) -> list[str]:
    cuts = [0, *[x for s in spans for x in s], len(text)]
    return [text[cuts[i]:cuts[i + 1]] for i in range(0, len(cuts), 2)]


def _group_logits(occupations: dict[str, dict[str, Any]], key: str) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for gender in ("female", "male"):
        n = sum(o["pronouns"] for o in occupations.values() if o["stereotype"] == gender)
        k = sum(o[key] for o in occupations.values() if o["stereotype"] == gender)
        out[gender] = logit(k / n) if 0 < k < n else None
    f, m = out["female"], out["male"]
    out["link"] = None if f is None or m is None else f - m
    return out


class Rebuilt:
    """The data order as ``debias.data.corpus`` built it from the synthetic config, with each document's
    story and its place in the token stream."""

    def __init__(self, data: DataConfig, seed: int, epochs: int, tokenizer: Path) -> None:
        self.stories = list(generate_stories(data.synthetic))
        self.pieces: list[str] = []
        self.story_of: list[int] = []
        self.pieces_of: list[list[int]] = []
        for i, story in enumerate(self.stories):
            self.pieces_of.append([])
            for piece in split_document(story.text, data.doc_words):
                self.pieces_of[i].append(len(self.pieces))
                self.pieces.append(piece)
                self.story_of.append(i)
        self.tok, self.eod = load_tokenizer(tokenizer)
        self.stream, self.offsets = tokenize_documents(self.pieces, self.tok, self.eod, progress=False)
        self.doc_order, self.sample_order = pack_samples(self.offsets, data.seq_length, seed, epochs)
        lengths = np.diff(self.offsets)[self.doc_order]
        self.doc_start = np.concatenate([[0], np.cumsum(lengths)])  # of each position of doc_order
        self.ordered = np.concatenate([self.stream[self.offsets[d]:self.offsets[d + 1]] for d in self.doc_order])
        self.seq = data.seq_length

    def row_starts(self, first: int, stop: int) -> np.ndarray:
        return self.sample_order[first:stop] * self.seq

    def rows(self, tokens: np.ndarray, starts: np.ndarray) -> np.ndarray:
        return tokens[starts[:, None] + np.arange(self.seq + 1)]

    def positions(self, starts: np.ndarray) -> np.ndarray:
        """The positions in ``doc_order`` whose document some of these rows read (each once)."""
        lo = np.searchsorted(self.doc_start, starts, side="right") - 1
        hi = np.searchsorted(self.doc_start, starts + self.seq, side="right") - 1
        cover = np.zeros(len(self.doc_order) + 1, dtype=np.int64)
        np.add.at(cover, lo, 1)
        np.add.at(cover, hi + 1, -1)
        return np.flatnonzero(np.cumsum(cover)[:-1] > 0)


def _redraw(rebuilt: Rebuilt, data: DataConfig, docs: np.ndarray, rates: dict[str, float]) -> tuple[
        dict[int, np.ndarray], dict[int, str], dict[int, tuple]]:
    """For each document: its new tokens (when accepted), why it was left (when not), and the
    characters its story has after the redraw (whether or not the document was accepted)."""
    new_story: dict[int, Any] = {}
    accepted: dict[int, np.ndarray] = {}
    left: dict[int, str] = {}
    target: dict[int, tuple] = {}
    changed: list[tuple[int, str]] = []
    for d in docs.tolist():
        s = rebuilt.story_of[d]
        if s not in new_story:
            new_story[s] = generate_story(data.synthetic, s, stereotype_rates=rates)
        target[d] = new_story[s].characters
        if rebuilt.stories[s].characters == target[d]:
            continue
        pieces, mine = split_document(new_story[s].text, data.doc_words), rebuilt.pieces_of[s]
        if len(pieces) != len(mine):
            left[d] = "split_differs"
        else:
            changed.append((d, pieces[mine.index(d)]))
    encode = rebuilt.tok.encode_batch
    new_encodings = encode([t for _, t in changed], add_special_tokens=False)
    old_encodings = encode([rebuilt.pieces[d] for d, _ in changed], add_special_tokens=False)
    for (d, text), enc_new, enc_old in zip(changed, new_encodings, old_encodings, strict=True):
        old_text = rebuilt.pieces[d]
        old_ids, new_ids = np.asarray(enc_old.ids), np.asarray(enc_new.ids)
        old_spans, new_spans = gendered_spans(old_text, clitic=False), gendered_spans(text, clitic=False)
        if _segments(old_text, old_spans) != _segments(text, new_spans):
            left[d] = "other_tokens_changed"  # the generator changed more than pronouns
        elif len(new_ids) != len(old_ids):
            left[d] = "length_changed"
        elif ((old_ids != new_ids) & ~(_pronoun_tokens(enc_old.offsets, old_spans)
                                        & _pronoun_tokens(enc_new.offsets, new_spans))).any():
            left[d] = "other_tokens_changed"
        else:
            accepted[d] = new_ids
    return accepted, left, target


def _tail_stats(rebuilt: Rebuilt, positions: np.ndarray, starts: np.ndarray, accepted: dict[int, np.ndarray],
                left: dict[int, str], target: dict[int, tuple]) -> tuple[dict, dict, dict]:
    """Per occupation, the pronouns of its characters that the tail's rows hold and how many are
    feminine before and after; per form, the redrawn pronouns the rows hold, swapped or left by
    reason (a pronoun counts once for each tail row that holds it, as the rows' tokens do); and the
    documents the tail reads (each time it reads one)."""
    in_tail = np.zeros(len(rebuilt.ordered) + 1, dtype=np.int64)
    np.add.at(in_tail, starts, 1)
    np.add.at(in_tail, starts + rebuilt.seq + 1, -1)
    in_tail = np.cumsum(in_tail)[:-1]  # how many tail rows hold each token (rows overlap by one)
    docs = sorted({int(rebuilt.doc_order[j]) for j in positions.tolist()})
    encodings = rebuilt.tok.encode_batch([rebuilt.pieces[d] for d in docs], add_special_tokens=False)
    uses: dict[int, list[tuple[Any, np.ndarray]]] = {}  # each pronoun of the document with its tokens
    for d, enc in zip(docs, encodings, strict=True):
        story = rebuilt.stories[rebuilt.story_of[d]]
        before = sum(len(gendered_spans(rebuilt.pieces[k], clitic=False)) for k in rebuilt.pieces_of[rebuilt.story_of[d]] if k < d)
        spans = gendered_spans(rebuilt.pieces[d], clitic=False)
        mine = story.pronouns[before:before + len(spans)]
        if len(mine) != len(spans):
            raise RuntimeError(f"synthetic story {rebuilt.story_of[d]}: its text holds {len(spans)} pronouns where "
                               f"its record lists {len(mine)}; debias.synthetic.stories and the placebo disagree")
        uses[d] = [(u, np.flatnonzero(_pronoun_tokens(enc.offsets, [sp]))) for u, sp in zip(mine, spans, strict=True)]
    occupations = {o: {"stereotype": g, "pronouns": 0, "she_before": 0, "she_after": 0}
                   for o, g in sorted(OCCUPATIONS.items())}
    counts = empty_counts(MASCULINE + FEMININE)
    documents = {"read_by_tail": len(positions), "redrawn": 0, "unchanged": 0, "left": {}}
    for j in positions.tolist():
        d = int(rebuilt.doc_order[j])
        cast = rebuilt.stories[rebuilt.story_of[d]].characters
        if d in left:
            documents["left"][left[d]] = documents["left"].get(left[d], 0) + 1
        else:
            documents["redrawn" if d in accepted else "unchanged"] += 1
        base = int(rebuilt.doc_start[j])
        for use, tokens in uses[d]:
            n = int(in_tail[base + tokens].max(initial=0))  # each time a tail row holds the pronoun
            if not n:
                continue
            occ = occupations[cast[use.character].occupation]
            new_gender = target[d][use.character].gender
            occ["pronouns"] += n
            occ["she_before"] += n * (use.gender == "female")
            occ["she_after"] += n * ((new_gender if d in accepted else use.gender) == "female")
            if new_gender != use.gender:
                c = counts[use.surface.lower().replace("’", "'").split("'")[0]]
                c["seen"] += n
                if d in accepted:
                    c["swapped"] += n
                else:
                    add_left(c, left[d], n)
    return occupations, {f: c for f, c in counts.items() if c["seen"]}, documents



def rebuild(span: TailSpan, data: DataConfig, shuffle_seed: int) -> tuple[Rebuilt, np.ndarray]:
    """The data order of ``data`` and ``shuffle_seed`` rebuilt, checked row for row against the
    source rows of ``span``; returns it and the stream position where each tail row starts."""
    order, first, stop = span.rows()
    meta_path = order.prefix.parent / ORDER_META
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    if meta.get("seed") != shuffle_seed or meta.get("seq_length") != data.seq_length:
        raise ValueError(
            f"{meta_path}: the data order was built with seed {meta.get('seed')} and seq_length "
            f"{meta.get('seq_length')}, not {shuffle_seed} and {data.seq_length}; a redraw needs the data order "
            "of this data config and seed (debias.data.corpus.run_data_order)")
    rebuilt = Rebuilt(data, shuffle_seed, int(meta["epochs"]), Path(span.tokenizer).resolve())
    starts = rebuilt.row_starts(first, stop)
    mismatch = np.flatnonzero((rebuilt.rows(rebuilt.ordered, starts) != order.dataset.rows(first, stop)).any(axis=1))
    if len(mismatch):
        raise ValueError(
            f"{order.prefix}: row {first + int(mismatch[0])} is not what data.synthetic ({data.name}, seed "
            f"{shuffle_seed}) makes; a redraw must run on the data order built from this very config "
            "(build it with debias.data.corpus.run_data_order, or pass the data= the run used)")
    return rebuilt, starts


def rewrite_redraw(span: TailSpan, *, data: DataConfig, shuffle_seed: int, rates: dict[str, float],
                   identity: dict[str, Any], progress: bool = True) -> dict[str, Any]:
    """Redraw the characters of the rows of ``span`` (its source the data order ``data`` built with
    ``shuffle_seed``, i.e. ``data.shuffle_seed + seed``) at ``rates`` (the chance of following the
    stereotype, per stereotyped gender); ``identity`` names the method, its parameters and
    algorithm. Returns the manifest."""
    if problems := synthetic_problems(identity["method"], data):
        raise ValueError(problems[0])
    tokenizer = Path(span.tokenizer).resolve()
    order, first, stop = span.rows()
    identity = {**span.steps(), **identity}
    done = finished(Path(span.output), identity, order.prefix.resolve(), sha256_file(idx_path(order.prefix)),
                    sha256_file(tokenizer))
    if done is not None:
        return done
    rebuilt, starts = rebuild(span, data, shuffle_seed)
    positions = rebuilt.positions(starts)
    docs = np.unique(rebuilt.doc_order[positions])
    accepted, left, target = _redraw(rebuilt, data, docs, rates)

    new_ordered = rebuilt.ordered.copy()
    for j in positions.tolist():
        ids = accepted.get(int(rebuilt.doc_order[j]))
        if ids is not None:
            a = int(rebuilt.doc_start[j])
            new_ordered[a:a + len(ids)] = ids
    new_rows = rebuilt.rows(new_ordered, starts)

    occupations, counts, documents = _tail_stats(rebuilt, positions, starts, accepted, left, target)
    prior = {"before": _group_logits(occupations, "she_before"), "after": _group_logits(occupations, "she_after")}
    fields = {
        "counts": counts,
        "noncanonical": 0,
        "corpus": {"name": data.name, "stereotype_rate": data.synthetic.stereotype_rate,
                   "synthetic_seed": data.synthetic.seed, "shuffle_seed": shuffle_seed,
                   "stereotype_rates_after": rates},
        "documents": documents,
        "occupations": occupations,
        "she_log_odds": prior,
    }
    log.info("%s: %d of %d tail documents redrawn, %s left; log-odds of she %s -> %s", identity["method"],
             documents["redrawn"], documents["read_by_tail"], documents["left"], prior["before"], prior["after"])
    return write_tail(span.output, order, first, stop, lambda lo, _rows: new_rows[lo - first:lo - first + len(_rows)],
                      identity=identity, tokenizer=tokenizer, fields=lambda: fields, progress=progress)


def check_redraw_row(vocab: ByteVocab, direction: str):
    """A row check for ``verify_arm_tail``: every changed token spells part of a pronoun of one
    gender and becomes part of one of the other (masculine to feminine only for to_feminine,
    feminine to masculine only for to_masculine, either for both)."""
    ways = {"to_feminine": [(MASCULINE, FEMININE)], "to_masculine": [(FEMININE, MASCULINE)],
            "both": [(MASCULINE, FEMININE), (FEMININE, MASCULINE)]}[direction]

    def part_of(token: bytes, forms: tuple[str, ...]) -> bool:
        letters = token.decode("utf-8", "replace").strip().lower()
        return bool(letters) and letters.isalpha() and any(letters in f for f in forms)

    def check(old: np.ndarray, new: np.ndarray) -> str | None:
        for k in np.flatnonzero(old != new).tolist():
            a, b = vocab.token_bytes[int(old[k])], vocab.token_bytes[int(new[k])]
            if not any(part_of(a, src) and part_of(b, dst) for src, dst in ways):
                return f"token {k} changed from {a!r} to {b!r}, not a pronoun redrawn {direction}"
        return None

    return check


def verify_redraw(source: str | os.PathLike, output: str | os.PathLike, *, progress: bool = False) -> dict[str, Any]:
    """``verify_arm_tail`` with the check that only pronoun tokens changed, in the redraw's direction."""
    manifest = RewriteManifest.read(Path(output) / MANIFEST).to_dict()
    vocab = ByteVocab(manifest["tokenizer"]["path"])
    return verify_arm_tail(source, output, check_redraw_row(vocab, manifest["direction"]), progress=progress)


def she_shares(span: TailSpan, tail: str | os.PathLike | None = None, *, data: DataConfig,
               shuffle_seed: int, rebuilt: tuple[Rebuilt, np.ndarray] | None = None) -> dict[str, Any]:
    """What a model trained on ``tail`` (a tail folder written by ``rewrite_arm`` for ``span``;
    None: the span's original rows, which the control reads) reads: per kind of character (its
    occupation's stereotype), how many of its pronoun occurrences the rows' tokens spell feminine
    and masculine, each as often as a row holds it. Read from the rows' own tokens; the rebuilt
    corpus only says whose each pronoun is (a reordered tail's rows are traced to their sources).
    ``rebuilt``: ``rebuild(span, data, shuffle_seed)``'s result, to share among tails of one data order."""
    rebuilt, starts = rebuilt or rebuild(span, data, shuffle_seed)
    _, first, stop = span.rows()
    if tail is None:
        tokens = MMapIndexedDataset(span.source).rows(first, stop)
    else:
        from debias.core.contracts import TAIL, read_manifest

        tokens = MMapIndexedDataset(Path(tail) / TAIL).rows(0, stop - first)
        record = read_manifest(tail)
        if record is not None and record.method == "reorder":
            from debias.data.order import first_row_number
            from debias.rewrite.arms.reorder import permutation

            placed = np.empty_like(tokens)
            number = first_row_number(span.source, span.rows_per_step)
            placed[permutation(number + first, number + stop, int(record.parameters["row_seed"]))] = tokens
            tokens = placed  # row i of the span, wherever the tail put it
    if len(tokens) != len(starts):
        raise ValueError(f"{tail}: holds {len(tokens)} rows, not the {len(starts)} of steps "
                         f"{span.start_step}..{span.end_step - 1}")
    vocab = ByteVocab(Path(span.tokenizer))
    positions = rebuilt.positions(starts)
    docs = sorted({int(rebuilt.doc_order[j]) for j in positions.tolist()})
    encodings = rebuilt.tok.encode_batch([rebuilt.pieces[d] for d in docs], add_special_tokens=False)
    spans_of = {d: [np.flatnonzero(_pronoun_tokens(enc.offsets, [sp]))
                    for sp in gendered_spans(rebuilt.pieces[d], clitic=False)] for d, enc in zip(docs, encodings, strict=True)}
    owner = {}  # doc -> the stereotype of each of its pronouns' characters
    for d in docs:
        s = rebuilt.story_of[d]
        story = rebuilt.stories[s]
        before = sum(len(gendered_spans(rebuilt.pieces[k], clitic=False)) for k in rebuilt.pieces_of[s] if k < d)
        owner[d] = [story.characters[u.character].stereotype
                    for u in story.pronouns[before:before + len(spans_of[d])]]
    order = np.argsort(starts)
    sorted_starts = starts[order]
    counts = {g: {"she": 0, "he": 0, "other": 0} for g in ("female", "male")}
    for j in positions.tolist():
        d, base = int(rebuilt.doc_order[j]), int(rebuilt.doc_start[j])
        for stereotype, toks in zip(owner[d], spans_of[d], strict=True):
            a, b = base + int(toks[0]), base + int(toks[-1])
            lo = np.searchsorted(sorted_starts, b - rebuilt.seq, side="left")
            hi = np.searchsorted(sorted_starts, a, side="right")
            for r in order[lo:hi].tolist():
                word = vocab.spell(tokens[r, a - starts[r]:b - starts[r] + 1]).decode("utf-8", "replace")
                word = re.split(r"['’]", word.strip().lower())[0]
                kind = "she" if word in FEMININE else "he" if word in MASCULINE else "other"
                counts[stereotype][kind] += 1
    out: dict[str, Any] = {"counts": counts}
    for g, c in counts.items():
        n = c["she"] + c["he"]
        out[f"she_share_{g}"] = c["she"] / n if n else float("nan")
    out["gap"] = out["she_share_female"] - out["she_share_male"]
    return out
