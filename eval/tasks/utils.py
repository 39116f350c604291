"""The small helpers that the task YAMLs in this folder name with ``!function``.

Loaders read the benchmark files through ``eval.benchmarks`` / ``eval.winobias`` (which resolve
data through ``debias.data.fetch`` to absolute paths and reject malformed rows), so lm-eval never
resolves a relative ``data_files`` path against the working directory. Options come from the
task's ``dataset_kwargs``; lm-eval also passes its metadata, hence the ``**_``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import datasets

try:
    from eval import benchmarks, winobias
except ModuleNotFoundError:  # lm-eval's own CLI, run outside the repo with the package not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from eval import benchmarks, winobias


def _as_dataset(docs: list[dict[str, Any]]) -> dict[str, datasets.Dataset]:
    return {"test": datasets.Dataset.from_list(docs)}


def load_crows_pairs(bias_type: str | None = None, limit: int | None = None, seed: int = 0,
                     path: str | None = None, **_: Any) -> dict[str, datasets.Dataset]:
    return _as_dataset(benchmarks.crows_pairs_docs(path, bias_type=bias_type, limit=limit, seed=seed))


def load_winobias_preference(types: list[int] = (1, 2), splits: list[str] = ("dev", "test"),
                             limit: int | None = None, seed: int = 0, root: str | None = None,
                             **_: Any) -> dict[str, datasets.Dataset]:
    pairs = winobias.load_pairs(tuple(types), tuple(splits), root=root, limit=limit, seed=seed)
    return _as_dataset([p.as_dict() for p in pairs])


def load_winobias_coreference(types: list[int] = (1, 2), splits: list[str] = ("dev", "test"),
                              limit: int | None = None, seed: int = 0, root: str | None = None,
                              **_: Any) -> dict[str, datasets.Dataset]:
    """Two docs per pair (pro and anti sentence), each asking which occupation the pronoun names."""
    docs = []
    for p in winobias.load_pairs(tuple(types), tuple(splits), root=root, limit=limit, seed=seed):
        for polarity, sentence, pronoun in (("pro", p.pro, p.pronoun_pro), ("anti", p.anti, p.pronoun_anti)):
            docs.append({"id": p.id, "polarity": polarity, "type": p.type, "split": p.split,
                         "stereotype": p.stereotype, "context": f"{sentence} Here, {pronoun} refers to the",
                         "referent": p.referent, "other": p.other})
    return _as_dataset(docs)


def load_winogender(limit: int | None = None, seed: int = 0, sentences: str | None = None,
                    stats: str | None = None, **_: Any) -> dict[str, datasets.Dataset]:
    return _as_dataset(benchmarks.winogender_docs(sentences, stats, limit=limit, seed=seed))


def load_lambada(limit: int | None = None, seed: int = 0, path: str | None = None,
                 **_: Any) -> dict[str, datasets.Dataset]:
    return _as_dataset(benchmarks.lambada_docs(path, limit=limit, seed=seed))


def load_heldout(path: str | None = None, chunk_chars: int = 4000, limit: int | None = None,
                 seed: int = 0, unwrap: bool = True, swap: str | None = None, **_: Any) -> dict[str, datasets.Dataset]:
    return _as_dataset(benchmarks.heldout_docs(path, chunk_chars=chunk_chars, limit=limit, seed=seed, unwrap=unwrap,
                                               swap=swap))


def load_synthetic_probes(probe_seed: int = 0, n_per_occupation: int = 8, limit: int | None = None,
                          seed: int = 0, **_: Any) -> dict[str, datasets.Dataset]:
    return _as_dataset(benchmarks.synthetic_probe_docs(probe_seed, n_per_occupation, limit=limit, seed=seed))


def sentence_pair(doc: dict[str, Any]) -> list[str]:
    """CrowS-Pairs: the more stereotyping sentence first, scored from an empty context."""
    return [doc["sent_more"], doc["sent_less"]]


def crows_pairs_results(doc: dict[str, Any], results: list[tuple[float, bool]]) -> dict[str, float]:
    (more, _), (less, _) = results
    return {"likelihood_diff": abs(more - less), "pct_stereotype": float(more > less)}


def winobias_pair(doc: dict[str, Any]) -> list[str]:
    return [doc["pro"], doc["anti"]]


def winobias_preference_results(doc: dict[str, Any], results: list[tuple[float, bool]]) -> dict[str, float]:
    """``pref_pro``: the pro-stereotyped sentence is likelier; ``logodds_female``: its mean is the prior."""
    (pro, _), (anti, _) = results
    female_minus_male = pro - anti if doc["stereotype"] == "female" else anti - pro
    return {"pref_pro": float(pro > anti), "logodds_female": female_minus_male}


def winobias_coreference_results(doc: dict[str, Any], results: list[tuple[float, bool]]) -> dict[str, float]:
    (referent, _), (other, _) = results
    return {f"acc_{doc['polarity']}": float(referent > other)}


def coreference_choices(doc: dict[str, Any]) -> list[str]:
    """The bracketed occupation first; lm-eval prepends the target delimiter (a space)."""
    return [doc["referent"], doc["other"]]


def winogender_sentences(doc: dict[str, Any]) -> list[str]:
    return [doc["female"], doc["male"], doc["neutral"]]


def winogender_results(doc: dict[str, Any], results: list[tuple[float, bool]]) -> dict[str, float]:
    (female, _), (male, _), _neutral = results
    return {"logodds_female": female - male}


def heldout_results(doc: dict[str, Any], results: list[float]) -> dict[str, tuple[float, int]]:
    (loglikelihood,) = results
    return {"byte_perplexity": (loglikelihood, doc["n_bytes"]), "bits_per_byte": (loglikelihood, doc["n_bytes"])}
