"""The options of ``eval.tasks.heldout`` and the lm-eval tasks they ask for (the text as it is,
and the text rewritten in each direction asked for)."""

from __future__ import annotations

from dataclasses import dataclass, field

from debias.config import DIRECTIONS as SWAP_DIRECTIONS  # the swap's Direction values
from debias.eval.tasks.common import Planned, limit_problems


@dataclass
class HeldoutTask:
    """Perplexity on held-out text. ``path``: a .txt or .jsonl ({"text"} per line) file or a folder,
    absolute or relative to the data directory (default ``gutenberg_corpus/heldout``); chunks of
    about ``chunk_chars`` characters are the bootstrap's items."""

    enabled: bool = True  # score held-out perplexity
    path: str | None = None  # a .txt or .jsonl file or a folder; None: gutenberg_corpus/heldout
    chunk_chars: int = 4000  # characters per chunk (the bootstrap's items), at least 200
    limit: int | None = None  # a seeded subsample of this many chunks; None: every chunk
    unwrap: bool = True  # join hard-wrapped lines inside a paragraph
    # also score the text rewritten in each of these directions (to_feminine, to_masculine, both):
    # an arm's own rewrite, so its perplexity there is read against the control's on the same text
    swapped: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        out = limit_problems("eval.tasks.heldout", self.limit)
        out += [f"eval.tasks.heldout.swapped: {d!r} is not one of {', '.join(SWAP_DIRECTIONS)}"
                for d in self.swapped if d not in SWAP_DIRECTIONS]
        if self.chunk_chars < 200:
            out.append(f"eval.tasks.heldout.chunk_chars={self.chunk_chars} is too small; use at least 200")
        return out


def plans(t: HeldoutTask, seed: int) -> list[Planned]:
    if not t.enabled:
        return []
    options = {"path": t.path, "chunk_chars": t.chunk_chars, "limit": t.limit, "unwrap": t.unwrap, "seed": seed}
    out = [Planned("heldout", "heldout_perplexity.yaml", options)]
    for direction in dict.fromkeys(t.swapped):
        out.append(Planned(f"heldout_{direction}", "heldout_perplexity.yaml", {**options, "swap": direction},
                           base="heldout"))
    return out


OPTIONS = HeldoutTask  # what eval.config.TasksConfig.heldout holds
