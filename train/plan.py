"""Turn a composed config into a run plan, or list every problem with it at once.

The checks here need the parts together: the start step against the checkpoint schedule, the
batch split against the world size, the vocabulary against the tokenizer, the source against the
file system. Problems that need the data order itself are checked in ``train.data``.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from debias.core.config_errors import Problems
from debias.core.config_keys import unknown_keys
from debias.core.contracts import step_name
from debias.rewrite.intervention import (
    intervention_problems,
    intervention_steps,
    nearest_checkpoint,
)
from debias.train.config import SourceConfig, TrainConfig
from debias.train.engine import accumulation_steps, world_size

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """What a run will do, resolved: steps ``start..end-1`` of a ``total_steps`` schedule."""

    cfg: TrainConfig
    mode: str
    arm: str
    start_step: int
    end_step: int
    total_steps: int
    peak_lr: float
    accumulation: int
    world_size: int
    run_dir: Path
    checkpoint_steps: list[int] = field(default_factory=list)
    keep_deepspeed: set[int] = field(default_factory=set)
    source_path: Path | None = None

    @property
    def source(self) -> SourceConfig:
        """``cfg.source`` with the baseline run filled in when neither a path nor a hub was given."""
        if self.cfg.source.hub or self.source_path is None:
            return self.cfg.source
        return replace(self.cfg.source, path=str(self.source_path))

    @property
    def num_steps(self) -> int:
        return self.end_step - self.start_step


def to_train_config(cfg: DictConfig | TrainConfig) -> TrainConfig:
    """The typed config, interpolations (``${model.name}``...) resolved, from Hydra's DictConfig
    or from a TrainConfig built in Python."""
    node = OmegaConf.structured(cfg) if isinstance(cfg, TrainConfig) else OmegaConf.merge(
        OmegaConf.structured(TrainConfig), cfg)
    return OmegaConf.to_object(node)


def tokenizer_vocab(cfg: TrainConfig, problems: Problems) -> int | None:
    """Largest token id + 1 the data can hold: the tokenizer's size, or the BPE size to be trained."""
    if not cfg.data.tokenizer:
        return cfg.data.vocab_size
    from debias.data.corpus import load_tokenizer, resolve_tokenizer

    try:
        tok, _ = load_tokenizer(resolve_tokenizer(cfg.data.tokenizer))
    except (OSError, ValueError) as exc:
        problems.add(f"data.tokenizer={cfg.data.tokenizer}: {exc}")
        return None
    return tok.get_vocab_size(with_added_tokens=True)


def _check_source(cfg: TrainConfig, start: int, problems: Problems) -> Path | None:
    from debias.train.model import hf_dir

    source = cfg.source
    if source.optimizer == "neox":  # weights and optimizer state both come from GPT-NeoX's checkpoint
        location = source.neox_location()
        if location and (location.startswith((".", "/")) or location.count("/") != 1) and not Path(location).is_dir():
            problems.add(f"source.neox={location} is neither a folder nor a hub repository (owner/name)")
        return None
    path = source.path or (None if source.hub else cfg.baseline_run)
    if source.hub:
        if source.revision is None:
            log.info("weights: %s at revision step%d", source.hub, start)
    elif path:
        try:
            hf_dir(path, start)
        except FileNotFoundError as exc:
            if source.path:
                problems.add(f"source.path: {exc}")
            else:
                problems.add(f"no baseline run at {path} (baseline_run, used when neither source.path nor "
                             "source.hub is set): pretrain it first (the same command with intervention=none), or "
                             "set source.path or source.hub")
            return None
    ds_dir = deepspeed_source(cfg, Path(path) if path else None)
    want = source.optimizer
    if want in ("loaded", "auto"):
        found = ds_dir is not None and (ds_dir / step_name(start)).is_dir()
        if want == "loaded" and not found:
            where = ds_dir / step_name(start) if ds_dir else "source.deepspeed_dir (unset)"
            problems.add(f"source.optimizer=loaded, but there is no DeepSpeed checkpoint at {where}. Use "
                         "source.optimizer=fresh (weights only) or point source.deepspeed_dir at the folder of tags")
    return Path(path) if path else None


def deepspeed_source(cfg: TrainConfig, path: Path | None) -> Path | None:
    """The folder of DeepSpeed tags a resumed run may load its optimizer state from."""
    if cfg.source.deepspeed_dir:
        return Path(cfg.source.deepspeed_dir)
    if path is None:
        return None
    for candidate in (path, path.parent.parent):  # a run directory, or its checkpoints/step<N>
        if (candidate / "deepspeed").is_dir():
            return candidate / "deepspeed"
    return None


