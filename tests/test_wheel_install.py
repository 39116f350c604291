"""The wheel installs and runs: built from a clean copy of the checkout, installed with no editable
link into a fresh folder, every command runs from an unrelated directory and finds its configs
inside the installed package (debias/conf), never in the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from omegaconf import OmegaConf

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("debias", "debias.train", "debias.eval")
USER_FILES = ("train.py", "eval.py")
COMMANDS = ("debias-swap", "debias-rewrite", "debias-train", "debias-eval", "debias-report", "debias-study")

# Runs one installed console script and records, at exit, the file of every project module the
# process imported: the .venv may hold an editable install of a checkout, whose finder would
# quietly supply any module the wheel lacks.
DRIVER = """
import atexit, json, runpy, sys
record, script = sys.argv[1], sys.argv[2]
def write():
    mods = {n: getattr(m, "__file__", None) for n, m in list(sys.modules.items())
            if n.split(".")[0] in ("debias", "train", "eval")}
    with open(record, "w") as f:
        json.dump(mods, f)
atexit.register(write)
sys.argv = [script, *sys.argv[3:]]
runpy.run_path(script, run_name="__main__")
"""


def _copy_checkout(dest: Path) -> None:
    """The files git tracks plus untracked ones it does not ignore, symlinks kept as links: no
    build/ or egg-info of earlier builds can leak into the wheel."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO,
                                check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: cannot tell the source files from build leftovers")
    for name in filter(None, listed.decode().split("\0")):
        src = REPO / name
        if not os.path.lexists(src):  # deleted in the working tree, not yet committed
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / name, follow_symlinks=False)


