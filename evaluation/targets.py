"""The issues' targets for one evaluation, by its setting, each with its paired interval.

A target belongs to a setting: the training corpus with each case's document held out
(the headline), the same with only the overlapping chunks held out, or a corpus the
adapter never saw. A ratio against another system is met when it reaches the wanted
value and, where the issue asks for it, the paired 95% interval of the difference
(case by case, so the spread between cases drops out) lies above 0.

Targets are derived from the stored cases, so an older report can be scored again
under these definitions (scripts/eval_report.py) without running the models.
"""

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from evaluation.metrics import bootstrap_interval
from training.corpora import TRAINING_CORPORA


class Setting(StrEnum):
    DOCUMENT = "document hold-out"
    CHUNK = "chunk hold-out"
    NEVER_TRAINED = "corpus never trained on"


@dataclass(frozen=True)
class Target:
    issue: int
    system: str
    other: str | None  # None: an absolute value of ``system``
    metric: str
    wanted: float
    statistic: str = "mean"
    direction: str = "ge"  # or "le"; "not below": the paired interval of system - other reaches 0 or above
    paired: bool = False  # the paired interval of system - other must lie above 0 too

    @property
    def name(self) -> str:
        statistic = "" if self.statistic == "mean" else f" ({self.statistic})"
        measured = f"{self.system} {METRIC_NAMES[self.metric]}{statistic}"
        return f"{measured} / {self.other}" if self.other else measured


METRIC_NAMES = {"rouge_l": "ROUGE-L", "keystroke_savings": "keystrokes saved", "first_token_ms": "first token"}
ROUGE, KEYS = "rouge_l", "keystroke_savings"

TARGETS: dict[Setting, tuple[Target, ...]] = {
    Setting.DOCUMENT: (
        Target(16, "hybrid", "client", ROUGE, 1.15, paired=True),
        Target(16, "hybrid", "client-tuned", ROUGE, 1.1, paired=True),
        Target(16, "hybrid", "client", KEYS, 1.15, paired=True),
        Target(16, "client-tuned", "client", ROUGE, 1.0),
        Target(16, "oracle", None, ROUGE, 0.6),
        Target(17, "hybrid-copy", "hybrid", ROUGE, 1.0, direction="not below"),
        Target(17, "hybrid-copy", "hybrid", KEYS, 1.0, direction="not below"),
        Target(18, "hybrid", "client", ROUGE, 1.25, paired=True),
        Target(18, "hybrid", "client", KEYS, 1.2, paired=True),
        Target(18, "hybrid", "rag", ROUGE, 1.0),
        Target(18, "hybrid", "rag", "first_token_ms", 0.05, statistic="p50", direction="le"),
    ),
    Setting.CHUNK: (
        Target(16, "hybrid", "client", ROUGE, 1.3, paired=True),
        Target(16, "hybrid", "client", KEYS, 1.3, paired=True),
        Target(17, "hybrid-copy", "client", ROUGE, 1.15, paired=True),
        Target(17, "hybrid-copy", "client", KEYS, 1.2, paired=True),
        Target(18, "hybrid", "client", ROUGE, 1.5, paired=True),
        Target(18, "hybrid", "client", KEYS, 1.5, paired=True),
    ),
    Setting.NEVER_TRAINED: (
        Target(16, "hybrid", "client", ROUGE, 1.05, paired=True),
        Target(16, "hybrid", "client", KEYS, 1.05, paired=True),
        Target(16, "oracle", None, ROUGE, 0.5),
        Target(18, "hybrid", "client", ROUGE, 1.15, paired=True),
        Target(18, "hybrid", "client", KEYS, 1.15, paired=True),
    ),
}


def setting_of(setup: Mapping[str, Any]) -> Setting:
    """Which targets apply: by the hold-out, and by whether the adapter was trained on the corpus."""
    if setup.get("holdout") == "chunk":
        return Setting.CHUNK
    trained_roots = {corpus.root.resolve() for corpus in TRAINING_CORPORA}
    return Setting.DOCUMENT if Path(setup["corpus"]).resolve() in trained_roots else Setting.NEVER_TRAINED


def targets_met(
    summary: Mapping[str, Mapping[str, Any]], per_case: Sequence[Mapping[str, Any]], setting: Setting
) -> dict[str, dict]:
    """Each target of ``setting`` whose systems were run: measured value, paired interval, met or not."""
    found: dict[str, dict] = {}
    for target in TARGETS[setting]:
        systems = [target.system, *([target.other] if target.other else [])]
        if not all(system in summary for system in systems):
            continue
        value = summary[target.system][target.metric][target.statistic]
        row: dict[str, Any] = {"issue": target.issue, "target": target.wanted, "direction": target.direction}
        if target.other is not None:
            base = summary[target.other][target.metric][target.statistic]
            if not base:
                continue
            value /= base
            if target.statistic == "mean":
                differences = [
                    case["systems"][target.system][target.metric] - case["systems"][target.other][target.metric]
                    for case in per_case
                ]
                row["paired_difference"] = {
                    "mean": statistics.fmean(differences),
                    "ci95": list(bootstrap_interval(differences)),
                }
        if target.direction == "not below":  # no worse: not measurably below the other system
            met = "paired_difference" in row and row["paired_difference"]["ci95"][1] >= 0
        else:
            met = value <= target.wanted if target.direction == "le" else value >= target.wanted
        if target.paired:
            row["paired_required"] = True
            met = met and "paired_difference" in row and row["paired_difference"]["ci95"][0] > 0
        found[f"{target.name} (issue {target.issue})"] = row | {"ratio": value, "met": met}
    return found
