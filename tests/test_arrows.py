"""Which package may import which: ``train`` and ``eval`` each use ``debias``, neither imports the
other (at load time or later), and the study (``debias.study``), which uses both, is the one place
above them; no other module of ``debias`` imports it. Checked twice: in a fresh process, by the
modules that planning a run or loading eval leaves in ``sys.modules``, and statically, by every
import statement of every module."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _loaded_after(code: str) -> set[str]:
    """The top-level packages of every module loaded once ``code`` has run in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_planning_a_resumed_arm_loads_no_eval() -> None:
    loaded = _loaded_after(
        "import debias.train as train\n"
        "from debias.core.config_errors import ConfigError\n"
        "from debias.train.plan import make_plan, to_train_config\n"
        "cfg = train.compose(['intervention=tail21', 'runs_root=/nonexistent/runs'])\n"
        "assert to_train_config(cfg).intervention.arm == 'intervention'\n"
        "try:\n"
        "    make_plan(cfg)\n"
        "except ConfigError as exc:  # no baseline to resume from here: planned, and refused\n"
        "    assert 'no baseline run at' in str(exc), exc\n"
        "else:\n"
        "    raise AssertionError('planned a resumed arm without its baseline')\n")
    assert "debias.train.plan" in loaded and "debias.train.config" in loaded
    assert not {m for m in loaded if m.startswith(("debias.eval", "lm_eval"))}, sorted(loaded)
    assert not {m for m in loaded if m.startswith("debias.study")}


def test_loading_eval_loads_no_train() -> None:
    loaded = _loaded_after("import debias.eval\nimport debias.eval.runner, debias.eval.report\nimport debias.eval.config, debias.eval.__main__")
    assert "debias.eval.runner" in loaded and "debias.eval.report" in loaded
    assert not {m for m in loaded if m.startswith(("debias.train", "debias.study"))}, sorted(loaded)


def _imports(path: Path, root: Path = REPO) -> list[str]:
    """Every module an ``import``/``from ... import`` statement of ``path`` names, anywhere in it
    (inside functions too: a late import is still an arrow). Relative imports are resolved."""
    package = path.relative_to(root).with_suffix("").parts[:-1]
    if package[:1] in (("train",), ("eval",)):  # installed as debias.train and debias.eval
        package = ("debias", *package)
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            out.append(".".join([*base, *([node.module] if node.module else [])]))
    return out


def _arrows(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    files = sorted((REPO / folder).rglob("*.py"))
    assert files, folder
    return [f"{p.relative_to(REPO)} imports {name}" for p in files for name in _imports(p)
            if any(name == f or name.startswith(f + ".") for f in forbidden)]


@pytest.mark.parametrize(("folder", "forbidden"), [
    ("train", ("debias.eval", "eval", "debias.study", "lm_eval")),
    ("eval", ("debias.train", "train", "debias.study")),
])
def test_no_module_imports_the_other_side(folder: str, forbidden: tuple[str, ...]) -> None:
    assert _arrows(folder, forbidden) == []


def test_only_the_study_imports_train_and_eval_from_debias() -> None:
    core = [p for p in sorted((REPO / "debias").rglob("*.py"))
            if not {"study", "train", "eval", "conf"} & set(p.relative_to(REPO / "debias").parts)]
    found = [f"{p.relative_to(REPO)} imports {name}" for p in core for name in _imports(p)
             if name.startswith(("debias.train", "debias.eval", "debias.study", "train", "eval"))]
    assert found == []
    study = {".".join(name.split(".")[:2]) for p in (REPO / "debias" / "study").glob("*.py") for name in _imports(p)}
    assert {"debias.train", "debias.eval"} <= study


def test_the_static_check_sees_late_and_relative_imports(tmp_path: Path) -> None:
    probe = tmp_path / "train" / "sub" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("import os\n\ndef f():\n    from debias.eval.runner import evaluate_run\n    import debias.eval\n"
                     "    from . import config\n    from ..plan import make_plan\n")
    assert _imports(probe, tmp_path) == ["os", "debias.eval.runner", "debias.eval", "debias.train.sub", "debias.train.plan"]


def test_train_refuses_a_study_and_names_the_study_command(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "debias.train", "+experiment=mini-suite", f"runs_root={tmp_path}"],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "python -m debias.study +experiment=mini-suite" in done.stderr and "debias-study" in done.stderr
    assert "study.*" in done.stderr and "eval.*" in done.stderr
    assert not any(tmp_path.iterdir())  # refused before anything was written


# The rooms inside debias/ and the rooms each may import: the core imports nothing else of the
# project, the launcher's jobs, the swapper and the synthetic corpus stand on the core alone, data orders may be built
# from the synthetic corpus, and the rewrite stands on all of them. Only the study sits above.
ROOMS = {
    "core": set(),
    "launch": {"core"},
    "config": {"core"},
    "swap": {"core", "config"},
    "synthetic": {"core", "config"},
    "data": {"core", "config", "synthetic"},
    "rewrite": {"core", "config", "data", "swap", "synthetic"},
}


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "debias" and len(parts) > 1 else None


def test_each_room_of_debias_imports_only_the_rooms_below_it() -> None:
    found = []
    for room, allowed in ROOMS.items():
        files = [REPO / "debias" / "config.py"] if room == "config" else sorted((REPO / "debias" / room).rglob("*.py"))
        assert files, room
        for p in files:
            for name in _imports(p):
                other = _room(name)
                if name == "debias" or (other is not None and other not in allowed | {room}):
                    found.append(f"{p.relative_to(REPO)} ({room}) imports {name}")
    assert found == []


def test_debias_holds_only_its_rooms_and_the_readme_names_each() -> None:
    top = {p.name for p in (REPO / "debias").iterdir() if not p.name.startswith((".", "__pycache__"))}
    rooms = {name for name in ROOMS if name != "config"} | {"study"}
    assert top == {"__init__.py", "config.py", "conf", "train", "eval"} | rooms
    for linked in ("conf", "train", "eval"):  # installed inside debias; kept at the top of the repository
        assert (REPO / "debias" / linked).is_symlink() and (REPO / "debias" / linked).resolve() == REPO / linked
    layout = (REPO / "docs" / "layout.md").read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    for room in rooms:
        assert f"`debias/{room}/`" in layout, room
