"""Typed configs for the data side (Hydra structured configs behind ``conf/swap``, ``conf/data``
and ``conf/intervention``). Each dataclass lists its own problems, so that an app can report every
problem of a composed config at once (see ``debias.config_errors.Problems``)."""

from __future__ import annotations

from dataclasses import dataclass, field

DIRECTIONS = ("to_feminine", "to_masculine", "both")


@dataclass
class SwapConfig:
    """How pronouns are swapped: direction and spaCy pipeline (None = the default model)."""

    direction: str = "to_feminine"
    spacy_model: str | None = None
    batch_size: int = 256

    def problems(self) -> list[str]:
        out = []
        if self.direction not in DIRECTIONS:
            out.append(f"swap.direction={self.direction!r} is not one of {', '.join(DIRECTIONS)}")
        if self.batch_size < 1:
            out.append(f"swap.batch_size={self.batch_size} must be at least 1")
        return out


@dataclass
class ScheduleConfig:
    """The step plan of a training run: how many optimizer steps, and which steps are checkpoints.

    Pythia: 143,000 steps, a checkpoint every 1,000 plus the log-spaced 0, 1, 2, 4, ..., 512.
    """

    total_steps: int = 143_000
    checkpoint_interval: int = 1_000
    log_spaced_checkpoints: bool = True

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
    """The offline synthetic corpus: short stories whose pronouns follow occupation stereotypes."""

    num_documents: int = 20_000
    stereotype_rate: float = 0.9
    neutral_fraction: float = 0.3
    seed: int = 0

    def problems(self) -> list[str]:
        out = []
        if self.num_documents < 1:
            out.append(f"data.synthetic.num_documents={self.num_documents} must be positive")
        for name in ("stereotype_rate", "neutral_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                out.append(f"data.synthetic.{name}={value} must lie in [0, 1]")
        return out


@dataclass
class DataConfig:
    """Where a data order comes from and its shape.

    ``source``: ``synthetic`` (generated here), ``text`` (a folder of .txt files or a JSONL file at
    ``corpus``) or ``indexed`` (an existing Megatron .bin/.idx at ``indexed_path``, e.g. Pythia's
    pre-shuffled Pile). ``tokenizer``: a tokenizer.json path, or None to train a byte-level BPE of
    ``vocab_size`` on the corpus.
    """

    name: str = "synthetic"
    source: str = "synthetic"
    corpus: str | None = None
    indexed_path: str | None = None
    tokenizer: str | None = None
    vocab_size: int = 50_277
    seq_length: int = 2048
    rows_per_step: int = 1024
    shuffle_seed: int = 1234
    doc_words: int = 2_000
    heldout: str | None = None
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)

    @property
    def row_length(self) -> int:
        return self.seq_length + 1

    def problems(self) -> list[str]:
        out = []
        sources = ("synthetic", "text", "indexed")
        if self.source not in sources:
            out.append(f"data.source={self.source!r} is not one of {', '.join(sources)}")
        if self.source == "text" and not self.corpus:
            out.append("data.source=text needs data.corpus (a folder of .txt files or a .jsonl file)")
        if self.source == "indexed" and not self.indexed_path:
            out.append("data.source=indexed needs data.indexed_path (the .bin/.idx path without extension)")
        if self.source == "indexed" and not self.tokenizer:
            out.append("data.source=indexed needs data.tokenizer (the tokenizer.json the rows were made with)")
        if self.seq_length < 1:
            out.append(f"data.seq_length={self.seq_length} must be positive")
        if self.rows_per_step < 1:
            out.append(f"data.rows_per_step={self.rows_per_step} must be positive")
        if self.source == "synthetic":
            out.extend(self.synthetic.problems())
        return out


@dataclass
class InterventionConfig:
    """Which arm a resumed run is: the rewritten tail (``intervention``), the same rows unchanged
    (``control``), or none (``baseline`` pretraining). The start is a fraction of training resolved
    to the nearest checkpoint step, or an explicit step."""

    name: str = "none"
    arm: str = "baseline"
    fraction: float | None = None
    start_step: int | None = None
    end_step: int | None = None
    direction: str = "to_feminine"

    def problems(self) -> list[str]:
        out = []
        arms = ("baseline", "intervention", "control")
        if self.arm not in arms:
            out.append(f"intervention.arm={self.arm!r} is not one of {', '.join(arms)}")
        if self.arm != "baseline" and self.fraction is None and self.start_step is None:
            out.append(f"intervention {self.name!r} needs intervention.fraction or intervention.start_step")
        if self.fraction is not None and self.start_step is not None:
            out.append("give intervention.fraction or intervention.start_step, not both")
        if self.fraction is not None and not 0.0 < self.fraction < 1.0:
            out.append(f"intervention.fraction={self.fraction} must lie strictly between 0 and 1")
        if self.direction not in DIRECTIONS:
            out.append(f"intervention.direction={self.direction!r} is not one of {', '.join(DIRECTIONS)}")
        return out
