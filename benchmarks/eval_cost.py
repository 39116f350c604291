"""What evaluating a released Pythia model costs: the requests and tokens of an eval config, counted
with the 20B tokenizer, and the GPU time they need at a stated utilisation.

A forward pass costs about 2 x parameters FLOPs per token (Kaplan et al. 2020; attention over these
short sequences adds little). Scoring is forward only, in short sequences of mixed length, so the
utilisation is low; 20% of an H100's dense bf16 peak (989 TFLOP/s) is assumed, a figure to replace
with a measured one (``benchmarks/gpu_check.sh``). The preset ``comparison=pythia-intervention``
evaluates six models: three bases and three intervention models.

    python benchmarks/eval_cost.py [--eval default] [--utilisation 0.2]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DEBIAS_DATA_DIR", str(REPO.parent / "shared" / "data"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

import debias.eval.runner  # noqa: E402,F401  (quiets lm-eval's per-task hints)

# Pythia's parameter counts (Biderman et al. 2023, Table 1, non-embedding plus embedding)
PARAMS = {"410m": 405_334_016, "1.4b": 1_414_647_808, "6.9b": 6_857_302_016}
H100_BF16 = 989e12


def count(eval_name: str) -> dict[str, tuple[int, int]]:
    """Requests and tokens (context and continuation, as scored) per lm-eval task."""
    from lm_eval.tasks import TaskManager
    from transformers import PreTrainedTokenizerFast

    from debias.data.fetch import resolve
    from debias.eval.config import EvaluateAppConfig
    from debias.eval.suite import TASKS_DIR, plan_tasks

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        app: EvaluateAppConfig = OmegaConf.to_object(compose("evaluate", overrides=[f"eval={eval_name}", "path=/x"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(resolve("pythia_tokenizer_config/20B_tokenizer.json")))
    loaded = TaskManager(include_path=str(TASKS_DIR), include_defaults=False).load(
        [p.lm_eval_config() for p in plan_tasks(app.eval)])
    out = {}
    for name, task in loaded["tasks"].items():
        task.build_all_requests(rank=0, world_size=1)
        texts = [" ".join(str(a) for a in inst.args if isinstance(a, str)) for inst in task.instances]
        tokens = sum(len(ids) + 1 for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])
        out[name] = (len(texts), tokens)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", default="default", help="the eval config (conf/eval/<name>.yaml)")
    parser.add_argument("--utilisation", type=float, default=0.2, help="share of the H100's bf16 peak achieved")
    args = parser.parse_args()
    counts = count(args.eval)
    for name, (requests, tokens) in sorted(counts.items()):
        print(f"{name:40s} {requests:8,d} requests {tokens:11,d} tokens")
    requests = sum(r for r, _ in counts.values())
    tokens = sum(t for _, t in counts.values())
    print(f"{'all':40s} {requests:8,d} requests {tokens:11,d} tokens")
    total = 0.0
    for size, params in PARAMS.items():
        seconds = 2 * params * tokens / (H100_BF16 * args.utilisation)
        total += 2 * seconds  # the base and the intervention model
        print(f"pythia-{size}: {seconds / 60:6.1f} min per model on one H100 at {args.utilisation:.0%} of peak")
    print(f"comparison=pythia-intervention (6 models): {total / 60:.0f} min, plus downloads")


if __name__ == "__main__":
    main()
