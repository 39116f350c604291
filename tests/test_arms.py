"""The study's extra arms (debias/rewrite/arms): each intervention file composes, each rewrite keeps
every row and its length and changes only what its method promises, each tail holds the she-rates
its definition promises (read from its tokens), the placebo moves every occupation's log-odds of
"she" by one constant and keeps the link, and a run reads each arm's own tail through train.data."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from debias.config import DataConfig, InterventionConfig, ScheduleConfig, SyntheticConfig
from debias.data.corpus import run_data_order
from debias.data.indexed import MMapIndexedDataset
from debias.data.order import DataOrder
from debias.data.token_bytes import ByteVocab
from debias.rewrite.arms import TailSpan, data_problems, tail_name, verify_arm
from debias.rewrite.arms.placebo import rewrite_placebo, stereotype_rates
from debias.rewrite.arms.published import rewrite_published
from debias.rewrite.arms.sham import rewrite_sham
from debias.swap.pronouns import FEMININE, MASCULINE
from debias.train import compose
from debias.train.plan import to_train_config

NEW_ARMS = ("reverse21", "unlink21", "cds21", "tail21-p25", "tail21-p50", "aa21", "placebo21", "sham21",
            "published21")
METHOD = {"reverse21": "morphological", "cds21": "morphological", "tail21-p25": "morphological",
          "tail21-p50": "morphological", "aa21": "reorder"}
RPS, STEPS, START = 16, 800, 632  # 0.79 of 800 steps
SHIFT = 1.0  # the placebo's default: small enough that no occupation's share of "she" saturates


@pytest.fixture(scope="module")
def data() -> DataConfig:
    return DataConfig(name="synthetic-arms", vocab_size=2048, seq_length=32, rows_per_step=RPS,
                      synthetic=SyntheticConfig(num_documents=3000, stereotype_rate=0.8))


@pytest.fixture(scope="module")
def order(tmp_path_factory: pytest.TempPathFactory, data: DataConfig) -> tuple[Path, Path]:
    return run_data_order(data, ScheduleConfig(total_steps=STEPS, checkpoint_interval=2), 0,
                          tmp_path_factory.mktemp("orders"), progress=False)


def _rewrite(method: str, order: tuple[Path, Path], out: Path, data: DataConfig, **kw) -> dict:
    prefix, tok = order
    span = TailSpan(prefix, out, START, STEPS, RPS, tok)
    if method == "placebo":
        return rewrite_placebo(span, data=data, shuffle_seed=data.shuffle_seed, **{"shift": SHIFT, **kw},
                               progress=False)
    if method == "sham":
        return rewrite_sham(span, source_word="a", target_word="the", progress=False)
    return rewrite_published(span, progress=False)


def _pairs(order: tuple[Path, Path], out: Path) -> tuple[np.ndarray, np.ndarray]:
    src = DataOrder(order[0], RPS)
    first = src.row_range(START).start
    tail = MMapIndexedDataset(out / "tail")
    return src.dataset.rows(first, first + len(tail)), tail.rows(0, len(tail))


@pytest.fixture(scope="module")
def placebo(tmp_path_factory: pytest.TempPathFactory, order, data) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tails") / "placebo"
    return out, _rewrite("placebo", order, out, data)


# -- configs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NEW_ARMS)
def test_each_new_arm_composes_at_the_21_percent_start(name: str, tmp_path: Path) -> None:
    cfg = to_train_config(compose(["+experiment=mini-synthetic", f"intervention={name}", "data=synthetic80",
                                   f"runs_root={tmp_path}"]))
    iv = cfg.intervention
    assert (iv.name, iv.arm, iv.fraction) == (name, "intervention", 0.79)
    assert iv.method == METHOD.get(name, name[:-2])
    assert iv.problems() == [] and data_problems(iv, cfg.data) == []
    assert cfg.data.synthetic.stereotype_rate == 0.8 and cfg.data.name == "synthetic80"


def test_the_study_can_move_below_saturation_and_the_synthetic_corpus_keeps_1(tmp_path: Path) -> None:
    from debias.study.run import compose_study, plan_study, to_study_config

    suite = to_study_config(compose_study(["+experiment=mini-suite", "data=synthetic80", f"runs_root={tmp_path}"]))
    assert suite.data.synthetic.stereotype_rate == 0.8 and suite.data.seq_length == 128
    assert to_study_config(compose_study(["+experiment=mini-suite"])).data.synthetic.stereotype_rate == 0.8  # the study's
    assert to_study_config(compose_study(["+experiment=mini-suite", "data=synthetic"])).data.synthetic.stereotype_rate == 1.0

    arms = ["tail21", "control21", *NEW_ARMS]
    overrides = ["+experiment=mini-suite", "data=synthetic80", f"study.arms=[{','.join(arms)}]",
                 "study.seeds=[0,1]", f"runs_root={tmp_path}"]
    runs = plan_study(to_study_config(compose_study(overrides)), overrides)
    assert {arm for _, arm in runs} == {"none", *arms}
    assert all(run.data.synthetic.stereotype_rate == 0.8 for run in runs.values())


def test_every_bad_value_is_reported() -> None:
    bad = InterventionConfig(name="x", arm="intervention", fraction=0.79, method="magic")
    assert any("intervention.method='magic'" in p for p in bad.problems())
    problems = replace(bad, method="placebo", placebo_shift=2.0, direction="to_masculine").problems()
    assert len(problems) == 1 and "set direction=to_feminine" in problems[0]
    assert any("non-zero" in p for p in replace(bad, method="placebo", placebo_shift=0.0).problems())
    problems = replace(bad, method="sham", sham_source="A b", sham_target="A b").problems()
    assert len(problems) == 3  # neither word is one lower-case word, and they are the same
    assert any("masculine to feminine only" in p for p in replace(bad, method="published", direction="both").problems())
    assert any("(0, 1]" in p for p in replace(bad, method="morphological", row_fraction=1.5).problems())
    assert any("method=morphological only" in p for p in replace(bad, method="sham", row_fraction=0.5).problems())
    assert any("set intervention.direction=both" in p for p in replace(bad, method="unlink").problems())


def test_the_placebo_refuses_a_corpus_it_cannot_redraw() -> None:
    iv = to_train_config(compose(["intervention=placebo21"])).intervention
    (text,) = data_problems(iv, DataConfig(source="text", corpus="books/"))
    assert "data=synthetic80" in text and "data.source=text" in text
    (saturated,) = data_problems(iv, DataConfig(synthetic=SyntheticConfig(stereotype_rate=1.0)))
    assert "infinite" in saturated and "data=synthetic80" in saturated
    with pytest.raises(ValueError, match="data=synthetic80"):
        rewrite_placebo(TailSpan("nowhere", "nowhere", 1, 2, 1, "t.json"),
                        data=DataConfig(source="text", corpus="x"), shuffle_seed=0)


def test_every_arm_gets_its_own_tail_folder() -> None:
    names = {n: tail_name(to_train_config(compose([f"intervention={n}"])).intervention, 1130, 1430)
             for n in ("tail21", *NEW_ARMS)}
    assert names["tail21"] == "to_feminine-1130-1430"  # the morphological rewrite's folder as it always was
    assert names["reverse21"] == "both-1130-1430"
    assert names["cds21"] == "morphological-0.5-1-both-1130-1430"
    assert names["tail21-p25"] == "morphological-0.25-0-to_feminine-1130-1430"
    assert names["placebo21"] == "placebo-1.0-to_feminine-1130-1430"
    assert names["sham21"] == "sham-a-the-to_feminine-1130-1430"
    assert names["aa21"] == "reorder-2-both-1130-1430"
    assert len(set(names.values())) == len(names)


# -- what each tail holds ------------------------------------------------------------------------
# The she-share of female- and male-stereotyped characters' pronouns that each arm's definition
# promises at stereotype_rate 0.8, and how far the tail may be from it: about 2,300 pronouns a side
# (binomial sd 0.008), plus the pronouns each rewrite leaves at row edges (rows of 33 tokens here,
# so about 1.5% of them; they keep their gender).
PROMISED = {"control": (0.8, 0.2), "tail21": (1.0, 1.0), "reverse21": (0.2, 0.8), "unlink21": (0.5, 0.5),
            "cds21": (0.5, 0.5), "tail21-p25": (0.85, 0.4), "tail21-p50": (0.9, 0.6),
            "placebo21": (0.916, 0.405), "sham21": (0.8, 0.2), "aa21": (0.8, 0.2)}


@pytest.fixture(scope="module")
def tails(tmp_path_factory: pytest.TempPathFactory, order, data) -> dict[str, tuple[Path | None, dict]]:
    """Every arm's tail of the same 168 steps, rewritten by ``rewrite_arm`` as a run would."""
    from debias.rewrite.arms import rewrite_arm

    root = tmp_path_factory.mktemp("all-tails")
    out: dict[str, tuple[Path | None, dict]] = {"control": (None, {})}
    for name in PROMISED:
        if name == "control":
            continue
        iv = to_train_config(compose([f"intervention={name}"])).intervention
        span = TailSpan(order[0], root / name, START, STEPS, RPS, order[1])
        out[name] = (root / name, rewrite_arm(iv, span, data=data, shuffle_seed=data.shuffle_seed, progress=False))
    return out


