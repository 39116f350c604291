"""Models by hub name and revision, or by folder, from the command line: offline, against a hub cache
the tests build in the hub's own layout, with tiny GPT-NeoX models made here.

What a user relies on: the revision is pinned to its commit in the results; results go to the
results folder and never into a model folder or the hub cache; sharded ``.bin`` weights and a
separate tokenizer give the very scores of the same weights as safetensors; a folder's own code and
a pickle's code never run; the preset comparison of Pythia's released models runs and reports.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from debias.eval.cache import EvalCache
from debias.eval.testing import (
    as_bin_shards,
    make_checkpoint,
    make_hub_cache,
    train_small_tokenizer,
)

REPO = Path(__file__).resolve().parents[1]
TINY = {"hidden": 16, "layers": 1, "heads": 2}
# The bias tasks on a few items each: the point is where things come from and go, not the benchmark.
SMALL = ["eval=bias", "eval.device=cpu", "eval.threads=1", "eval.tasks.crows_pairs.limit=12",
         "eval.tasks.winobias.limit=8", "eval.tasks.winobias.coreference=false", "eval.tasks.winogender.limit=8",
         "eval.tasks.synthetic.limit=8"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_small_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer.json", 400)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, tokenizer: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {name: make_checkpoint(root / name, tokenizer, seed=seed, **TINY)
            for name, seed in (("early", 1), ("late", 2), ("other", 3))}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, models: dict[str, Path]) -> dict[str, object]:
    cache = tmp_path_factory.mktemp("hub")
    commits = make_hub_cache(cache, "EleutherAI/pythia-tiny-deduped",
                             {"step71000": models["early"], "step143000": models["late"], "main": models["late"]})
    return {"cache": cache, "commits": commits}


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.lstat().st_mtime_ns for p in root.rglob("*")}


def _run(args: list[str], cwd: Path, hub_cache: Path | None = None, module: str = "debias.eval") -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DEBIAS_DATA_DIR": os.environ.get("DEBIAS_DATA_DIR", ""),
           "PYTHONPATH": str(REPO)}
    if hub_cache is not None:
        env["HF_HUB_CACHE"] = str(hub_cache)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def _cache(path: Path) -> EvalCache:
    return EvalCache.read(path)


def test_a_hub_model_by_name_and_revision_is_pinned_to_its_commit(hub: dict, tmp_path: Path) -> None:
    before = _files(hub["cache"])
    done = _run(["model=EleutherAI/pythia-tiny-deduped", "revisions=[step71000,step143000]", *SMALL], tmp_path,
                hub["cache"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "EleutherAI/pythia-tiny-deduped@step71000" in done.stdout
    assert "EleutherAI/pythia-tiny-deduped@step143000" in done.stdout
    for revision, step in (("step71000", 71000), ("step143000", 143000)):
        commit = hub["commits"][revision]
        record = _cache(tmp_path / "results" / "EleutherAI--pythia-tiny-deduped" / commit / "eval.json")
        assert record.checkpoint["source"]["commit"] == commit and record.checkpoint["source"]["revision"] == revision
        assert record.checkpoint["step"] == step and record.checkpoint["total_steps"] == 143000  # Pythia's length
        assert {e.task for e in record.tasks.values()} >= {"crows_pairs", "winobias_preference", "winogender"}
    assert _files(hub["cache"]) == before  # nothing written into the hub cache
    # the two revisions are different weights, and they scored differently
    early, late = (_cache(tmp_path / "results" / "EleutherAI--pythia-tiny-deduped" / hub["commits"][r] / "eval.json")
                   for r in ("step71000", "step143000"))
    assert early.sha256 != late.sha256

    written = _files(tmp_path / "results")
    again = _run(["model=EleutherAI/pythia-tiny-deduped", "revision=step143000", *SMALL], tmp_path, hub["cache"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert _files(tmp_path / "results") == written  # read from the results, nothing evaluated again


def test_a_model_the_cache_lacks_fails_with_what_to_do(hub: dict, tmp_path: Path) -> None:
    done = _run(["model=EleutherAI/pythia-tiny-deduped", "revision=step5", *SMALL], tmp_path, hub["cache"])
    assert done.returncode == 2
    assert "EleutherAI/pythia-tiny-deduped@step5: not in the hub cache" in done.stderr and "HF_HUB_CACHE" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 3
    as_path = _run(["path=EleutherAI/pythia-tiny-deduped", *SMALL], tmp_path, hub["cache"])
    assert as_path.returncode == 2 and "a model on the hub is model=EleutherAI/pythia-tiny-deduped" in as_path.stderr


def test_sharded_bin_weights_and_another_tokenizer_score_as_the_safetensors_do(models: dict[str, Path],
                                                                               tokenizer: Path, tmp_path: Path) -> None:
    shards = as_bin_shards(models["late"], tmp_path / "bins", shards=2)
    assert sorted(p.name for p in shards.glob("*.bin")) == ["pytorch_model-00001-of-00002.bin",
                                                             "pytorch_model-00002-of-00002.bin"]
    refused = _run([f"model={shards}", *SMALL], tmp_path)
    assert refused.returncode == 2 and "no tokenizer files" in refused.stderr and "tokenizer=" in refused.stderr
    done = _run([f"model={shards}", f"tokenizer={models['late']}", *SMALL], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    reference = _run([f"model={models['late']}", *SMALL], tmp_path)
    assert reference.returncode == 0, reference.stderr[-3000:]
    got = {p.parent.name.rsplit("-", 1)[0]: _cache(p) for p in (tmp_path / "results").glob("*/eval.json")}
    bins, safe = got["bins"], got["late"]
    assert bins.tasks.keys() == safe.tasks.keys()
    for key, entry in safe.tasks.items():
        for column, values in entry.items.items():
            other = bins.tasks[key].items[column]
            if column == "id" or not isinstance(values[0], float):
                assert other == values
            else:
                assert max(abs(x - y) for x, y in zip(other, values, strict=True)) < 1e-4, (key, column)

    # another tokenizer is another result: never read from what the model's own tokenizer scored
    import shutil

    other_tok = shutil.copytree(models["late"], tmp_path / "other-tok",
                                ignore=shutil.ignore_patterns("*.safetensors", "config.json", "generation_config.json"))
    special = json.loads((other_tok / "special_tokens_map.json").read_text())
    (other_tok / "special_tokens_map.json").write_text(json.dumps({**special, "pad_token": special["eos_token"]}))
    again = _run([f"model={models['late']}", f"tokenizer={other_tok}", *SMALL], tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    late_file = next(p for p in (tmp_path / "results").glob("late-*/eval.json"))
    assert len(_cache(late_file).tasks) == 2 * len(safe.tasks)


def test_a_read_only_model_folder_is_evaluated_without_a_write_into_it(models: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    folder = shutil.copytree(models["other"], tmp_path / "store" / "other")
    before = _files(folder)
    for p in [*folder.iterdir(), folder]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        done = _run([f"model={folder}", *SMALL], tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        assert _files(folder) == before
        assert len(list((tmp_path / "results").glob("other-*/eval.json"))) == 1
        for key in ("eval.results_dir", "eval.cache_dir"):
            inside = _run([f"model={folder}", f"{key}={folder}/results", *SMALL], tmp_path)
            assert inside.returncode == 2 and "never go into a model's folder or the hub cache" in inside.stderr
    finally:
        for p in [folder, *folder.iterdir()]:
            p.chmod(0o755 if p.is_dir() else 0o644)


class _Marker:
    """Unpickling this creates a file: the proof that a pickle's code ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.path}",))


