"""An evaluation's results as the report: means with bootstrap intervals, latency percentiles, the targets.

The JSON (``reports/eval.json``) keeps every case, so the table and the plot
(scripts/eval_report.py) can be redrawn without running the models again.
"""

import statistics
from collections.abc import Sequence
from dataclasses import asdict

from evaluation.metrics import bootstrap_interval
from evaluation.runner import CaseResult
from evaluation.targets import setting_of, targets_met

UTILITY = {  # metric -> its column in the table
    "rouge_l": "ROUGE-L",
    "bleu": "BLEU",
    "gleu": "GLEU",
    "next_word_exact": "next word",
    "keystroke_savings": "keystrokes saved",
}
LATENCY = {"first_token_ms": "first token", "total_ms": "whole suggestion"}
PAIRED = ("rouge_l", "gleu", "keystroke_savings")  # compared with the client alone, case by case
BASELINE = "client"


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summarize(results: Sequence[CaseResult], systems: Sequence[str]) -> dict[str, dict]:
    summary: dict[str, dict] = {}
    for system in systems:
        rows = [result.systems[system] for result in results]
        entry: dict[str, dict] = {}
        for metric in UTILITY:
            values = [float(getattr(row, metric)) for row in rows]
            low, high = bootstrap_interval(values)
            entry[metric] = {"mean": statistics.fmean(values), "ci95": [low, high]}
        for metric in LATENCY:
            values = [getattr(row, metric) for row in rows]
            entry[metric] = {
                "p50": percentile(values, 0.5),
                "p95": percentile(values, 0.95),
                "mean": statistics.fmean(values),
            }
        entry["evaluated_tokens"] = {"mean": statistics.fmean(row.evaluated_tokens for row in rows)}
        entry["copy_ceiling"] = {
            "mean": statistics.fmean(row.copy_ceiling for row in rows),
            "cases": sum(row.copy_ceiling > 0 for row in rows),
        }
        drafted = sum(row.drafted_tokens for row in rows)
        entry["drafts"] = {
            "drafted_tokens": drafted,
            "accepted_tokens": sum(row.accepted_draft_tokens for row in rows),
            "acceptance": sum(row.accepted_draft_tokens for row in rows) / drafted if drafted else None,
        }
        if system != BASELINE and BASELINE in systems:
            entry["vs_client"] = _paired_differences(results, system)
        summary[system] = entry
    return summary


def _paired_differences(results: Sequence[CaseResult], system: str) -> dict[str, dict]:
    """The system minus the client on each case: the mean, its interval, and how many cases went each way.

    Paired, so the variation between cases (some are easy for every system) drops out.
    """
    found = {}
    for metric in PAIRED:
        differences = [getattr(r.systems[system], metric) - getattr(r.systems[BASELINE], metric) for r in results]
        low, high = bootstrap_interval(differences)
        found[metric] = {
            "mean": statistics.fmean(differences),
            "ci95": [low, high],
            "better": sum(d > 0 for d in differences),
            "worse": sum(d < 0 for d in differences),
        }
    return found


def build_report(results: Sequence[CaseResult], systems: Sequence[str], setup: dict, seconds: float) -> dict:
    summary = summarize(results, systems)
    per_case = [asdict(result) for result in results]
    return {
        "cases": len(results),
        "seconds": seconds,
        "setup": setup,
        "summary": summary,
        "targets": targets_met(summary, per_case, setting_of(setup)),
        "per_case": per_case,
    }


def markdown_table(report: dict) -> str:
    """The summary as a Markdown table: means with their 95% intervals, latency p50 (p95)."""
    header = ["system", *UTILITY.values(), *(f"{name} p50 (p95)" for name in LATENCY.values())]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for system, entry in report["summary"].items():
        cells = [f"`{system}`"]
        for metric in UTILITY:
            low, high = entry[metric]["ci95"]
            cells.append(f"{entry[metric]['mean']:.3f} [{low:.3f}, {high:.3f}]")
        cells += [f"{_ms(entry[metric]['p50'])} ({_ms(entry[metric]['p95'])})" for metric in LATENCY]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def paired_table(report: dict) -> str:
    """Each system minus the client alone, case by case: mean [95% interval] (cases better / worse)."""
    header = ["system", *(f"Δ {UTILITY[metric]}" for metric in PAIRED)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for system, entry in report["summary"].items():
        if "vs_client" not in entry:
            continue
        cells = [f"`{system}`"]
        for metric in PAIRED:
            found = entry["vs_client"][metric]
            low, high = found["ci95"]
            cells.append(f"{found['mean']:+.3f} [{low:+.3f}, {high:+.3f}] ({found['better']}/{found['worse']})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def targets_table(report: dict) -> str:
    """The targets of the report's setting: measured, wanted, the paired difference where there is one."""
    lines = ["| target | measured | wanted | paired difference [95%] | met |", "|---|---|---|---|---|"]
    for name, found in report["targets"].items():
        direction = found.get("direction")
        wanted = "no worse" if direction == "not below" else f"{'≤' if direction == 'le' else '≥'} {found['target']}"
        paired = found.get("paired_difference")
        difference = f"{paired['mean']:+.3f} [{paired['ci95'][0]:+.3f}, {paired['ci95'][1]:+.3f}]" if paired else "-"
        if found.get("paired_required"):
            difference += " (must exclude 0)"
        met = "yes" if found["met"] else "no"
        lines.append(f"| {name} | {found['ratio']:.3f} | {wanted} | {difference} | {met} |")
    return "\n".join(lines) + "\n"


def memory_table(report: dict) -> str:
    """What the memory could give and what drafting took: the copy ceiling and the draft acceptance."""
    lines = ["| system | copy ceiling (cases > 0) | draft tokens accepted / drafted |", "|---|---|---|"]
    for system, entry in report["summary"].items():
        ceiling, drafts = entry["copy_ceiling"], entry["drafts"]
        accepted = (
            f"{drafts['accepted_tokens']} / {drafts['drafted_tokens']} ({drafts['acceptance']:.0%})"
            if drafts["drafted_tokens"]
            else "-"
        )
        lines.append(f"| `{system}` | {ceiling['mean']:.3f} ({ceiling['cases']}) | {accepted} |")
    return "\n".join(lines) + "\n"


def _ms(value: float) -> str:
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"
