"""Typed configs behind ``conf/eval/`` (group ``eval``), ``conf/evaluate.yaml`` and ``conf/report.yaml``.

Each dataclass lists its own problems so that an app reports every mistake of a composed config
at once (``debias.core.config_errors``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from hydra.core.config_store import ConfigStore

from debias.core.choices import choice, choice_problems, values

# Each benchmark's options live in its folder (eval/tasks/<name>/config.py); TasksConfig holds one
# field per entry of eval.tasks.registry, named as the folder.
from debias.eval.protocol import Expect, Family, Margin, ProtocolConfig
from debias.eval.tasks.crows_pairs.config import CROWS_SUBSETS, CrowsPairsTask
from debias.eval.tasks.heldout.config import SWAP_DIRECTIONS, HeldoutTask
from debias.eval.tasks.lambada.config import LambadaTask
from debias.eval.tasks.synthetic.config import SyntheticProbesTask
from debias.eval.tasks.winobias.config import WINOBIAS_SPLITS, WINOBIAS_TYPES, WinoBiasTask
from debias.eval.tasks.winogender.config import WinoGenderTask

__all__ = ["CROWS_SUBSETS", "SWAP_DIRECTIONS", "WINOBIAS_SPLITS", "WINOBIAS_TYPES", "CheckpointSelection",
           "CrowsPairsTask", "EvalConfig", "EvaluateAppConfig", "Expect", "Family", "HeldoutTask", "LambadaTask", "Margin",
           "ProtocolConfig", "ReportAppConfig", "StatsConfig", "SyntheticProbesTask", "TasksConfig", "WinoBiasTask", "WinoGenderTask", "register_configs"]

# The allowed values of the fields below, one Literal each (debias.core.choices: OmegaConf 2.3
# refuses Literal annotations, so each field is a str carrying its Literal).
Selection = Literal["all", "last", "every", "count", "steps"]  # which checkpoints of a run
Dtype = Literal["auto", "float32", "bfloat16", "float16"]  # the weights' dtype when scoring
ArmMethod = Literal["seed_t", "two_level"]  # how arms of several seeds are compared
SELECTIONS = values(Selection)
DTYPES = values(Dtype)


@dataclass
class TasksConfig:
    crows_pairs: CrowsPairsTask = field(default_factory=CrowsPairsTask)  # CrowS-Pairs English
    winobias: WinoBiasTask = field(default_factory=WinoBiasTask)  # WinoBias
    winogender: WinoGenderTask = field(default_factory=WinoGenderTask)  # WinoGender
    lambada: LambadaTask = field(default_factory=LambadaTask)  # LAMBADA
    heldout: HeldoutTask = field(default_factory=HeldoutTask)  # held-out perplexity
    # the synthetic corpus's probe pairs
    synthetic: SyntheticProbesTask = field(default_factory=SyntheticProbesTask)

    def problems(self) -> list[str]:
        from debias.eval.tasks.registry import BENCHMARKS

        return [p for b in BENCHMARKS for p in getattr(self, b.name).problems()]


@dataclass
class CheckpointSelection:
    """Which checkpoints of a run directory to evaluate.

    ``which``: ``all``; ``last``; ``every`` (every ``every``-th checkpoint by step order, plus the
    last); ``count`` (about ``count`` checkpoints evenly spread, first and last included);
    ``steps`` (exactly ``steps``).
    """

    which: str = choice(Selection, "all")  # a Selection: all, last, every, count, steps
    every: int = 1  # which=every: every this-many-th checkpoint, plus the last
    count: int = 10  # which=count: about this many, evenly spread, first and last included
    steps: list[int] = field(default_factory=list)  # which=steps: exactly these steps

    def problems(self) -> list[str]:
        out = choice_problems(self, "eval.checkpoints")
        if self.every < 1:
            out.append(f"eval.checkpoints.every={self.every} must be at least 1")
        if self.count < 1:
            out.append(f"eval.checkpoints.count={self.count} must be at least 1")
        if self.which == "steps" and not self.steps:
            out.append("eval.checkpoints.which=steps needs eval.checkpoints.steps=[...]")
        return out


ARM_METHODS = values(ArmMethod)


@dataclass
class StatsConfig:
    """How intervals and tests are computed; their level, the primary endpoints and the
    corrections are the protocol's (``eval.protocol``, ``eval.protocol.alpha``)."""

    n_boot: int = 2000  # bootstrap resamples of a comparison, at least 100
    n_boot_series: int = 400  # bootstrap resamples of each point of a series, at least 100
    n_perm: int = 5000  # permutations of a permutation test, at least 100
    seed: int = 0  # the resampling seed
    # widen the two-level bootstrap's seed level for few seeds (eval.stats.seed_factor)
    seed_correction: bool = True
    # arms of several seeds: "seed_t" (t-interval over per-seed values, paired by seed where the
    # arms share seeds; its p-value from the same t) or "two_level" (seeds-then-items bootstrap)
    method: str = choice(ArmMethod, "seed_t")

    def problems(self) -> list[str]:
        out = choice_problems(self, "eval.stats")
        for name in ("n_boot", "n_boot_series", "n_perm"):
            if getattr(self, name) < 100:
                out.append(f"eval.stats.{name}={getattr(self, name)} is too small for a stable interval; use at least 100")
        return out


