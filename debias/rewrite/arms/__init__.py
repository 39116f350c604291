"""The arms of the study besides the morphological rewrite, and one entry point for all of them.

``rewrite_arm(intervention, ...)`` rewrites an intervention arm's tail by its ``method``:
``morphological`` through ``debias.rewrite.tail.rewrite_tail`` (on every row, or on a seeded share of
them: ``debias.rewrite.selection``), ``placebo`` and ``unlink`` (genders redrawn in the synthetic
corpus: ``debias.rewrite.arms.redraw``), ``sham`` (``debias.rewrite.arms.sham``), ``published``
(``debias.rewrite.arms.published``) and ``reorder`` (the A/A arm: ``debias.rewrite.arms.reorder``);
``verify_arm`` proves the result the same way; ``tail_name`` is the folder a tail gets by default,
which differs for every method and parameter so arms never share a tail.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from debias.config import METHODS, DataConfig, InterventionConfig
from debias.core.contracts import MANIFEST, read_manifest
from debias.rewrite.arms.tailfile import TailSpan

__all__ = ["TailSpan", "tail_name", "data_problems", "rewrite_arm", "verify_arm"]


def data_problems(iv: InterventionConfig, data: DataConfig) -> list[str]:
    """Ways the intervention's method cannot work on this corpus (empty when it can): the placebo
    and the unlinked arm redraw genders from the synthetic corpus's generator, the placebo below
    saturation only."""
    if iv.arm != "intervention" or iv.method not in ("placebo", "unlink"):
        return []
    if data.source != "synthetic":
        return [f"intervention={iv.name} (method={iv.method}) redraws each character's gender from the synthetic "
                f"corpus's generator, but data.source={data.source}; use data=synthetic80 for it, or another "
                "method on this corpus (cds21, the dose arms, sham21 and aa21 work on any data order)"]
    rate = data.synthetic.stereotype_rate
    if iv.method == "placebo" and not 0 < rate < 1:
        return [f"intervention={iv.name} (method=placebo) moves each occupation's log-odds of 'she', which "
                f"data.synthetic.stereotype_rate={rate} makes infinite; use data=synthetic80 (rate 0.8) or set "
                "data.synthetic.stereotype_rate strictly between 0 and 1"]
    return []


def tail_name(iv: InterventionConfig, start_step: int, end_step: int) -> str:
    """``<direction>-<start>-<end>`` for the whole morphological rewrite (the name it always had), and
    ``<method>-<parameters>-<direction>-<start>-<end>`` for the others, e.g.
    ``placebo-1.0-to_feminine-1130-1430``, ``morphological-0.5-0-both-1130-1430`` (a seeded half of
    the rows) or ``sham-a-the-to_feminine-1130-1430``."""
    base = f"{iv.direction}-{start_step}-{end_step}"
    parameters = iv.method_parameters()
    if iv.method == "morphological" and not parameters:
        return base
    return "-".join([iv.method, *(str(v) for v in parameters.values()), base])


def rewrite_arm(
    iv: InterventionConfig,
    span: TailSpan,
    *,
    data: DataConfig | None = None,
    shuffle_seed: int | None = None,
    progress: bool = True,
    **morphological: Any,
) -> dict[str, Any]:
    """Rewrite the tail ``span`` by ``iv.method``; returns the manifest. ``data`` and
    ``shuffle_seed`` (``data.shuffle_seed + seed``) are needed by the redraws (placebo, unlink) only;
    ``morphological`` holds ``rewrite_tail``'s engine keywords (``workers``, ``tasks``,
    ``executor``, ``spacy_model``, ``context_words``, ``groups``, ``shard_rows``), used by the
    morphological rewrite alone."""
    if iv.method == "morphological":
        from debias.rewrite.selection import RowSelection
        from debias.rewrite.tail import rewrite_tail

        if "groups" in morphological:
            morphological = {**morphological, "groups": tuple(morphological["groups"])}
        return rewrite_tail(**span.tail_keywords(), direction=iv.direction, progress=progress,
                            selection=RowSelection(iv.row_fraction, iv.row_seed), **morphological)
    if iv.method in ("placebo", "unlink") and (data is None or shuffle_seed is None):
        raise ValueError(f"method={iv.method} needs the data config and shuffle seed the data order was built with")
    if iv.method == "placebo":
        from debias.rewrite.arms.placebo import rewrite_placebo

        return rewrite_placebo(span, data=data, shuffle_seed=shuffle_seed, shift=iv.placebo_shift, progress=progress)
    if iv.method == "unlink":
        from debias.rewrite.arms.unlink import rewrite_unlink

        return rewrite_unlink(span, data=data, shuffle_seed=shuffle_seed, progress=progress)
    if iv.method == "reorder":
        from debias.rewrite.arms.reorder import rewrite_reorder

        return rewrite_reorder(span, seed=iv.row_seed, progress=progress)
    if iv.method == "sham":
        from debias.rewrite.arms.sham import rewrite_sham

        return rewrite_sham(span, source_word=iv.sham_source, target_word=iv.sham_target, direction=iv.direction,
                            progress=progress)
    if iv.method == "published":
        from debias.rewrite.arms.published import rewrite_published

        return rewrite_published(span, progress=progress)
    raise ValueError(f"intervention.method={iv.method!r} is not one of {', '.join(METHODS)}")


def verify_arm(source: str | os.PathLike, output: str | os.PathLike, *, workers: int = 1, executor: Any = None,
               progress: bool = True) -> dict[str, Any]:
    """Prove a finished tail by the method its manifest names (raises on a bad row); ``workers``
    and ``executor`` spread the morphological proof (``verify_tail``)."""
    record = read_manifest(output)  # RecordError naming a malformed one
    method = record.method if record is not None else "morphological"
    if method == "morphological":
        from debias.rewrite.verify import verify_tail

        return verify_tail(source, output, workers=workers, executor=executor, progress=progress)
    if method in ("placebo", "unlink"):
        from debias.rewrite.arms.redraw import verify_redraw as verify
    elif method == "reorder":
        from debias.rewrite.arms.reorder import verify_reorder as verify
    elif method == "sham":
        from debias.rewrite.arms.sham import verify_sham as verify
    elif method == "published":
        from debias.rewrite.arms.published import verify_published as verify
    else:
        raise ValueError(f"{Path(output) / MANIFEST}: unknown method {method!r}")
    return verify(source, output, progress=progress)