@pytest.fixture(scope="module")
def rebuilt(order, data):
    """The data order rebuilt from its corpus once, for every arm's count."""
    from debias.rewrite.arms.redraw import rebuild

    return rebuild(TailSpan(order[0], order[0], START, STEPS, RPS, order[1]), data, data.shuffle_seed)


@pytest.mark.parametrize("arm", list(PROMISED))
def test_each_tail_holds_the_she_rates_its_definition_promises(arm: str, tails, order, data, rebuilt) -> None:
    from debias.rewrite.arms.redraw import she_shares

    folder, manifest = tails[arm]
    found = she_shares(TailSpan(order[0], folder or order[0], START, STEPS, RPS, order[1]), folder, data=data,
                       shuffle_seed=data.shuffle_seed, rebuilt=rebuilt)
    female, male = PROMISED[arm]
    edges = 0.025 if manifest.get("method", "morphological") == "morphological" else 0.0
    assert abs(found["she_share_female"] - female) <= 0.035 + edges, found
    assert abs(found["she_share_male"] - male) <= 0.035 + edges, found
    counts = found["counts"]
    assert counts["female"]["other"] == counts["male"]["other"] == 0  # every pronoun is still a pronoun
    assert counts["female"]["she"] + counts["female"]["he"] > 2000
    if folder is not None:
        assert verify_arm(order[0], folder, progress=False)["rows"] == (STEPS - START) * RPS


