"""``--help`` as a person reads it: a usage line, the required keys, the options that matter with
their defaults and meaning, and an example, for every command; Hydra's listing behind --help-all."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from debias.core.command_help import CommandHelp, field_doc, render
from debias.eval.config import EvaluateAppConfig
from debias.train.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {  # module run by `python -m` -> the module holding its HELP
    "debias.swap": "debias.swap.cli",
    "debias.rewrite": "debias.rewrite.cli",
    "debias.train": "debias.train.__main__",
    "debias.eval": "debias.eval.__main__",
    "debias.eval.report": "debias.eval.report.__main__",
    "debias.study": "debias.study.__main__",
}


def _spec(module: str) -> CommandHelp:
    return importlib.import_module(COMMANDS[module]).HELP


def _help(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("module", COMMANDS)
def test_help_is_a_usage_line_required_keys_options_and_an_example(module: str) -> None:
    spec = _spec(module)
    done = _help(module, "--help")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == f"usage: {spec.command} {spec.usage}"
    assert "powered by Hydra" not in done.stdout and "== Configuration groups ==" not in done.stdout
    assert 14 <= len(lines) <= 45, len(lines)
    if spec.required:
        block = done.stdout.split("required:\n", 1)[1].split("\n\n", 1)[0]
        assert [line.split()[0] for line in block.splitlines()] == [key for key, _ in spec.required]
    options = done.stdout.split("options (key=default):\n", 1)[1].split("\nexample", 1)[0]
    assert 6 <= len(spec.options) <= 10
    for key in spec.options:
        assert f"  {key}=" in options, key
    assert "=?" not in options  # every option is a key of the composed config
    for example in spec.examples:
        assert f"  {example}" in done.stdout and example.startswith(spec.command + " ")


def test_every_option_of_every_command_says_what_it_is() -> None:
    for module in COMMANDS:
        spec = _spec(module)
        text = render(spec)
        for key in spec.options:
            line = next(line for line in text.splitlines() if line.startswith(f"  {key}="))
            shown = line.split(None, 1)
            follow = text.split(line, 1)[1].splitlines()[1] if len(shown) == 1 else ""
            assert len(shown) == 2 or follow.strip(), (spec.command, key)


def test_defaults_are_the_composed_configs_with_the_command_lines_overrides() -> None:
    train = _spec("debias.train")
    text = render(train)
    assert "  seed=0 " in text and "  resume=never " in text and "  intervention=none " in text
    assert "  model=mini-0.5m " in text and "  logging=none " in text
    assert "a file of conf/logging/: csv, none, tensorboard, wandb" in text
    # An experiment on the command line shows its own values.
    study = render(_spec("debias.study"), ["+experiment=mini-suite"])
    assert "  study.seeds=[0,1,2,3,4,5,6,7]" in study and "  data=synthetic80 " in study
    # An override that does not compose falls back to the plain defaults rather than failing.
    assert "  seed=0 " in render(train, ["nosuchkey=1"])


def test_a_fields_meaning_is_the_comment_beside_it_or_above_it() -> None:
    assert field_doc(EvaluateAppConfig, "eval.batch_size") == "sequences per forward pass, at least 1"
    assert field_doc(TrainConfig, "deepspeed.gradient_accumulation_steps").startswith(
        "passes per step; None: rows_per_step / (micro_batch_size x world size)")
    assert field_doc(TrainConfig, "logging.backend").startswith("a CurveBackend: none, tensorboard")
    assert field_doc(TrainConfig, "no.such.key") == ""


def test_help_all_is_hydras_full_listing() -> None:
    done = _help("debias.swap", "--help-all")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "== Configuration groups ==" in done.stdout and "== Config ==" in done.stdout
    assert "usage: debias-swap" not in done.stdout
