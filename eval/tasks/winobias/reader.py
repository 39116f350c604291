"""WinoBias as sentence pairs: line k of a pro-stereotyped file and of its anti-stereotyped twin.

Both lines are the same sentence with the pronoun's gender flipped, so a pair isolates the
pronoun. About 20 of the 1,584 pairs differ in more than the pronouns (typos, rewordings, a
swapped sentence); they are listed in ``winobias_irregular_pairs.tsv`` (beside this file) with the reason and
left out. Any other pair that differs in more than pronouns stops the run: the data is then not
the pinned release.
"""

from __future__ import annotations

import csv
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from debias.data.fetch import resolve
from debias.eval.tasks.common import BenchmarkFormatError, decoding, file_digests, subsample
from debias.swap import pronouns

TYPES = (1, 2)
SPLITS = ("dev", "test")
IRREGULAR_FILE = Path(__file__).with_name("winobias_irregular_pairs.tsv")
MASCULINE, FEMININE = frozenset(pronouns.MASCULINE), frozenset(pronouns.FEMININE)
_BRACKET = re.compile(r"\[([^\]]*)\]")
_FIX = "Restore the original WinoBias files (see debias/data/data_registry.json for their URLs and sha256)."


@dataclass(frozen=True)
class WinoBiasPair:
    """One pro/anti pair; sentences are given with the brackets removed."""

    id: str
    type: int
    split: str
    line: int
    pro: str
    anti: str
    referent: str  # the bracketed occupation the pronoun refers to
    other: str  # the sentence's other occupation
    stereotype: str  # "female" or "male": the referent's stereotyped gender
    pronoun_pro: str  # the first bracketed pronoun of each sentence, lower case
    pronoun_anti: str

    @property
    def female_sentence(self) -> str:
        return self.pro if self.stereotype == "female" else self.anti

    @property
    def male_sentence(self) -> str:
        return self.anti if self.stereotype == "female" else self.pro

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class IrregularPair:
    type: int
    split: str
    line: int
    reason: str


def file_name(kind: str, type_: int, split: str) -> str:
    return f"winobias/data/{kind}_stereotyped_type{type_}.txt.{split}"