def test_the_doses_and_cds_rewrite_the_rows_their_seeded_choice_names_and_record_it(tails, order) -> None:
    from debias.rewrite.selection import RowSelection

    src = DataOrder(order[0], RPS)
    first = src.row_range(START).start
    rows = np.arange(first, first + (STEPS - START) * RPS)
    chosen = {}
    for arm, fraction, whole in (("tail21-p25", 0.25, "tail21"), ("tail21-p50", 0.5, "tail21"),
                                 ("cds21", 0.5, "reverse21")):
        folder, manifest = tails[arm]
        selection = manifest["selection"]
        assert (selection["fraction"], manifest["parameters"]["row_fraction"]) == (fraction, fraction)
        mask = RowSelection.from_record(selection).chosen(rows)
        assert selection["rows_chosen"] == int(mask.sum())
        assert abs(mask.mean() - fraction) < 0.03
        old, new = _pairs(order, folder)
        _, full = _pairs(order, tails[whole][0])
        # a chosen row is the whole rewrite's row (the rewrite is row-local), the others the source's
        assert (new[mask] == full[mask]).all() and (new[~mask] == old[~mask]).all()
        assert (old[mask] != full[mask]).any(axis=1).mean() > 0.3  # and the choice did change rows
        chosen[arm] = mask
    assert not (chosen["tail21-p25"] & ~chosen["tail21-p50"]).any()  # one seed: the smaller dose nests inside
    assert 0.15 < (chosen["cds21"] & chosen["tail21-p50"]).mean() < 0.35  # another seed: independent of it