def make_plan(cfg: DictConfig | TrainConfig) -> Plan:
    """Resolve ``cfg`` into a Plan; raises ``ConfigError`` listing every problem found."""
    problems = Problems("training config")
    if isinstance(cfg, DictConfig):
        unknown = unknown_keys(cfg, TrainConfig)
        for p in unknown:
            problems.add(p)
        if any(p.startswith(("study", "eval")) for p in unknown):
            from debias.train.compose_config import STUDY_COMMAND

            problems.add(f"study.* and eval.* are keys of the whole study, not of one run: run it with {STUDY_COMMAND}")
    cfg = to_train_config(cfg)
    for p in cfg.problems():
        problems.add(p)

    arm = cfg.intervention.arm
    mode = cfg.mode if cfg.mode != "auto" else ("pretrain" if arm == "baseline" else "resume")
    if mode == "pretrain" and arm != "baseline":
        problems.add(f"mode=pretrain trains the baseline from scratch, but intervention={cfg.intervention.name} is "
                     f"the {arm} arm; use mode=resume (or mode=auto)")
    if mode == "resume" and arm == "baseline":
        problems.add("mode=resume needs an intervention or control arm (e.g. intervention=tail7 or control7); "
                     "to continue a killed pretraining run use resume=auto")

    schedule = cfg.schedule
    total = schedule.total_steps
    schedule_ok = not schedule.problems()
    checkpoints = schedule.checkpoint_steps() if schedule_ok else []
    iv_problems = intervention_problems(cfg.intervention, schedule)
    from debias.rewrite.arms import data_problems

    for p in data_problems(cfg.intervention, cfg.data):  # e.g. a placebo on a corpus it cannot redraw
        problems.add(p)
    for p in iv_problems:
        problems.add(p)
    start, end = 0, total
    if mode == "resume" and arm != "baseline" and not iv_problems:
        start, end = intervention_steps(cfg.intervention, schedule)
    elif cfg.intervention.end_step is not None:
        end = cfg.intervention.end_step
        if not 0 < end <= total:
            problems.add(f"intervention.end_step={end} must lie in 1..schedule.total_steps={total}")

    world = world_size()
    gas = accumulation_steps(cfg.deepspeed, cfg.data.rows_per_step, world)
    micro = cfg.deepspeed.micro_batch_size
    if gas is None or micro * gas * world != cfg.data.rows_per_step:
        shown = "?" if gas is None else gas
        problems.add(f"data.rows_per_step={cfg.data.rows_per_step} is not deepspeed.micro_batch_size={micro} x "
                     f"gradient_accumulation_steps={shown} x world size {world}; pick a micro-batch that divides "
                     f"{cfg.data.rows_per_step // max(world, 1)} rows per process")

    vocab = tokenizer_vocab(cfg, problems)
    if vocab is not None and vocab > cfg.model.vocab_size:
        problems.add(f"model.vocab_size={cfg.model.vocab_size} is smaller than the data's vocabulary ({vocab} tokens"
                     f"{', data.tokenizer=' + cfg.data.tokenizer if cfg.data.tokenizer else ', data.vocab_size'}): "
                     "the largest token ids would have no embedding; raise model.vocab_size or shrink the vocabulary")
    if cfg.data.seq_length > cfg.model.max_position_embeddings:
        problems.add(f"data.seq_length={cfg.data.seq_length} exceeds model.max_position_embeddings="
                     f"{cfg.model.max_position_embeddings}")

    if cfg.data.source in ("indexed", "index_maps") and cfg.data.indexed_path:
        from debias.data.indexed import idx_path, strip_extension

        idx = idx_path(strip_extension(cfg.data.indexed_path))
        if not idx.is_file():
            problems.add(f"data.indexed_path={cfg.data.indexed_path}: {idx} does not exist; point it at the data "
                         "order's .bin/.idx pair without extension (e.g. /data/pile-deduped/document)")
    if mode == "pretrain" and cfg.data.source in ("parquet", "index_maps"):
        problems.add(f"data.source={cfg.data.source} reads only the steps a resumed arm trains on; pretraining needs "
                     "the whole data order (data.source=indexed)")
    maps = cfg.data.index_maps_dir(cfg.seed) if cfg.data.source == "index_maps" else None
    if maps is not None and not maps.is_dir():
        problems.add(f"data.index_maps_root={cfg.data.index_maps_root}: it has no folder seed{cfg.seed} (the maps of "
                     f"seed {cfg.seed}); download EleutherAI/pile-preshuffled-seeds there")
    local = cfg.data.parquet_path if cfg.data.source == "parquet" else None
    if local and "://" not in local and not Path(local).is_dir():
        problems.add(f"data.parquet_path={local} is not a folder; give the folder of train-<step>.parquet chunks "
                     "(or an hf:// URL)")

    if cfg.deepspeed.device == "gpu":
        import torch

        if not torch.cuda.is_available():
            problems.add("deepspeed.device=gpu but no CUDA device is visible; use deepspeed=zero1-cpu on this machine")
    if cfg.model.attn_implementation == "flash_attention_2":
        if importlib.util.find_spec("flash_attn") is None:
            problems.add("model.attn_implementation=flash_attention_2 needs flash-attn (pip install -e '.[gpu]' on a "
                         "CUDA machine); use sdpa otherwise")
        if cfg.deepspeed.device != "gpu" or cfg.deepspeed.precision == "fp32":
            problems.add("model.attn_implementation=flash_attention_2 runs only on GPUs in bf16 or fp16")

    source_path = None
    if mode == "resume" and start in checkpoints:
        source_path = _check_source(cfg, start, problems)

    keep: set[int] = set()  # DeepSpeed states the study branches from: a baseline's 79% and 93%
    if checkpoints and total > 1 and mode == "pretrain":
        keep = {nearest_checkpoint(f, schedule) for f in cfg.save.deepspeed_keep if 0 < f < 1}

    problems.raise_if_any()
    return Plan(
        cfg=cfg,
        mode=mode,
        arm=arm,
        start_step=start,
        end_step=end,
        total_steps=total,
        peak_lr=cfg.optim.lr if cfg.optim.lr is not None else cfg.model.lr,
        accumulation=gas,
        world_size=world,
        run_dir=Path(cfg.run_dir),
        checkpoint_steps=[s for s in checkpoints if start <= s <= end],
        keep_deepspeed=keep,
        source_path=source_path,
    )