@dataclass
class EvalConfig:
    """How checkpoints are evaluated: which tasks, on what device, and which checkpoints of a run.

    Results are cached per checkpoint: ``<run>/eval/step<N>.json`` for a checkpoint of a run,
    ``<results_dir>/<model>/<commit or folder digest>/eval.json`` for a hub model or a loose folder
    (never inside the model's folder or the hub cache); ``cache_dir`` puts them all in one folder.
    """

    tasks: TasksConfig = field(default_factory=TasksConfig)  # which tasks, and their options
    # which checkpoints of a run
    checkpoints: CheckpointSelection = field(default_factory=CheckpointSelection)
    stats: StatsConfig = field(default_factory=StatsConfig)  # how intervals and tests are computed
    # conf/protocol: the primary endpoints, alpha, families, margins and known answers, fixed before
    # the data; its sha256 goes into every result evaluated under it
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    batch_size: int = 32  # sequences per forward pass, at least 1
    device: str = "auto"  # auto (cuda when present, else cpu), cpu, cuda, cuda:<i> or mps
    dtype: str = choice(Dtype, "auto")  # a Dtype: auto, float32, bfloat16, float16
    max_length: int | None = None  # tokens a scored sequence may hold; None: the run's training context
    # results of hub models and loose folders: <results_dir>/<model>/<commit>/eval.json (relative: to
    # the folder the command runs in)
    results_dir: str = "results"
    # every checkpoint's results in this one folder instead; None: a run's in <run>/eval/, others in results_dir
    cache_dir: str | None = None
    seed: int = 1234  # the subsamples' seed
    threads: int | None = None  # torch CPU threads; None keeps torch's default (tiny models run best on 1)

    def problems(self) -> list[str]:
        from debias.eval.metrics import BY_NAME

        out = choice_problems(self, "eval") + self.tasks.problems() + self.checkpoints.problems() + self.stats.problems()
        out += self.protocol.problems(BY_NAME)
        if self.batch_size < 1:
            out.append(f"eval.batch_size={self.batch_size} must be at least 1")
        if not (self.device in ("auto", "cpu", "cuda", "mps") or self.device.startswith("cuda:")):
            out.append(f"eval.device={self.device!r} is not auto, cpu, cuda, cuda:<i> or mps")
        if self.threads is not None and self.threads < 1:
            out.append(f"eval.threads={self.threads} must be at least 1, or null for torch's default")
        if self.max_length is not None and self.max_length < 16:
            out.append(f"eval.max_length={self.max_length} must be at least 16 tokens, or null for the model's own")
        return out

    @property
    def confidence(self) -> float:
        """The level of every interval: 1 - the protocol's alpha."""
        return self.protocol.confidence


@dataclass
class EvaluateAppConfig:
    """``python -m debias.eval``: evaluate a model by hub name or folder (at one or several revisions), or
    the checkpoints of run directories."""

    eval: EvalConfig = field(default_factory=EvalConfig)  # conf/eval
    # a hub name (EleutherAI/pythia-410m-deduped) or a model folder; its results go to eval.results_dir.
    # Given as model=... on the command line (eval.__main__.model_argument), as model_name=... to compose()
    model_name: str | None = None
    revision: str | None = None  # model=<hub name>: the branch, tag or commit (default main)
    revisions: list[str] = field(default_factory=list)  # model=<hub name>: several, a series (step1000, ...)
    tokenizer: str | None = None  # another tokenizer than the model's own: a hub name[@revision] or a folder
    # the length of training a step<N> revision is a fraction of; None: 143000 for EleutherAI/pythia-*
    total_steps: int | None = None
    hub_cache: str | None = None  # the hub cache to download into and read from; None: huggingface_hub's (HF_HUB_CACHE)
    # revisions=[...]: revisions evaluated at once, each a job of the local launcher (hydra/launcher=... for others)
    parallel: int = 1
    path: str | None = None  # a checkpoint or run directory
    paths: list[str] = field(default_factory=list)  # more of them

    def all_paths(self) -> list[str]:
        return ([self.path] if self.path else []) + list(self.paths)

    def all_revisions(self) -> list[str | None]:
        """The model's revisions to evaluate, in order (``[None]``: its default)."""
        return ([self.revision] if self.revision else []) + list(self.revisions) or [None]

    def problems(self) -> list[str]:
        out = self.eval.problems()
        if not self.all_paths() and not self.model_name:
            out.append("give model=<hub name or folder> (with revision= or revisions=[...]), or path=<run directory>")
        if self.model_name and self.all_paths():
            out.append("give model= or path=/paths=, not both: run them as two commands")
        if (self.revision or self.revisions or self.tokenizer) and not self.model_name:
            out.append("revision=, revisions= and tokenizer= go with model=<hub name or folder>")
        if self.total_steps is not None and self.total_steps < 1:
            out.append(f"total_steps={self.total_steps} must be at least 1")
        if self.parallel < 1:
            out.append(f"parallel={self.parallel} must be at least 1")
        return out


