"""Typed configs of a training run (Hydra structured configs behind ``conf/model``,
``conf/deepspeed``, ``conf/experiment`` and ``conf/train.yaml``).

Each dataclass lists its own problems; ``train.plan.make_plan`` adds the problems that only show
when the parts meet (a start step that is not a checkpoint step, rows per step that the batch
sizes do not multiply to, a vocabulary smaller than the data's) and reports them all at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from hydra.core.config_store import ConfigStore

from debias.config import DataConfig, InterventionConfig, ScheduleConfig
from debias.config import register_configs as register_data_configs
from debias.core.choices import choice, choice_problems, values
from debias.core.conf_dir import CONF_DIR as CONF_DIR
from debias.core.config_errors import name_problems
from debias.train.curves import CurvesConfig  # re-exported: jobs, compose_config, __main__

# The allowed values of the fields below, one Literal each (debias.core.choices: OmegaConf 2.3
# refuses Literal annotations, so each field is a str carrying its Literal).
AttnImplementation = Literal["eager", "sdpa", "flash_attention_2"]
InitMethod = Literal["small_init", "wang_init", "normal"]
Precision = Literal["fp32", "bf16", "fp16"]
Device = Literal["cpu", "gpu"]
Mode = Literal["auto", "pretrain", "resume"]
ResumePolicy = Literal["never", "auto"]
OptimizerState = Literal["fresh", "loaded", "auto", "neox"]
TailCheck = Literal["sample", "full"]  # train.tail_check

ATTN_IMPLEMENTATIONS = values(AttnImplementation)
INIT_METHODS = values(InitMethod)
PRECISIONS = values(Precision)
DEVICES = values(Device)
MODES = values(Mode)
RESUME_POLICIES = values(ResumePolicy)
OPTIMIZER_STATES = values(OptimizerState)
TAIL_CHECKS = values(TailCheck)


@dataclass
class ModelConfig:
    """A GPT-NeoX shape as Pythia used it: parallel residual, rotary on 25% of each head, untied
    embeddings, LayerNorm eps 1e-5, GELU, MLP 4x hidden, no dropout. ``lr`` is the peak rate.

    ``hub_name`` is the Hugging Face repository whose ``step<N>`` revisions hold the checkpoints
    (the deduplicated-Pile models, which the published intervention resumed).
    """

    name: str = "mini-0.5m"  # the model's name, in run names and report folders (the conf/model file's name)
    # Hugging Face repository with the step<N> revisions; None: not on the hub (pretrained here)
    hub_name: str | None = None
    num_layers: int = 4  # transformer layers
    hidden_size: int = 64  # width d of the residual stream
    num_heads: int = 4  # attention heads; hidden_size must divide by it
    intermediate_size: int | None = None  # MLP width; None: 4 x hidden_size
    vocab_size: int = 2048  # embedding rows; Pythia's: 50,304 (50,432 and 50,688 for 6.9B, 12B)
    max_position_embeddings: int = 2048  # positions the model takes (the HF config's)
    rotary_pct: float = 0.25  # share of each head's dimensions with rotary embeddings, in (0, 1]
    rotary_base: float = 10_000.0  # rotary embeddings' base
    layer_norm_eps: float = 1e-5  # LayerNorm epsilon
    lr: float = 2e-3  # peak learning rate (optim.lr=None takes this)
    # init of every matrix but the output projections: an InitMethod (small_init, wang_init, normal)
    init_method: str = choice(InitMethod, "small_init")
    # init of the projections that write into the residual stream: an InitMethod
    output_layer_init_method: str = choice(InitMethod, "wang_init")
    init_std: float = 0.02  # std of the normal init (and the HF config's initializer_range)
    # an AttnImplementation: eager, sdpa, flash_attention_2 (the gpu extra)
    attn_implementation: str = choice(AttnImplementation, "sdpa")
    # recompute activations in the backward pass: less memory, ~1/3 more compute
    activation_checkpointing: bool = False
    # rows per GPU and pass when this size is resumed on GPUs (experiment=pythia-resume sets
    # deepspeed.micro_batch_size to it); None: not used
    micro_batch_size: int | None = None

    @property
    def ffn_size(self) -> int:
        return self.intermediate_size or 4 * self.hidden_size

    def num_parameters(self) -> int:
        """Parameters of the GPTNeoXForCausalLM this config builds (embeddings included)."""
        h, f, v, n = self.hidden_size, self.ffn_size, self.vocab_size, self.num_layers
        per_layer = 4 * h + (3 * h * h + 3 * h) + (h * h + h) + (h * f + f) + (f * h + h)
        return n * per_layer + 2 * v * h + 2 * h

    def problems(self) -> list[str]:
        out = choice_problems(self, "model") + name_problems("model.name", self.name)
        for key in ("num_layers", "hidden_size", "num_heads", "vocab_size", "max_position_embeddings"):
            if getattr(self, key) < 1:
                out.append(f"model.{key}={getattr(self, key)} must be positive")
        if self.num_heads > 0 and self.hidden_size % self.num_heads:
            out.append(f"model.hidden_size={self.hidden_size} is not divisible by model.num_heads={self.num_heads}")
        if not 0.0 < self.rotary_pct <= 1.0:
            out.append(f"model.rotary_pct={self.rotary_pct} must lie in (0, 1]")
        if self.lr <= 0:
            out.append(f"model.lr={self.lr} (the peak learning rate) must be positive")
        if self.micro_batch_size is not None and self.micro_batch_size < 1:
            out.append(f"model.micro_batch_size={self.micro_batch_size} must be positive (or null)")
        return out


@dataclass
class OptimConfig:
    """AdamW as Pythia ran it, and GPT-NeoX v1.0's cosine schedule (``train.lr``).

    ``lr=None`` takes the model's peak rate. Biases and LayerNorm weights get no weight decay.
    """

    lr: float | None = None  # peak learning rate; None: model.lr
    min_lr_ratio: float = 0.1  # the cosine's floor: min_lr_ratio x peak, in [0, 1]
    warmup_fraction: float = 0.01  # linear warmup over this share of total_steps, in [0, 1)
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])  # AdamW's two betas, each in [0, 1)
    eps: float = 1e-8  # AdamW's epsilon
    weight_decay: float = 0.1  # decoupled weight decay (none on biases and LayerNorm weights)
    grad_clip: float = 1.0  # max global gradient norm; 0: no clipping

    def problems(self) -> list[str]:
        out = []
        if self.lr is not None and self.lr <= 0:
            out.append(f"optim.lr={self.lr} must be positive (or null for the model's peak rate)")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            out.append(f"optim.min_lr_ratio={self.min_lr_ratio} must lie in [0, 1]")
        if not 0.0 <= self.warmup_fraction < 1.0:
            out.append(f"optim.warmup_fraction={self.warmup_fraction} must lie in [0, 1)")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            out.append(f"optim.betas={list(self.betas)} must be two numbers in [0, 1)")
        if self.eps <= 0:
            out.append(f"optim.eps={self.eps} must be positive")
        if self.weight_decay < 0:
            out.append(f"optim.weight_decay={self.weight_decay} must not be negative")
        if self.grad_clip < 0:
            out.append(f"optim.grad_clip={self.grad_clip} must not be negative (0 turns clipping off)")
        return out


@dataclass
class DeepSpeedConfig:
    """How the DeepSpeed engine runs: ZeRO stage, device, precision and batch split.

    ``gradient_accumulation_steps=None`` derives it from ``data.rows_per_step``, the micro-batch
    and the world size. ``torch_adam`` uses ``torch.optim.AdamW`` (the one that reloads
    bit-exactly, and the only one that needs no compiled op); off: DeepSpeed's FusedAdam.
    ``threads``: torch CPU threads (None: torch's default). ``collective_timeout_s``: how long a
    rank waits in a collective for the others before it fails (a rank that died or hung).
    """

    name: str = "zero1-cpu"  # the conf/deepspeed file's name
    device: str = choice(Device, "cpu")  # a Device: cpu, gpu
    zero_stage: int = 1  # ZeRO stage: 0, 1 or 2
    precision: str = choice(Precision, "fp32")  # a Precision: fp32, bf16, fp16 (fp16 on GPUs only)
    micro_batch_size: int = 4  # rows per rank and pass
    # passes per step; None: rows_per_step / (micro_batch_size x world size)
    gradient_accumulation_steps: int | None = None
    # torch.optim.AdamW (bit-exact reloads, no compiled op); false: DeepSpeed's FusedAdam
    torch_adam: bool = True
    backend: str | None = None  # torch.distributed backend; None: gloo on CPU, nccl on GPUs
    overlap_comm: bool = False  # overlap gradient reduction with the backward pass
    contiguous_gradients: bool = True  # copy gradients into one buffer as they are made (less fragmentation)
    reduce_bucket_size: int = 500_000_000  # elements reduced at a time
    allgather_bucket_size: int = 500_000_000  # elements all-gathered at a time
    threads: int | None = None  # torch CPU threads; None: torch's default
    collective_timeout_s: int = 900  # seconds a rank waits in a collective for the others before it fails

    @property
    def dist_backend(self) -> str:
        return self.backend or ("gloo" if self.device == "cpu" else "nccl")

    def problems(self) -> list[str]:
        out = choice_problems(self, "deepspeed")
        if self.zero_stage not in (0, 1, 2):
            out.append(f"deepspeed.zero_stage={self.zero_stage} is not supported; use 0, 1 or 2")
        if self.device == "cpu" and self.precision == "fp16":
            out.append("deepspeed.precision=fp16 needs a GPU; use fp32 on CPU (deepspeed=zero1-cpu)")
        if self.micro_batch_size < 1:
            out.append(f"deepspeed.micro_batch_size={self.micro_batch_size} must be positive")
        if self.gradient_accumulation_steps is not None and self.gradient_accumulation_steps < 1:
            out.append(f"deepspeed.gradient_accumulation_steps={self.gradient_accumulation_steps} must be "
                       "positive (or null to derive it)")
        if self.collective_timeout_s < 1:
            out.append(f"deepspeed.collective_timeout_s={self.collective_timeout_s} must be positive")
        if self.threads is not None and self.threads < 1:
            out.append(f"deepspeed.threads={self.threads} must be positive (or null)")
        return out


@dataclass
class SourceConfig:
    """Where a resumed run's weights come from: a Hugging Face directory (a baseline run's
    ``checkpoints/step<N>``, or the run directory itself, which picks that folder) or a hub name
    with a revision (default ``step<start>``, as Pythia's checkpoints are named).

    ``optimizer``: ``fresh`` (the study's default for both arms, as hub checkpoints force),
    ``loaded`` (from the DeepSpeed checkpoint ``step<start>`` in ``deepspeed_dir``, default the
    run directory's ``deepspeed/``; an error when there is none), ``auto`` (loaded when present)
    or ``neox`` (weights and Adam state of GPT-NeoX's raw training checkpoint ``neox`` at
    ``step<start>``: ``debias.train.neox_checkpoint``; needs ZeRO stage 1 or 2).
    """

    # a Hugging Face directory (or a run directory: its checkpoints/step<start>) to start from
    path: str | None = None
    hub: str | None = None  # instead of path: a hub repository, e.g. EleutherAI/pythia-410m-deduped
    revision: str | None = None  # the hub revision; None: step<start>
    cache_dir: str | None = None  # where hub downloads go; None: the Hugging Face cache
    optimizer: str = choice(OptimizerState, "fresh")  # an OptimizerState: fresh, loaded, auto, neox
    # optimizer=neox: a GPT-NeoX raw checkpoint, a folder of one step's files or a hub repository
    # (branch step<start>); None: EleutherAI/neox-ckpt-<model> of source.hub
    neox: str | None = None
    # DeepSpeed checkpoints for optimizer=loaded/auto; None: <run dir>/deepspeed
    deepspeed_dir: str | None = None

    def neox_location(self) -> str | None:
        """The GPT-NeoX checkpoint of ``optimizer=neox``: ``neox``, else the raw-checkpoint repository
        EleutherAI publishes beside ``hub`` (EleutherAI/pythia-160m-seed3 -> EleutherAI/neox-ckpt-pythia-160m-seed3)."""
        if self.neox:
            return self.neox
        if self.hub:
            owner, _, name = self.hub.rpartition("/")
            return f"{owner}/neox-ckpt-{name}" if owner else f"neox-ckpt-{name}"
        return None

    def problems(self) -> list[str]:
        out = choice_problems(self, "source")
        if self.path and self.hub:
            out.append("give source.path or source.hub, not both")
        if self.optimizer == "neox" and not (self.neox or self.hub):
            out.append("source.optimizer=neox needs source.neox (a GPT-NeoX raw checkpoint: a folder or a hub "
                       "repository such as EleutherAI/neox-ckpt-pythia-410m-deduped) or source.hub to derive it from")
        if self.hub and self.optimizer == "loaded" and not self.deepspeed_dir:
            out.append("source.optimizer=loaded with source.hub needs source.deepspeed_dir: hub checkpoints hold "
                       "weights only")
        return out


@dataclass
class SaveConfig:
    """What a run writes besides its log.

    Hugging Face checkpoints go on every step of the schedule (what eval reads). DeepSpeed
    checkpoints go on the same steps so that ``resume=auto`` can continue, but only the latest is
    kept, plus those at the fractions ``deepspeed_keep`` (resolved like an intervention's start:
    79% and 93%, the study's branch points). ``start_checkpoint``: a resumed run also writes the
    weights it started from as ``checkpoints/step<start>``, so its series is complete alone.
    """

    hf_checkpoints: bool = True  # write checkpoints/step<N> (Hugging Face format) on every checkpoint step
    deepspeed_checkpoints: bool = True  # write DeepSpeed checkpoints (for resume=auto) on the same steps
    # fractions of training whose DeepSpeed checkpoint is kept besides the latest, each in (0, 1)
    deepspeed_keep: list[float] = field(default_factory=lambda: [0.79, 0.93])
    deepspeed_keep_all: bool = False  # keep every DeepSpeed checkpoint
    # a resumed run also writes the weights it started from as checkpoints/step<start>
    start_checkpoint: bool = True

    def problems(self) -> list[str]:
        return [f"save.deepspeed_keep has {f}; fractions must lie strictly between 0 and 1"
                for f in self.deepspeed_keep if not 0.0 < f < 1.0]


@dataclass
class TrainConfig:
    """One run: one arm of one seed. ``mode=auto`` pretrains the baseline arm (intervention=none)
    and resumes the others (the whole study of several seeds and arms, evaluated, is
    ``debias.study``'s config, which adds to these fields). ``resume=auto`` continues a killed run
    from its last complete checkpoint; ``overwrite=true`` replaces an existing run directory (never done silently).

    ``seed`` selects the initialisation and, for data orders built here, the shuffle
    (``data.shuffle_seed + seed``), so several seeds give independent pretraining runs. A resumed
    run with neither ``source.path`` nor ``source.hub`` starts from ``baseline_run``, the
    pretraining run of the same model, data and seed. ``tail``: the intervention's rewritten tail
    (``debias-rewrite``'s output); by default ``<data order folder>/tails/<direction>-<start>-<end>``
    (the method and its parameters in front for arms other than the morphological rewrite:
    ``debias.rewrite.arms.tail_name``), rewritten there with ``rewrite_workers`` processes on first use.
    ``tail_check``: how the tail is checked against its manifest before training
    (``train.tail_check``): ``sample`` (sizes, the index's sha256 and a sample of rows against their
    source rows) or ``full`` (the whole ``.bin``'s sha256 too).
    """

    mode: str = choice(Mode, "auto")  # a Mode: auto, pretrain, resume
    seed: int = 0  # initialisation and data-order seed; not negative
    name: str = "${model.name}-${data.name}-s${seed}-${intervention.name}"  # the run's name
    runs_root: str = "runs"  # folder of every run, data order and report
    run_dir: str = "${runs_root}/${name}"  # this run's directory
    # the run a resumed arm starts from when source names none
    baseline_run: str = "${runs_root}/${model.name}-${data.name}-s${seed}-none"
    # where data orders (and their tails) are built and cached
    data_orders_dir: str = "${runs_root}/data_orders"
    tail: str | None = None  # the rewritten tail; None: <data order folder>/tails/<direction>-<start>-<end>
    rewrite_workers: int = 1  # processes for a tail rewritten on first use
    tail_check: str = choice(TailCheck, "sample")  # a TailCheck: sample, full
    # a ResumePolicy: never, auto (continue from the last complete checkpoint)
    resume: str = choice(ResumePolicy, "never")
    overwrite: bool = False  # replace an existing run directory
    progress: bool = True  # tqdm progress bars (rank 0)
    log_every: int = 50  # steps between log lines
    model: ModelConfig = field(default_factory=ModelConfig)  # conf/model
    data: DataConfig = field(default_factory=DataConfig)  # conf/data
    intervention: InterventionConfig = field(default_factory=InterventionConfig)  # conf/intervention: the arm
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)  # conf/schedule
    deepspeed: DeepSpeedConfig = field(default_factory=DeepSpeedConfig)  # conf/deepspeed
    optim: OptimConfig = field(default_factory=OptimConfig)  # AdamW and the learning-rate schedule
    source: SourceConfig = field(default_factory=SourceConfig)  # where a resumed run's weights come from
    save: SaveConfig = field(default_factory=SaveConfig)  # what the run writes
    logging: CurvesConfig = field(default_factory=CurvesConfig)  # conf/logging: training curves (off by default)

    def problems(self) -> list[str]:
        out = choice_problems(self, "") + name_problems("name", self.name)
        if self.resume == "auto" and self.overwrite:
            out.append("resume=auto and overwrite=true contradict each other; pick one")
        if self.seed < 0:
            out.append(f"seed={self.seed} must not be negative")
        if self.rewrite_workers < 1:
            out.append(f"rewrite_workers={self.rewrite_workers} must be positive")
        if self.log_every < 1:
            out.append(f"log_every={self.log_every} must be positive")
        if self.source.optimizer == "neox" and self.deepspeed.zero_stage not in (1, 2):
            out.append(f"source.optimizer=neox puts GPT-NeoX's state into ZeRO's partitions: use deepspeed.zero_stage "
                       f"1 or 2, not {self.deepspeed.zero_stage}")
        # intervention and schedule are checked together by debias.rewrite.intervention (train.plan)
        for part in (self.model, self.data, self.deepspeed, self.optim, self.source, self.save, self.logging):
            out.extend(part.problems())
        return out


def register_configs() -> None:
    """Put every structured config behind ``conf/`` in Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="base_train", node=TrainConfig)
    cs.store(group="model", name="base_model", node=ModelConfig)
    cs.store(group="deepspeed", name="base_deepspeed", node=DeepSpeedConfig)
    cs.store(group="logging", name="base_logging", node=CurvesConfig)
    register_data_configs()


register_configs()