def _pip(args: list[str], cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"pip {args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("wheel")
    src, wheels, site, work = (root / n for n in ("src", "wheels", "site", "work"))
    _copy_checkout(src)
    _pip(["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheels), "."], cwd=src)
    (wheel,) = wheels.glob("*.whl")
    _pip(["install", "--no-deps", "--no-index", "--target", str(site), str(wheel)], cwd=root)
    work.mkdir()
    # A user's own train.py and eval.py, as most ML repositories have: every command below runs
    # beside them, and importing either of them fails the command.
    for name in USER_FILES:
        (work / name).write_text(f"raise SystemExit('the user\\'s own {name} was imported')\n")
    return {"root": root, "wheel": wheel, "site": site, "work": work}


def _env(site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HYDRA"))}
    env["PYTHONPATH"] = str(site)
    return env


def _run(installed: dict[str, Path], command: str, *args: str) -> tuple[str, dict[str, str]]:
    """stdout of one installed command run from the unrelated work folder, and its modules' files."""
    site, record = installed["site"], installed["root"] / f"{command}.modules.json"
    argv = [sys.executable, "-c", DRIVER, str(record), str(site / "bin" / command), *args]
    done = subprocess.run(argv, cwd=installed["work"], env=_env(site), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"{command} {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}"
    modules = json.loads(record.read_text())
    outside = {n: f for n, f in modules.items() if f and not Path(f).resolve().is_relative_to(site.resolve())}
    assert not outside, f"{command} imported project modules from outside the installed copy: {outside}"
    return done.stdout, modules


def test_wheel_carries_every_config_and_command(installed):
    with zipfile.ZipFile(installed["wheel"]) as whl:
        names = set(whl.namelist())
        entry_points = next(whl.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    shipped = {n.removeprefix("debias/") for n in names if n.startswith("debias/conf/")}
    in_repo = {p.relative_to(REPO).as_posix() for p in (REPO / "conf").rglob("*") if p.is_file()}
    assert len(in_repo) > 40 and shipped == in_repo
    assert not any(n.startswith(("conf/", "train/", "eval/")) for n in names)  # only inside the package
    assert {"debias/train/__main__.py", "debias/eval/__main__.py", "debias/eval/report/__main__.py"} <= names
    for command in COMMANDS:
        assert f"{command} = " in entry_points
        assert (installed["site"] / "bin" / command).is_file()


def test_installed_copy_is_imported_and_finds_its_configs(installed):
    site = installed["site"]
    code = ("import json, debias, debias.train, debias.eval, debias.core.conf_dir, debias.train.config; "
            "print(json.dumps({'files': [debias.__file__, debias.train.__file__, debias.eval.__file__], "
            "'conf': str(debias.core.conf_dir.CONF_DIR), 'train_conf': str(debias.train.config.CONF_DIR)}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=installed["work"], env=_env(site),
                          capture_output=True, text=True, check=True)
    found = json.loads(done.stdout)
    for name, file in zip(PACKAGES, found["files"], strict=True):
        assert Path(file).resolve() == (site / name.replace(".", "/") / "__init__.py").resolve(), (name, file)
    assert Path(found["conf"]) == (site / "debias" / "conf").resolve() == Path(found["train_conf"])
    assert (Path(found["conf"]) / "train.yaml").is_file()
    assert not Path(found["conf"]).is_relative_to(REPO)


def test_installed_swap_command_swaps_a_file(installed):
    work = installed["work"]
    (work / "story.txt").write_text("He said his book was hers.\nShe gave him the key.\n", encoding="utf-8")
    _, modules = _run(installed, "debias-swap", "input=story.txt", "output=story.fem.txt",
                      "counts_file=counts.json")
    assert "debias.core.conf_dir" in modules and "debias.swap.cli" in modules
    assert (work / "story.fem.txt").read_text(encoding="utf-8") == (
        "She said her book was hers.\nShe gave her the key.\n")
    counts = json.loads((work / "counts.json").read_text())["counts"]
    assert {form: (counts[form]["seen"], counts[form]["swapped"]) for form in ("he", "him", "his")} == {
        "he": (1, 1), "him": (1, 1), "his": (1, 1)}


def test_installed_commands_compose_their_configs(installed):
    train, _ = _run(installed, "debias-train", "--cfg", "job", "--resolve", "model=mini-3m",
                    "intervention=tail21", "seed=2")
    cfg = OmegaConf.create(train)
    assert (cfg.model.name, cfg.model.num_layers, cfg.model.hidden_size) == ("mini-3m", 6, 160)
    assert (cfg.intervention.name, cfg.intervention.fraction) == ("tail21", 0.79)
    assert cfg.schedule.total_steps == 1430 and cfg.name == "mini-3m-synthetic-s2-tail21"

    evaluate, _ = _run(installed, "debias-eval", "--cfg", "job", "--resolve", "path=runs/x", "eval=quick")
    cfg = OmegaConf.create(evaluate)
    assert cfg.path == "runs/x" and cfg.eval.tasks.lambada.limit == 200
    assert list(cfg.eval.tasks.crows_pairs.subsets) == ["gender"] and cfg.eval.checkpoints.count == 10

    report, _ = _run(installed, "debias-report", "--cfg", "job", "--resolve", "runs=[runs/a,runs/b]")
    cfg = OmegaConf.create(report)
    assert list(cfg.runs) == ["runs/a", "runs/b"] and cfg.out == "report" and cfg.evaluate_missing is True
    assert list(cfg.eval.tasks.crows_pairs.subsets) == ["all", "gender"]

    study, _ = _run(installed, "debias-study", "--cfg", "job", "--resolve", "+experiment=mini-suite")
    cfg = OmegaConf.create(study)
    assert list(cfg.study.seeds) == list(range(8)) and cfg.eval.checkpoints.which == "last"
    assert list(cfg.study.arms) == ["control21", "tail21", "unlink21", "reverse21", "aa21", "sham21"]
    assert cfg.data.name == "synthetic80" and cfg.model.name == "mini-0.5m"

    rewrite, _ = _run(installed, "debias-rewrite", "--cfg", "job", "--resolve", "intervention=tail21")
    cfg = OmegaConf.create(rewrite)
    assert (cfg.data.name, cfg.data.seq_length, cfg.schedule.total_steps) == ("pile", 2048, 143000)
    assert cfg.intervention.name == "tail21" and cfg.swap.direction == cfg.intervention.direction == "to_feminine"


def test_installed_modules_run_with_python_m(installed):
    """`python -m debias.train` (and the others) keep working from the installed copy."""
    done = subprocess.run([sys.executable, "-m", "debias.eval.report", "--cfg", "job", "--resolve", "out=elsewhere"],
                          cwd=installed["work"], env=_env(installed["site"]), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert OmegaConf.create(done.stdout).out == "elsewhere"
    assert not (installed["work"] / "report").exists()  # composing writes nothing


def test_a_users_own_train_and_eval_files_do_not_shadow_the_package(installed):
    work, env = installed["work"], _env(installed["site"])
    assert {p.name for p in work.iterdir()} >= set(USER_FILES)
    for module in ("debias.train", "debias.eval"):
        done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=work, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.startswith(f"usage: debias-{module.rsplit('.', 1)[1]} ")
    code = "import debias.eval.report, debias.train.plan, eval; print(eval.__file__)"
    done = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "the user's own eval.py was imported" in done.stderr  # theirs is theirs
    done = subprocess.run([sys.executable, "-c", "import debias.eval.report, debias.train.plan"], cwd=work, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