@dataclass
class ModelPair:
    """Two models to compare, ``b - a``: each a hub name (``name@revision``) or a folder."""

    name: str = ""  # the pair's name in tables; empty: "<b> vs <a>"
    a: str = ""  # the reference (a base model): hub name[@revision] or folder
    b: str = ""  # the model compared with it (the intervention): hub name[@revision] or folder
    # a series: both sides at each of these revisions (their curves), compared at the last; [] = as given
    revisions: list[str] = field(default_factory=list)

    def problems(self, where: str) -> list[str]:
        out = [f"{where}.{side} is empty: give a hub name[@revision] or a folder" for side in ("a", "b")
               if not getattr(self, side)]
        from debias.eval.models import split_spec

        if self.revisions and any(split_spec(s)[1] is not None for s in (self.a, self.b)):
            out.append(f"{where}: give revisions=[...] (both sides' series) or name@revision, not both")
        return out

    @property
    def title(self) -> str:
        return self.name or f"{self.b} vs {self.a}"


@dataclass
class ReportAppConfig:
    """``python -m debias.eval.report``: evaluate what is missing, compare arms (``runs``) or models
    (``compare``, ``comparisons``), write the report.

    ``runs``: run directories, or folders whose subfolders are run directories.
    """

    eval: EvalConfig = field(default_factory=EvalConfig)  # conf/eval
    runs: list[str] = field(default_factory=list)  # run directories, or folders of them
    # two models, a then b (b - a): each a hub name[@revision] or a folder
    compare: list[str] = field(default_factory=list)
    # named pairs of models (conf/comparison/<name>.yaml, chosen with comparison=<name>)
    comparisons: list[ModelPair] = field(default_factory=list)
    revisions: list[str] = field(default_factory=list)  # compare=[A,B] as two series at these revisions
    hub_cache: str | None = None  # the hub cache to download into and read from; None: huggingface_hub's
    out: str = "report"  # the report's folder
    title: str = "pythia-debias: bias intervention report"  # the report's title
    # evaluate checkpoints with no cached result; false: use only what is cached
    evaluate_missing: bool = True

    def pairs(self) -> list[ModelPair]:
        """``compare`` and ``comparisons`` as one list of pairs."""
        given = [ModelPair(a=self.compare[0], b=self.compare[1], revisions=list(self.revisions))] \
            if len(self.compare) == 2 else []
        return given + list(self.comparisons)

    def problems(self) -> list[str]:
        out = self.eval.problems()
        models = bool(self.compare or self.comparisons)
        if not self.runs and not models:
            out.append("give runs=[<run dir>, ...] (a run dir has run.json and checkpoints/), compare=[<model a>,"
                       "<model b>] (hub names or folders) or comparison=<name of conf/comparison/*.yaml>")
        if self.runs and models:
            out.append("give runs= or compare=/comparison=, not both: a study's runs and released models are two reports")
        if self.compare and len(self.compare) != 2:
            out.append(f"compare= takes two models, a then b; got {len(self.compare)}: {self.compare}")
        if self.revisions and not self.compare:
            out.append("revisions= goes with compare=[A,B] (a pair in conf/comparison/ has its own revisions)")
        for i, pair in enumerate(self.comparisons):
            out += pair.problems(f"comparisons[{i}]")
        if len(self.compare) == 2:
            out += self.pairs()[0].problems("compare")
        return out


def register_configs() -> None:
    """Register the schemas with Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(group="eval", name="base_eval", node=EvalConfig)
    cs.store(group="protocol", name="base_protocol", node=ProtocolConfig, package="eval.protocol")
    cs.store(name="base_evaluate", node=EvaluateAppConfig)
    cs.store(name="base_report", node=ReportAppConfig)


register_configs()