def test_a_row_changed_outside_the_selection_is_refused_by_the_proof(tails, order, tmp_path: Path) -> None:
    """A swap the rewrite could have made (a pronoun for its counterpart), but in a row the seeded
    choice leaves alone: only the selection check can tell."""
    import shutil

    from debias.rewrite.verify import TailVerificationError

    folder, _ = tails["tail21-p25"]
    copy = tmp_path / "p25"
    shutil.copytree(folder, copy)
    old, new = _pairs(order, copy)
    r, k = (int(x) for x in np.argwhere(old != new)[0])  # a swap in a chosen row
    untouched = np.flatnonzero(~(old != new).any(axis=1))
    u = next(u for u in untouched.tolist() if (old[u, 1:-1] == old[r, k]).any())
    j = 1 + int(np.flatnonzero(old[u, 1:-1] == old[r, k])[0])
    tokens = np.memmap(copy / "tail.bin", dtype=MMapIndexedDataset(copy / "tail").dtype, mode="r+")
    tokens[u * old.shape[1] + j] = new[r, k]
    tokens.flush()
    del tokens
    with pytest.raises(TailVerificationError, match=r"selection \(fraction 0.25, seed 0\) leaves that row"):
        verify_arm(order[0], copy, progress=False)


def test_the_aa_tail_is_the_controls_rows_in_a_recorded_order(tails, order) -> None:
    from debias.rewrite.arms.reorder import permutation

    folder, manifest = tails["aa21"]
    old, new = _pairs(order, folder)
    src = DataOrder(order[0], RPS)
    first = src.row_range(START).start
    perm = permutation(first, first + len(old), 2)
    assert (new == old[perm]).all() and not (new == old).all()
    assert sorted(map(bytes, new)) == sorted(map(bytes, old))  # the same rows, each once
    assert manifest["method"] == "reorder" and manifest["parameters"] == {"row_seed": 2}
    # another step reads each row: most rows moved by more than a step
    assert np.mean(np.abs(perm - np.arange(len(perm))) >= RPS) > 0.9


# -- the placebo -------------------------------------------------------------------------------
def test_placebo_rates_move_each_log_odds_of_she_by_the_shift() -> None:
    rates = stereotype_rates(0.8, 4.8)
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    she_female_occupation, she_male_occupation = rates["female"], 1 - rates["male"]
    assert logit(she_female_occupation) - logit(0.8) == pytest.approx(4.8)
    assert logit(she_male_occupation) - logit(0.2) == pytest.approx(4.8)
    assert she_male_occupation == pytest.approx(0.968, abs=1e-3)


def test_placebo_keeps_rows_and_changes_only_pronouns_masculine_to_feminine(placebo, order) -> None:
    out, manifest = placebo
    old, new = _pairs(order, out)
    assert old.shape == new.shape == ((STEPS - START) * RPS, 33)
    assert verify_arm(order[0], out, progress=False)["changed_tokens"] == manifest["totals"]["changed_tokens"]
    vocab = ByteVocab(order[1])
    changed = np.argwhere(old != new)
    assert len(changed) > 100
    for r, k in changed.tolist():
        a = vocab.token_bytes[old[r, k]].decode().strip().lower()
        b = vocab.token_bytes[new[r, k]].decode().strip().lower()
        assert a in MASCULINE and b in FEMININE, (a, b)
    totals = manifest["totals"]
    assert totals["seen"] == totals["swapped"] + totals["left"] and totals["swapped"] == totals["changed_tokens"]
    assert manifest["method"] == "placebo" and manifest["parameters"] == {"placebo_shift": SHIFT}


def test_placebo_moves_she_by_a_constant_log_odds_and_keeps_the_link(placebo) -> None:
    """Pooled over the 30 occupations of each stereotype (about 2,300 pronouns a side in this tail),
    the log-odds of "she" moves by the shift and the female-minus-male difference stays. Over 8
    corpus seeds at this size the shifts were 0.99 +- 0.10 (female-stereotyped) and 0.99 +- 0.05
    (male-stereotyped), the difference's change +0.01 +- 0.11: the bounds are 4 of those standard
    deviations. The redraw only turns men into women, so no occupation's share of "she" falls."""
    _, manifest = placebo
    before, after = manifest["she_log_odds"]["before"], manifest["she_log_odds"]["after"]
    for side in ("female", "male"):
        assert after[side] - before[side] == pytest.approx(SHIFT, abs=0.4)
    assert abs(after["link"] - before["link"]) < 0.45
    assert before["link"] == pytest.approx(2 * math.log(4), abs=0.55)  # logit(0.8) - logit(0.2)
    for occupation in manifest["occupations"].values():
        assert occupation["she_after"] >= occupation["she_before"]
    assert manifest["totals"]["left"] <= 0.05 * manifest["totals"]["seen"]


