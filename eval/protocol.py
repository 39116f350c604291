"""The analysis, fixed before the data: ``conf/protocol/<name>.yaml`` (Hydra group ``protocol``, placed
at ``eval.protocol``) names the primary endpoints, alpha, the families Holm's correction runs in,
the equivalence margins that a "no effect" claim must meet, and the arms whose answer is known.

Evaluation writes the protocol's name and sha256 (``ProtocolConfig.sha256``: of its canonical JSON,
so a changed endpoint, margin or alpha is a changed protocol) into every result it computes
(``eval.runner``). The report reads its analysis under the protocol it is given and states it; an
analysis under a protocol other than the one the evaluations recorded is marked exploratory
(``protocol_status``), so choosing endpoints after seeing the caches shows in the report itself.

Families: within each comparison (one arm against its control), Holm's adjustment runs over the
metrics of each family apart, so each family is one question with its own error rate (the link,
the cost, the secondary bias measures). The primary endpoints are named apart (``primary``) and
each lies in a family. A metric in no family is exploratory: its p-value is shown, never called
supported. Metrics with a margin also get two one-sided tests (TOST) of ``|difference| < margin``,
Holm-adjusted over the margins of each family: "no effect" (or "no cost") is said only when these
support it, never from a missing star.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from debias.core.choices import values

Expectation = Literal["weaker", "unchanged"]  # what an arm with a known answer must show on the link
EXPECTATIONS = values(Expectation)


@dataclass
class Family:
    """Metrics tested together: Holm's adjustment runs over them within each comparison."""

    name: str = ""  # e.g. link, cost, bias
    metrics: list[str] = field(default_factory=list)  # metric names (eval.metrics)


@dataclass
class Margin:
    """An equivalence margin: a difference inside ``(-value, +value)`` counts as no effect, when two
    one-sided tests support it."""

    metric: str = ""  # the metric it applies to
    value: float = 0.0  # the margin, positive
    relative: bool = False  # value is a fraction of the first arm's (the control's) mean

    def absolute(self, reference: float) -> float:
        return self.value * abs(reference) if self.relative else self.value


@dataclass
class Expect:
    """An arm whose answer is known, and the answer."""

    arm: str = ""  # the intervention config's name (unlink21, aa21, ...)
    answer: str = "unchanged"  # an Expectation: weaker or unchanged (on the protocol's link endpoint)


