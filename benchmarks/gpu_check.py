"""The GPU check (run by benchmarks/gpu_check.sh on one H100/H200; about 4 minutes there):

1. Throughput of Pythia-410m's shape on 2,048-token rows, bf16, ZeRO-1 under DeepSpeed, against a
   plain PyTorch bf16 loop in the same process (``benchmarks/train_speed.py``), with ``sdpa`` and,
   when flash-attn imports, ``flash_attention_2``: tokens/s and model FLOPs utilization against
   the card's dense bf16 peak (989 TFLOP/s). Goals: >= 0.9x the plain loop, >= 45% MFU.
2. A 20-step resume from a Hugging Face directory through the train app (``train.run``: DeepSpeed
   ZeRO-1 on the GPU), once in bf16 and once in fp32, on the same rows: the per-step losses must
   agree within ``STEP0_RTOL`` at the first step and ``STEP_RTOL`` at every later one.

Why those tolerances: bf16 keeps 8 significant bits, so every product and sum of the forward pass
carries a relative error of up to 2^-8 = 0.39% before averaging; DeepSpeed keeps fp32 master
weights and fp32 Adam state, and the loss is taken in fp32 from the logits, so the two runs
start from the same weights and differ only by that rounding. The first loss (no update yet)
therefore differs by a fraction of a percent: allowed 1%. Each update then comes from slightly
different gradients; over 20 steps at lr <= 3e-4 (Adam's steps are about lr per weight whatever
the gradient's noise) the curves stay within 2% of each other per step, while a real fault
(wrong loss scaling, a bf16 master copy, a lost update, the wrong rows) moves them by far more.

    python benchmarks/gpu_check.py                 # on a CUDA machine
    python benchmarks/gpu_check.py --smoke         # CPU, tiny shapes: checks that the script runs
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import numpy as np  # noqa: E402

STEP0_RTOL = 0.01
STEP_RTOL = 0.02
RESUME_STEPS = 20


def throughput(args: argparse.Namespace) -> list[str]:
    """benchmarks/train_speed.py for each attention implementation that imports here."""
    import train_speed

    attns = ["sdpa"]
    if not args.smoke and importlib.util.find_spec("flash_attn") is not None:
        attns.append("flash_attention_2")
    if args.smoke:
        common = ["--model", "mini-tiny", "--device", "cpu", "--precision", "fp32", "--seq-length", "32",
                  "--rows-per-step", "4", "--micro-batch", "2", "--steps", "2", "--repeats", "1"]
    else:
        common = ["--model", "pythia-410m", "--device", "gpu", "--precision", "bf16", "--zero-stage", "1",
                  "--seq-length", "2048", "--rows-per-step", "64", "--micro-batch", "16", "--steps", "6",
                  "--repeats", "3"]
    skipped = [] if "flash_attention_2" in attns or args.smoke else ["flash_attention_2: skipped, flash-attn does "
                                                                     "not import here"]
    for attn in attns:
        print(f"\n== throughput, attn {attn}", flush=True)
        train_speed.main([*common, "--attn", attn])
    return skipped


def markov_rows(rows: int, length: int, vocab: int, seed: int = 0) -> np.ndarray:
    """Rows of a learnable token language (each token's successor is fixed 3 times in 4), so that
    20 steps lower the loss and a wrong update shows."""
    rng = np.random.default_rng(seed)
    successor = rng.permutation(vocab)
    out = np.empty((rows, length), dtype=np.int64)
    out[:, 0] = rng.integers(0, vocab, rows)
    for i in range(1, length):
        follow = rng.random(rows) < 0.75
        out[:, i] = np.where(follow, successor[out[:, i - 1]], rng.integers(0, vocab, rows))
    return out.astype(np.uint16)


def resume_check(args: argparse.Namespace, work: Path) -> dict[str, object]:
    """bf16 and fp32 resumes of the same HF directory over the same rows; their losses compared."""
    from debias.data.indexed import write_indexed_dataset
    from debias.train import compose, read_log, run
    from debias.train.config import ModelConfig
    from debias.train.model import build_model

    if args.smoke:
        model, device_cfg, seq, rows, micro = "mini-tiny", "zero1-cpu", 32, 4, 2
        cfg = ModelConfig(name="mini-tiny", num_layers=2, hidden_size=32, num_heads=2, vocab_size=50_304, lr=3e-3)
    else:
        model, device_cfg, seq, rows, micro = "pythia-410m", "zero1-gpu", 2048, 16, 8
        cfg = ModelConfig(name="pythia-410m", num_layers=24, hidden_size=1024, num_heads=16, vocab_size=50_304,
                          lr=3e-4)
    vocab = 50_277  # the 20B tokenizer's
    start, end = RESUME_STEPS, 2 * RESUME_STEPS  # warmup over by step 1: lr about 0.5x peak here
    source = work / "source-hf"
    build_model(cfg, seed=0).save_pretrained(source)
    write_indexed_dataset(work / "data" / "document", markov_rows(end * rows, seq + 1, vocab), dtype=np.uint16)
    common = [f"model={model}", "data=pile", f"data.indexed_path={work / 'data' / 'document'}",
              f"data.seq_length={seq}", f"data.rows_per_step={rows}", f"deepspeed={device_cfg}",
              f"deepspeed.micro_batch_size={micro}", "intervention=control7", "intervention.fraction=null",
              f"intervention.start_step={start}", f"intervention.end_step={end}", f"schedule.total_steps={end}",
              "schedule.checkpoint_interval=10", f"source.path={source}", f"runs_root={work / 'runs'}",
              "save.deepspeed_checkpoints=false", "save.hf_checkpoints=false", "save.start_checkpoint=false",
              "progress=false", "log_every=5"]
    if args.tokenizer:
        common.append(f"data.tokenizer={args.tokenizer}")
    if args.smoke:
        common.append("model.vocab_size=50304")
    else:
        common.append("model.attn_implementation=sdpa")
    losses = {}
    seconds = {}
    for precision in ("bf16", "fp32"):
        began = time.perf_counter()
        result = run(compose([*common, f"deepspeed.precision={precision}", f"name=resume-{precision}"]))
        seconds[precision] = time.perf_counter() - began
        losses[precision] = [r["loss"] for r in read_log(result.run_dir)]
    diffs = [abs(b - f) / abs(f) for b, f in zip(losses["bf16"], losses["fp32"], strict=True)]
    ok = len(diffs) == RESUME_STEPS and diffs[0] <= STEP0_RTOL and max(diffs[1:]) <= STEP_RTOL
    out = {"steps": len(diffs), "first_loss": {k: v[0] for k, v in losses.items()},
           "last_loss": {k: v[-1] for k, v in losses.items()}, "step0_rel_diff": diffs[0],
           "max_rel_diff_after_step0": max(diffs[1:]), "mean_rel_diff": statistics.fmean(diffs),
           "seconds": seconds, "within_tolerance": ok, "tolerance": {"step0": STEP0_RTOL, "later": STEP_RTOL}}
    print(f"\n== {RESUME_STEPS}-step resume from a Hugging Face directory ({model}, {rows} rows x {seq} tokens a "
          "step), bf16 against fp32")
    print(f"  loss at step {start}: bf16 {losses['bf16'][0]:.5f}, fp32 {losses['fp32'][0]:.5f} "
          f"(relative difference {diffs[0]:.2e}, allowed {STEP0_RTOL})")
    print(f"  loss at step {end - 1}: bf16 {losses['bf16'][-1]:.5f}, fp32 {losses['fp32'][-1]:.5f}; largest later "
          f"relative difference {max(diffs[1:]):.2e} (allowed {STEP_RTOL}), mean {statistics.fmean(diffs):.2e}")
    print(f"  {'PASS' if ok else 'FAIL'}: bf16 losses {'match' if ok else 'do not match'} the fp32 resume")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny shapes on CPU: check that the script runs")
    parser.add_argument("--tokenizer", default=None,
                        help="20B_tokenizer.json (default: .whl/20B_tokenizer.json when present, else DEBIAS_DATA_DIR)")
    parser.add_argument("--out", default=None, help="write the resume check's figures here as JSON")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.tokenizer is None and (REPO / ".whl" / "20B_tokenizer.json").is_file():
        args.tokenizer = str(REPO / ".whl" / "20B_tokenizer.json")
    import torch

    if not args.smoke and not torch.cuda.is_available():
        print("gpu_check: no CUDA device is visible; run it on a GPU machine, or pass --smoke on CPU")
        return 2
    where = torch.cuda.get_device_name(0) if torch.cuda.is_available() and not args.smoke else "CPU (smoke)"
    print(f"gpu_check on {where}, torch {torch.__version__}", flush=True)
    skipped = [] if args.skip_throughput else throughput(args)
    for line in skipped:
        print(f"  {line}")
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        figures = resume_check(args, Path(tmp))
    if args.out:
        Path(args.out).write_text(json.dumps({"device": where, **figures}, indent=2) + "\n")
    return 0 if figures["within_tolerance"] else 1


if __name__ == "__main__":
    sys.exit(main())