def test_placebo_refuses_the_data_order_of_another_corpus(order, data, tmp_path: Path) -> None:
    other = replace(data, synthetic=replace(data.synthetic, seed=7))
    with pytest.raises(ValueError, match="is not what data.synthetic"):
        _rewrite("placebo", order, tmp_path / "p", other)


def test_a_finished_placebo_is_reused_and_a_different_one_refused(placebo, order, data) -> None:
    out, manifest = placebo
    assert _rewrite("placebo", order, out, data) == manifest
    with pytest.raises(FileExistsError, match="other inputs"):
        _rewrite("placebo", order, out, data, shift=2.0)


# -- the sham and the published rewrite ----------------------------------------------------------
def test_sham_touches_only_its_word_pair(order, data, tmp_path: Path) -> None:
    manifest = _rewrite("sham", order, tmp_path / "sham", data)
    old, new = _pairs(order, tmp_path / "sham")
    assert old.shape == new.shape
    vocab = ByteVocab(order[1])
    changed = np.argwhere(old != new)
    pairs = {(vocab.token_bytes[old[r, k]], vocab.token_bytes[new[r, k]]) for r, k in changed.tolist()}
    assert pairs <= {(b" a", b" the"), (b"a", b"the"), (b" A", b" The"), (b"A", b"The")}
    assert len(changed) == manifest["totals"]["swapped"] > 500
    c = manifest["counts"]["a"]
    assert c["seen"] == c["swapped"] + sum(c["left"].values()) and set(c["left"]) <= {"row_edge", "split_token",
                                                                                        "no_single_token"}
    assert verify_arm(order[0], tmp_path / "sham", progress=False)["changed_tokens"] == len(changed)
    # about as many changes as the masculine pronoun tokens of the same rows (the pair was picked for that)
    masculine = [vocab.by_bytes.get(f"{lead}{w}".encode()) for w in MASCULINE for lead in ("", " ")]
    pronouns = int(np.isin(old, [i for i in masculine if i is not None]).sum())
    assert 0.7 < len(changed) / pronouns < 1.4


def test_text_versions_of_the_sham_and_the_published_rewrite() -> None:
    from debias.rewrite.arms.published import replace_text
    from debias.rewrite.arms.sham import swap_text

    assert swap_text("A cat saw a dog, an owl and Ava's hat.", "a", "the") == "The cat saw the dog, an owl and Ava's hat."
    assert swap_text("the end", "a", "the", "to_masculine") == "a end"
    assert replace_text("He said the book was his; His dog and him, himself.") == (
        "She said the book was her; Her dog and her, herself.")