@lru_cache(maxsize=1)
def irregular_pairs() -> tuple[IrregularPair, ...]:
    """The pairs left out, as listed (with reasons) in ``winobias_irregular_pairs.tsv`` (beside this file)."""
    out = []
    with open(IRREGULAR_FILE, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t"):
            out.append(IrregularPair(int(row["type"]), row["split"], int(row["line"]), row["reason"]))
    return tuple(out)


def occupations(root: Path | None = None) -> dict[str, str]:
    """Occupation -> stereotyped gender ("female"/"male"), from WinoBias's two occupation lists."""
    out: dict[str, str] = {}
    for gender in ("male", "female"):
        path = _path(f"winobias/data/{gender}_occupations.txt", root)
        with decoding(path, _FIX):
            lines = path.read_text(encoding="utf-8").splitlines()
        for line in lines:
            if line.strip():
                out[line.strip()] = gender
    return out


def _path(relpath: str, root: Path | None) -> Path:
    if root is None:
        return resolve(relpath)
    path = Path(root) / relpath.removeprefix("winobias/")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: WinoBias file missing under {root}")
    return path


def _words(sentence: str) -> list[str]:
    return _BRACKET.sub(r"\1", sentence).split()


def _pronoun_gender(word: str) -> str | None:
    core = re.sub(r"[^A-Za-z]", "", word).lower()
    return "male" if core in MASCULINE else "female" if core in FEMININE else None


def _parse_line(path: Path, line_no: int, line: str) -> tuple[str, list[str]]:
    head, _, sentence = line.strip().partition(" ")
    if head != str(line_no) or not sentence:
        raise BenchmarkFormatError(
            path, line_no, f"expected '{line_no} <sentence with [referent] and [pronoun]>', got {line.strip()[:60]!r}", _FIX
        )
    brackets = [b.strip() for b in _BRACKET.findall(sentence)]
    if len(brackets) < 2 or sentence.count("[") != sentence.count("]"):
        raise BenchmarkFormatError(path, line_no, "needs a bracketed referent and a bracketed pronoun", _FIX)
    return sentence, brackets


def _occupation_in(text: str, names: list[str]) -> list[tuple[int, str]]:
    """(position, occupation) for every occupation named in ``text``, longest names first."""
    found = []
    taken: list[tuple[int, int]] = []
    for name in sorted(names, key=len, reverse=True):
        for m in re.finditer(r"\b" + re.escape(name.lower()) + r"\b", text.lower()):
            if not any(a < m.end() and m.start() < b for a, b in taken):
                found.append((m.start(), name))
                taken.append((m.start(), m.end()))
    return sorted(found)


def load_pairs(
    types: tuple[int, ...] | list[int] = TYPES,
    splits: tuple[str, ...] | list[str] = SPLITS,
    *,
    root: str | Path | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> list[WinoBiasPair]:
    """Every regular pro/anti pair of the chosen types and splits, irregular ones left out.

    ``root``: a folder laid out like WinoBias's ``wino/data`` (for a local copy); default: resolved
    through ``debias.data.fetch``.
    """
    root = Path(root) if root is not None else None
    occ = occupations(root)
    names = list(occ)
    skip = {(p.type, p.split, p.line) for p in irregular_pairs()}
    pairs = []
    for type_ in types:
        if type_ not in TYPES:
            raise ValueError(f"WinoBias type {type_} does not exist; use 1 or 2")
        for split in splits:
            if split not in SPLITS:
                raise ValueError(f"WinoBias split {split!r} does not exist; use 'dev' or 'test'")
            pro_path = _path(file_name("pro", type_, split), root)
            anti_path = _path(file_name("anti", type_, split), root)
            with decoding(pro_path, _FIX):
                pro_lines = pro_path.read_text(encoding="utf-8").splitlines()
            with decoding(anti_path, _FIX):
                anti_lines = anti_path.read_text(encoding="utf-8").splitlines()
            if len(pro_lines) != len(anti_lines):
                raise BenchmarkFormatError(
                    anti_path, None, f"has {len(anti_lines)} lines but {pro_path.name} has {len(pro_lines)}", _FIX
                )
            for k, (pro_line, anti_line) in enumerate(zip(pro_lines, anti_lines, strict=True), start=1):
                pro, pro_br = _parse_line(pro_path, k, pro_line)
                anti, anti_br = _parse_line(anti_path, k, anti_line)
                if (type_, split, k) in skip:
                    continue
                pairs.append(_make_pair(type_, split, k, pro, anti, pro_br, anti_br, occ, names, pro_path, anti_path))
    return subsample(pairs, limit, seed)


def _make_pair(
    type_: int, split: str, k: int, pro: str, anti: str, pro_br: list[str], anti_br: list[str],
    occ: dict[str, str], names: list[str], pro_path: Path, anti_path: Path,
) -> WinoBiasPair:
    where = f"line {k} of {pro_path.name} and {anti_path.name}"
    listed = f"If the data is as intended, add the pair to {IRREGULAR_FILE.name}."
    pro_words, anti_words = _words(pro), _words(anti)
    if len(pro_words) != len(anti_words):
        raise BenchmarkFormatError(anti_path, k, f"{where} differ in length, not only in the pronoun", listed)
    for a, b in zip(pro_words, anti_words, strict=True):
        if a != b and not {_pronoun_gender(a), _pronoun_gender(b)} == {"male", "female"}:
            raise BenchmarkFormatError(anti_path, k, f"{where} differ in {a!r} / {b!r}, not only in the pronoun", listed)
    if pro_words == anti_words:
        raise BenchmarkFormatError(anti_path, k, f"{where} are identical", _FIX)
    referent = re.sub(r"^(the|a|an)\s+", "", pro_br[0], flags=re.IGNORECASE)
    match = {n.lower(): n for n in names}.get(referent.lower())
    if match is None:
        raise BenchmarkFormatError(pro_path, k, f"the bracketed referent {pro_br[0]!r} is not a listed occupation", _FIX)
    pro_pronouns = [b.lower() for b in pro_br[1:] if _pronoun_gender(b)]
    anti_pronouns = [b.lower() for b in anti_br[1:] if _pronoun_gender(b)]
    if not pro_pronouns or not anti_pronouns:
        raise BenchmarkFormatError(pro_path, k, "no bracketed pronoun", _FIX)
    stereotype = occ[match]
    if _pronoun_gender(pro_pronouns[0]) != stereotype:
        raise BenchmarkFormatError(
            pro_path, k, f"pro-stereotyped pronoun {pro_pronouns[0]!r} does not match the {stereotype} stereotype of {match!r}", _FIX
        )
    clean = " ".join(pro_words)
    others = [name for _, name in _occupation_in(clean, names) if name != match]
    if not others:
        raise BenchmarkFormatError(pro_path, k, f"no second occupation besides {match!r}", _FIX)
    return WinoBiasPair(
        id=f"winobias.type{type_}.{split}.{k}", type=type_, split=split, line=k,
        pro=clean, anti=" ".join(anti_words), referent=match, other=others[0], stereotype=stereotype,
        pronoun_pro=pro_pronouns[0], pronoun_anti=anti_pronouns[0],
    )


def irregular_examples(root: str | Path | None = None) -> list[dict[str, Any]]:
    """The left-out pairs with their raw text, for the report."""
    out = []
    root = Path(root) if root is not None else None
    for p in irregular_pairs():
        pro = _path(file_name("pro", p.type, p.split), root).read_text(encoding="utf-8").splitlines()[p.line - 1]
        anti = _path(file_name("anti", p.type, p.split), root).read_text(encoding="utf-8").splitlines()[p.line - 1]
        out.append({"type": p.type, "split": p.split, "line": p.line, "reason": p.reason,
                    "pro": pro.partition(" ")[2], "anti": anti.partition(" ")[2]})
    return out


def data_sources(options: dict[str, Any]) -> dict[str, str]:
    """The files whose content decides the scores of the chosen types and splits: {path: sha256}."""
    names = [file_name(kind, t, s) for t in options.get("types", [1, 2])
             for s in options.get("splits", ["dev", "test"]) for kind in ("pro", "anti")]
    names += ["winobias/data/male_occupations.txt", "winobias/data/female_occupations.txt"]
    return file_digests([resolve(n) for n in names] + [IRREGULAR_FILE])
