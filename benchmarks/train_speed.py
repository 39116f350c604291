"""Training throughput of the DeepSpeed path against a plain PyTorch loop, same process.

Both train the same model (same init) on the same batches with the same optimizer settings
(AdamW over GPT-NeoX's decay groups, clipping 1.0, the lr set before each update, gradient
accumulation over micro-batches); the DeepSpeed side runs ``train.trainer.train_batch`` on the
engine ``train.engine.make_engine`` builds, exactly what a training run does. Measurements
alternate between the two in short windows (these machines are noisy and drift): the ratio
reported is the median over windows of (plain seconds / DeepSpeed seconds) of adjacent windows.

    python benchmarks/train_speed.py                              # CPU: the suite's mini-0.5m
    python benchmarks/train_speed.py --model mini-3m
    # one GPU: Pythia-410M in bf16 with sdpa, and its model FLOPs utilization against 989 TFLOP/s
    python benchmarks/train_speed.py --model pythia-410m --device gpu --precision bf16 --attn sdpa \\
        --seq-length 2048 --rows-per-step 32 --micro-batch 8 --steps 8 --repeats 3
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from debias.train.config import DeepSpeedConfig, ModelConfig, OptimConfig  # noqa: E402
from debias.train.model import build_model, flops_per_token, param_groups  # noqa: E402

H100_BF16_PEAK = 989e12  # dense bf16 FLOP/s of an H100 / H200 SXM


def model_config(name: str, attn: str) -> ModelConfig:
    import yaml

    path = Path(__file__).resolve().parents[1] / "conf" / "model" / f"{name}.yaml"
    values = {k: v for k, v in yaml.safe_load(path.read_text()).items() if k != "defaults"}
    return ModelConfig(**{**values, "attn_implementation": attn})


class PlainLoop:
    """The baseline: the model, torch's AdamW and a hand-written accumulation loop."""

    def __init__(self, model: torch.nn.Module, optim: OptimConfig, device: torch.device, precision: str) -> None:
        self.model = model.to(device)
        fused = device.type == "cuda"
        self.opt = torch.optim.AdamW(param_groups(self.model, optim.weight_decay), lr=1e-3, betas=tuple(optim.betas),
                                     eps=optim.eps, fused=fused or None)
        self.clip = optim.grad_clip
        self.autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def step(self, tokens: torch.Tensor, micro: int, lr: float) -> float:
        from debias.train.trainer import lm_loss

        for group in self.opt.param_groups:
            group["lr"] = lr
        chunks = tokens.split(micro)
        total = torch.zeros((), device=tokens.device)
        for rows in chunks:
            with self.autocast:
                loss = lm_loss(self.model, rows)
            (loss / len(chunks)).backward()
            total += loss.detach()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return float(total / len(chunks))


class DeepSpeedLoop:
    def __init__(self, model: torch.nn.Module, ds: DeepSpeedConfig, optim: OptimConfig, rows: int) -> None:
        from debias.train.engine import make_engine

        self.engine = make_engine(model, ds, optim, 1e-3, rows)

    def step(self, tokens: torch.Tensor, micro: int, lr: float) -> float:
        from debias.train.engine import set_lr
        from debias.train.trainer import train_batch

        set_lr(self.engine, lr)
        loss = train_batch(self.engine, tokens, micro)
        self.engine.get_global_grad_norm()
        return float(loss)


def time_steps(loop, batches: list[torch.Tensor], micro: int, device: torch.device) -> float:
    """Seconds for one pass over ``batches`` (one optimizer step each)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    began = time.perf_counter()
    for batch in batches:
        loop.step(batch, micro, 1e-4)  # float() of the loss syncs each step, as the trainer's log does
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mini-0.5m")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default=None)
    parser.add_argument("--attn", default="sdpa", choices=("eager", "sdpa", "flash_attention_2"))
    parser.add_argument("--zero-stage", type=int, default=1)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--rows-per-step", type=int, default=16)
    parser.add_argument("--micro-batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps per measurement window")
    parser.add_argument("--repeats", type=int, default=12, help="windows of each loop, alternating")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (CPU only)")
    parser.add_argument("--peak-flops", type=float, default=H100_BF16_PEAK)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for name in ("DeepSpeed", "deepspeed"):
        logging.getLogger(name).setLevel(logging.WARNING)

    precision = args.precision or ("bf16" if args.device == "gpu" else "fp32")
    device = torch.device("cuda", 0) if args.device == "gpu" else torch.device("cpu")
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    cfg = model_config(args.model, args.attn)
    optim = OptimConfig()
    ds = DeepSpeedConfig(name="bench", device=args.device, zero_stage=args.zero_stage, precision=precision,
                         micro_batch_size=args.micro_batch, torch_adam=True,
                         overlap_comm=args.device == "gpu", threads=args.threads if args.device == "cpu" else None)
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, cfg.vocab_size, (args.rows_per_step, args.seq_length + 1), generator=gen).to(device)
               for _ in range(args.steps)]

    loops = {"plain": PlainLoop(build_model(cfg, seed=0), optim, device, precision),
             "deepspeed": DeepSpeedLoop(build_model(cfg, seed=0), ds, optim, args.rows_per_step)}
    for loop in loops.values():  # warm-up: allocator, kernels, DeepSpeed's first-step setup
        time_steps(loop, batches[:2], args.micro_batch, device)
    seconds: dict[str, list[float]] = {name: [] for name in loops}
    for i in range(args.repeats):
        order = list(loops) if i % 2 == 0 else list(reversed(loops))  # neither always goes first
        for name in order:
            seconds[name].append(time_steps(loops[name], batches, args.micro_batch, device))

    tokens = args.steps * args.rows_per_step * args.seq_length
    fpt = flops_per_token(cfg, args.seq_length)
    where = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"model {cfg.name} ({cfg.num_parameters() / 1e6:.2f}M parameters), {args.rows_per_step} rows x "
          f"{args.seq_length} tokens a step (micro-batch {args.micro_batch}), {precision}, attn {args.attn}, "
          f"ZeRO {args.zero_stage}, on {where}; {args.repeats} x {args.steps} steps each")
    rate = {}
    for name, values in seconds.items():
        rate[name] = tokens / statistics.median(values)
        tflops = rate[name] * fpt / 1e12
        mfu = f", MFU {rate[name] * fpt / args.peak_flops:.1%} of {args.peak_flops / 1e12:.0f} TFLOP/s" \
            if device.type == "cuda" else ""
        spread = f"{tokens / max(values):,.0f}..{tokens / min(values):,.0f}"
        print(f"  {name:9s} {rate[name]:12,.0f} tokens/s (range {spread}), {tflops:.3f} TFLOP/s{mfu}")
    paired = statistics.median(p / d for p, d in zip(seconds["plain"], seconds["deepspeed"], strict=True))
    print(f"  deepspeed / plain: {paired:.3f}x (median of {args.repeats} paired windows; goal >= 0.9x)")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