def test_a_folders_own_code_and_a_pickles_code_never_run(models: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    marker = tmp_path / "code-ran"
    custom = shutil.copytree(models["other"], tmp_path / "custom")
    config = json.loads((custom / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "evil.EvilModel", "AutoConfig": "evil.EvilConfig"}
    (custom / "config.json").write_text(json.dumps(config))
    (custom / "evil.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n")
    done = _run([f"model={custom}", *SMALL], tmp_path)
    assert done.returncode == 2 and "trust_remote_code" in done.stderr and "auto_map" in done.stderr
    del config["auto_map"]
    (custom / "config.json").write_text(json.dumps({**config, "attn_implementation": "kernels-community/evil"}))
    done = _run([f"model={custom}", *SMALL], tmp_path)
    assert done.returncode == 2 and "names code on the hub" in done.stderr

    pickled = as_bin_shards(models["other"], tmp_path / "pickled", shards=1, tokenizer=True)
    (pickled / "pytorch_model-00001-of-00001.bin").write_bytes(pickle.dumps({"x": _Marker(str(marker))}))
    done = _run([f"model={pickled}", *SMALL], tmp_path)
    assert done.returncode == 2 and "weights_only=True" in done.stderr, done.stderr[-2000:]
    assert not marker.exists()


@pytest.mark.slow
def test_the_pythia_intervention_preset_compares_the_released_models(tmp_path: Path, tokenizer: Path) -> None:
    """conf/comparison/pythia-intervention.yaml against a hub cache holding its six repositories."""
    cache = tmp_path / "hub"
    made = tmp_path / "made"
    for k, size in enumerate(("410m", "1.4b", "6.9b")):
        base = make_checkpoint(made / f"base-{size}", tokenizer, seed=10 + k, **TINY)
        treated = make_checkpoint(made / f"int-{size}", tokenizer, seed=20 + k, **TINY)
        make_hub_cache(cache, f"EleutherAI/pythia-{size}-deduped", {"step143000": base})
        make_hub_cache(cache, f"EleutherAI/pythia-intervention-{size}-deduped", {"main": treated})
    done = _run(["comparison=pythia-intervention", "out=report", *SMALL], tmp_path, cache, module="debias.eval.report")
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads((tmp_path / "report" / "results.json").read_text())
    assert [c["title"] for c in data["comparisons"]] == [f"pythia-{s}-deduped, intervention vs base"
                                                          for s in ("410m", "1.4b", "6.9b")]
    first = data["comparisons"][0]
    assert (first["a"], first["b"]) == ("EleutherAI/pythia-410m-deduped@step143000",
                                        "EleutherAI/pythia-intervention-410m-deduped@" +
                                        data["models"][1]["checkpoints"][0]["source"]["commit"][:10])
    link = next(r for r in first["rows"] if r["metric"] == "winobias/auc")
    assert link["family"] == "link" and link["method"] == "items" and link["verdict"]
    assert data["protocol"]["name"] == "default" and data["protocol"]["status"] == "confirmatory"
    page = (tmp_path / "report" / "report.html").read_text()
    assert "no seeds: every interval is over benchmark items" in page
    assert "pythia-6.9b-deduped, intervention vs base" in done.stdout


def test_a_model_folder_given_as_a_run_points_to_compare(models: dict[str, Path], tmp_path: Path) -> None:
    done = _run([f"runs=[{models['early']}]", *SMALL], tmp_path, module="debias.eval.report")
    assert done.returncode == 2 and "compare=[<model a>,<model b>]" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 3