# The defaults are conf/protocol/default.yaml's (a test holds them equal), so that code that builds
# an EvalConfig itself reads what the command line reads. Lists, not mappings, so that a protocol
# file replaces them whole when composed, and never keeps a family, margin or answer it does not name.
DEFAULT_FAMILIES = (
    ("link", ("winobias/auc",)),
    ("cost", ("heldout/ppl_other",)),
    ("bias", ("winobias/association", "winogender/association_occupation", "winogender/association_participant",
              "winobias_coref_type1_test/net_bias", "winobias_coref_type2_test/net_bias",
              "crows_pairs_gender/pct_stereotype")),
    ("prior", ("winobias/prior", "winogender/prior")),
    ("lm", ("heldout/ppl_token", "heldout/ppl_gendered", "heldout_to_feminine/ppl_token", "heldout_both/ppl_token",
            "lambada/acc")),
)
@dataclass
class ProtocolConfig:
    """The primary endpoints, alpha, families, margins and known answers of an analysis; every
    field is part of the protocol's sha256."""

    name: str = "default"  # the protocol's name, shown with its sha256 in every report
    alpha: float = 0.05  # the family-wise error rate of each family in each comparison; intervals are 1 - alpha
    # the primary endpoints: what the report's verdicts and its reading are about
    primary: list[str] = field(default_factory=lambda: ["winobias/auc", "heldout/ppl_other"])
    # Holm's adjustment runs within each family of each comparison; a metric in no family is
    # exploratory (every primary endpoint must be in one)
    families: list[Family] = field(default_factory=lambda: [Family(n, list(m)) for n, m in DEFAULT_FAMILIES])
    # equivalence margins: what "no effect" (or "no cost") on a metric means
    margins: list[Margin] = field(default_factory=lambda: [Margin("winobias/auc", 0.02),
                                                           Margin("heldout/ppl_other", 0.01, relative=True)])
    # the primary endpoint arms with a known answer are judged on (a rank measure of the link)
    link: str = "winobias/auc"
    # arms whose answer is known: weaker (the link must be seen to weaken) or unchanged
    expect: list[Expect] = field(default_factory=lambda: [Expect("reverse21", "weaker"), Expect("aa21", "unchanged"),
                                                          Expect("sham21", "unchanged")])

    def sha256(self) -> str:
        """The protocol's identity: sha256 of its canonical JSON (keys sorted, floats as floats)."""
        return hashlib.sha256(canonical_json(self).encode()).hexdigest()

    def family_of(self, metric: str) -> str | None:
        """The family a metric is tested in, None for an exploratory one."""
        return next((f.name for f in self.families if metric in f.metrics), None)

    def margin_of(self, metric: str) -> Margin | None:
        return next((m for m in self.margins if m.metric == metric), None)

    def answer_for(self, arm: str | None) -> str | None:
        """The known answer of an arm (by its intervention config's name), None when there is none."""
        return next((e.answer for e in self.expect if e.arm == arm), None)

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha

    def problems(self, known: Iterable[str] | None = None) -> list[str]:
        """Every way this protocol cannot be applied (``known``: the metric names there are)."""
        where = f"protocol {self.name!r}"
        out = []
        if not 0.0 < self.alpha < 0.5:
            out.append(f"{where}: alpha={self.alpha} must lie in (0, 0.5)")
        if not self.primary:
            out.append(f"{where}: primary is empty; name the primary endpoints")
        seen: dict[str, str] = {}
        for family in self.families:
            for m in family.metrics:
                if m in seen:
                    out.append(f"{where}: {m!r} is in families {seen[m]!r} and {family.name!r}; a metric is tested in one")
                seen[m] = family.name
        names = [f.name for f in self.families]
        if len(set(names)) != len(names) or "" in names:
            out.append(f"{where}: families need distinct, non-empty names (have {names})")
        out += [f"{where}: the primary endpoint {m!r} is in no family; put it in one of families "
                f"({', '.join(names) or 'none yet'})" for m in self.primary if m not in seen]
        if self.link not in self.primary:
            out.append(f"{where}: link={self.link!r} is not a primary endpoint (primary: {self.primary})")
        for margin in self.margins:
            if not margin.value > 0:
                out.append(f"{where}: the margin of {margin.metric!r} is {margin.value}; it must be positive")
        for e in self.expect:
            if e.answer not in EXPECTATIONS:
                out.append(f"{where}: the answer for {e.arm!r} is {e.answer!r}, not one of {', '.join(EXPECTATIONS)}")
        if known is not None:
            names_known = set(known)
            for m in dict.fromkeys([*self.primary, *seen, *(x.metric for x in self.margins)]):
                if m not in names_known:
                    out.append(f"{where}: {m!r} is not a metric; choose from {', '.join(sorted(names_known))}")
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ProtocolConfig:
        """A protocol as ``to_dict`` wrote it (a report's results.json)."""
        return cls(name=doc["name"], alpha=float(doc["alpha"]), primary=list(doc["primary"]),
                   families=[Family(f["name"], list(f["metrics"])) for f in doc["families"]],
                   margins=[Margin(m["metric"], float(m["value"]), bool(m["relative"])) for m in doc["margins"]],
                   link=doc["link"], expect=[Expect(e["arm"], e["answer"]) for e in doc["expect"]])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def canonical_json(protocol: ProtocolConfig) -> str:
    doc = protocol.to_dict()
    doc["alpha"] = float(doc["alpha"])
    for m in doc["margins"]:
        m["value"] = float(m["value"])
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def stamp(protocol: ProtocolConfig) -> dict[str, str]:
    """What an evaluation records of the protocol in force when it ran."""
    return {"name": protocol.name, "sha256": protocol.sha256()}


@dataclass(frozen=True)
class ProtocolStatus:
    """Whether a report's analysis is the one fixed before its data: ``confirmatory`` when every
    result it reads recorded this protocol, else ``exploratory`` with the protocols recorded."""

    status: str
    recorded: dict[str, int]  # "<name> <sha256[:12]>" (or "none") -> results that recorded it

    @property
    def confirmatory(self) -> bool:
        return self.status == "confirmatory"


def protocol_status(protocol: ProtocolConfig, recorded: Iterable[Mapping[str, str] | None]) -> ProtocolStatus:
    """Compare the protocol of an analysis with those the evaluations recorded."""
    counts: dict[str, int] = {}
    match = True
    for stamp_ in recorded:
        key = "none" if not stamp_ else f"{stamp_.get('name')} {str(stamp_.get('sha256'))[:12]}"
        counts[key] = counts.get(key, 0) + 1
        match &= bool(stamp_) and stamp_.get("sha256") == protocol.sha256()
    return ProtocolStatus("confirmatory" if match and counts else "exploratory", counts)
