"""Typed config of the whole study (``python -m debias.study``, ``conf/study.yaml``): every field
of one training run at the top level, as ``conf/train.yaml`` has them (the experiment files set
them with the same keys), plus how the runs are evaluated (``eval``) and what the study runs
(``study``). Only this package imports both ``train`` and ``eval``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

from debias.eval.config import EvalConfig
from debias.eval.config import register_configs as register_eval_configs
from debias.train.config import TrainConfig
from debias.train.config import register_configs as register_train_configs

# The keys only the study reads: a run of the study is composed without them (``debias.study.run``).
STUDY_KEYS = ("study", "eval")


@dataclass
class StudyConfig:
    """A whole study: a baseline for each seed, each arm in ``arms`` (intervention configs)
    resumed from it, every run's checkpoints evaluated with ``eval``, and the report written to
    ``report_dir``. ``parallel``: processes at a time.

    For the synthetic corpus, held-out perplexity is measured on ``heldout_documents`` stories of
    seed ``data.synthetic.seed + heldout_seed_offset`` unless ``eval.tasks.heldout.path`` or
    ``data.heldout`` names a text.
    """

    # pretraining seeds, each its own baseline; distinct and not negative
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    # intervention configs resumed from each baseline (not none: the baseline always runs)
    arms: list[str] = field(default_factory=lambda: ["tail7", "tail21", "control7", "control21"])
    parallel: int = 2  # runs at a time
    evaluate: bool = True  # evaluate every run's checkpoints with eval
    report: bool = True  # write the report (needs evaluate)
    report_dir: str = "${runs_root}/report/${model.name}-${data.name}"  # where the report goes
    heldout_documents: int = 400  # synthetic held-out stories for perplexity
    heldout_seed_offset: int = 1000  # the held-out stories' seed: data.synthetic.seed + this

    def problems(self) -> list[str]:
        out = []
        if not self.seeds:
            out.append("study.seeds is empty; list the pretraining seeds, e.g. study.seeds=[0,1,2]")
        if len(set(self.seeds)) != len(self.seeds):
            out.append(f"study.seeds={list(self.seeds)} repeats a seed")
        if any(s < 0 for s in self.seeds):
            out.append(f"study.seeds={list(self.seeds)} has a negative seed")
        if "none" in self.arms:
            out.append("study.arms lists 'none': the baseline of each seed is always trained; list only the "
                       "intervention and control arms")
        if self.parallel < 1:
            out.append(f"study.parallel={self.parallel} must be at least 1")
        if self.heldout_documents < 1:
            out.append(f"study.heldout_documents={self.heldout_documents} must be at least 1")
        if self.report and not self.evaluate:
            out.append("study.report=true needs study.evaluate=true (the report reads the evaluations)")
        return out


@dataclass
class StudyAppConfig(TrainConfig):
    """``python -m debias.study``: the fields of a training run (``train.config.TrainConfig``; each
    run of the study sets its own ``seed``, ``intervention``, ``mode``, ``resume`` and ``progress``),
    the evaluation settings and the study itself."""

    eval: EvalConfig = field(default_factory=EvalConfig)  # conf/eval: how every run's checkpoints are evaluated
    study: StudyConfig = field(default_factory=StudyConfig)  # the seeds, arms, parallelism and report

    @property
    def trains_baselines(self) -> bool:
        """Whether the study pretrains each seed's baseline: not when its arms resume released
        checkpoints (``source.hub``, a PolyPythias seed's repository each) or a given folder."""
        return not (self.source.hub or self.source.path or self.source.optimizer == "neox")

    def study_problems(self) -> list[str]:
        """The problems of the study's own parts; each run's are found when it is planned."""
        return self.study.problems() + self.eval.problems()


def register_configs() -> None:
    """Put the study's schema (and those of train and eval it is made of) in Hydra's ConfigStore."""
    register_train_configs()
    register_eval_configs()
    ConfigStore.instance().store(name="base_study", node=StudyAppConfig)


register_configs()