def test_published_rewrite_ignores_morphology_and_changes_row_lengths(neox_tokenizer_path: Path,
                                                                       tmp_path: Path) -> None:
    """On Pythia's tokenizer: "his" standing alone becomes "her" (the morphological rewrite writes
    "hers"), and rows change length before the pad or cut where a form's counterpart needs another
    number of tokens ("Him" is 2 tokens, "Her" 1; " Himself" 1, " Herself" 2)."""
    from debias.data.corpus import build_data_order

    story = ("The clerk said the coat was his. He gave his sister the key and kept the rest for himself. "
             "Himself a sailor, he knew the sea, and a friend of his told him so. Him? She laughed. ")
    docs = [f"{story * (1 + i % 3)}Day {i}." for i in range(60)]
    build_data_order(docs, neox_tokenizer_path, tmp_path / "order", seq_length=32, seed=0, progress=False)
    order = (tmp_path / "order", neox_tokenizer_path)
    src = DataOrder(order[0], 4)
    manifest = rewrite_published(TailSpan(order[0], tmp_path / "pub", src.num_steps // 2, src.num_steps, 4,
                                          neox_tokenizer_path), progress=False)
    tail = MMapIndexedDataset(tmp_path / "pub" / "tail")
    first = src.row_range(src.num_steps // 2).start
    old, new = src.dataset.rows(first, first + len(tail)), tail.rows(0, len(tail))
    assert old.shape == new.shape
    lengths = manifest["rows_changed_length"]
    assert lengths["total"] == lengths["longer"] + lengths["shorter"] > 0
    assert manifest["counts"]["his"]["swapped"] > 0 and manifest["totals"]["left"] == 0
    vocab = ByteVocab(neox_tokenizer_path)
    text = "\n".join(vocab.spell(row).decode("utf-8", "replace") for row in new)
    assert " coat was her." in text and " friend of her " in text and not re.search(r"\bhers\b", text)
    assert " he " not in text and " his " not in text and " himself" not in text
    assert verify_arm(order[0], tmp_path / "pub", progress=False)["rows"] == len(new)


# -- a run reads its arm's tail ---------------------------------------------------------------
@pytest.mark.parametrize("arm", ["placebo21", "sham21", "published21"])
def test_training_data_rewrites_and_reads_the_arms_own_tail(arm: str, tmp_path: Path) -> None:
    from debias.train.data import prepare
    from debias.train.plan import Plan

    cfg = to_train_config(compose(["+experiment=mini-test", f"intervention={arm}", "data.synthetic.stereotype_rate=0.8",
                                   f"runs_root={tmp_path}", "progress=false"]))
    plan = Plan(cfg=cfg, mode="resume", arm="intervention", start_step=40, end_step=50, total_steps=50,
                peak_lr=1e-3, accumulation=2, world_size=1, run_dir=tmp_path / "run")
    training = prepare(plan)
    assert training.tail_dir.name == tail_name(cfg.intervention, 40, 50)
    assert training.manifest["method"] == cfg.intervention.method
    assert training.manifest["parameters"] == cfg.intervention.method_parameters()
    assert training.batch(45).shape == (4, 33)
    assert json.loads((training.tail_dir / "manifest.json").read_text())["end_step"] == 50


@pytest.mark.slow
def test_each_arm_trains_on_its_own_tail_and_says_so_in_run_json(tmp_path: Path) -> None:
    from debias.train import run

    base = ["+experiment=mini-test", "data.synthetic.stereotype_rate=0.8", f"runs_root={tmp_path}", "progress=false"]
    assert run(compose(base)).completed
    tails = {}
    for arm in ("tail21", *NEW_ARMS):
        result = run(compose([*base, f"intervention={arm}"]))
        info = json.loads((result.run_dir / "run.json").read_text())
        iv = to_train_config(compose([f"intervention={arm}"])).intervention
        assert (info["intervention_name"], info["method"], info["method_parameters"]) == (
            arm, iv.method, iv.method_parameters())
        assert info["direction"] == iv.direction and info["start_step"] == 40
        manifest = json.loads((result.run_dir / "manifest.json").read_text())
        assert manifest.get("method", "morphological") == iv.method
        tails[arm] = info["trained_on"]
    assert len(set(tails.values())) == len(tails)
    control = json.loads((run(compose([*base, "intervention=control21"])).run_dir / "run.json").read_text())
    assert (control["intervention_name"], control["method"]) == ("control21", None)


def test_a_run_started_before_methods_existed_can_still_be_continued() -> None:
    from debias.train.rundir import _differences, _with_new_defaults

    now = {"intervention": {"name": "tail21", "arm": "intervention", "method": "morphological",
                            "row_fraction": 1.0, "row_seed": 0, "placebo_shift": 1.0, "sham_source": "a",
                            "sham_target": "the"}}
    old = {"intervention": {"name": "tail21", "arm": "intervention"}}
    assert _differences(_with_new_defaults(old), {**now, "intervention": {**_with_new_defaults(old)["intervention"],
                                                                          **now["intervention"]}}) == []
    assert _differences(_with_new_defaults(old), {"intervention": {**now["intervention"], "method": "sham"}})
