"""Turn an evaluation's JSON (``hybridrag eval``) into a Markdown table and a PNG plot.

    python scripts/eval_report.py [reports/eval.json]

writes ``reports/eval.md`` and ``reports/eval.png`` beside the JSON (or where
--markdown and --plot say). Nothing is run again: the JSON holds every case. The
targets are scored again from those cases under today's definitions
(evaluation/targets.py) and written back into the JSON where they changed.
"""

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI
import matplotlib.pyplot as plt  # after choosing the backend

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from evaluation.report import LATENCY, UTILITY, markdown_table, memory_table, paired_table, targets_table
from evaluation.targets import setting_of, targets_met

PLOTTED_UTILITY = ("rouge_l", "gleu", "next_word_exact", "keystroke_savings")
SYSTEM_COLOURS = {
    "client": "#8c8c8c",
    "client-lookup": "#bdbdbd",
    "client-tuned": "#636363",
    "hybrid": "#1f77b4",
    "hybrid-copy": "#2ca02c",
    "hybrid-stale": "#9ecae1",
    "rag": "#d62728",
    "oracle": "#ff7f0e",
}
HOLDOUT = {
    "document": "Each case's own document is held out of retrieval.",
    "chunk": "Only the chunks that overlap each case's prefix or reference are held out of retrieval "
    "(the cloud holds the document's other parts).",
}


def markdown_report(report: dict) -> str:
    setup = report["setup"]
    engine, memory = setup["engine"], setup["memory"]
    notes = setup["notes_written"]
    cpu = setup.get("cpu", {})
    return "\n".join(
        [
            f"# Evaluation: {report['cases']} cases from `{setup['corpus']}`",
            "",
            (
                f"Client model `{engine['model']}`, KV cache `{engine['kv_preset']}`, {engine['threads']} threads, "
                f"greedy decoding, up to {engine['max_suggestion_tokens']} tokens; "
                f"{engine['notes_in_prompt']} notes in the prompt. "
                f"Memory writer: `{memory['writer']}`, top {memory['top_k_chunks']} chunks, "
                f"{memory['notes_per_request']} notes per request. {HOLDOUT[setup.get('holdout', 'document')]} "
                f"Memory adapter: `{engine.get('memory_adapter', 'none')}` (not for `client` and `client-lookup`). "
                f"CPU: {cpu.get('model', 'not recorded')} ({', '.join(cpu.get('flags', []))})."
            ),
            "",
            markdown_table(report),
            (
                "Means with bootstrap 95% intervals; latency p50 (p95) in milliseconds or seconds. GLEU is Google's "
                "sentence-level GLEU (nltk `sentence_gleu`). Keystrokes saved: a writer replays the reference, "
                "accepting the suggestion's right words (one keystroke each) and typing a word otherwise."
            ),
            "",
            "## Against the client alone, case by case",
            "",
            paired_table(report),
            (
                "Each system's score minus the client's on the same case: mean [95% bootstrap interval] "
                "(cases better / worse). An interval that holds 0 is no measurable difference."
            ),
            "",
            "## What the memory could give, and what drafting took",
            "",
            memory_table(report),
            (
                "Copy ceiling: the share of the reference's words a copier could take from the prompt's notes, "
                "replaying the reference word by word with the engine's own draft finder. Draft acceptance: tokens "
                "drafted from the notes or the text and verified in one batch, of the first suggestion of each case."
            ),
            "",
            f"## Targets, {setting_of(setup)} (reported, not asserted)",
            "",
            targets_table(report),
            (
                f"Run time: {report['seconds'] / 60:.1f} min for the cases "
                f"({setup['total_seconds'] / 60:.1f} min with loading and the incremental ingest); "
                f"{notes['written']} note requests written in {notes['seconds']:.0f} s, "
                f"{notes['cached']} reused from the cache. {setup['cpus']} CPUs."
            ),
            "",
        ]
    )


def plot(report: dict, path: Path) -> None:
    systems = list(report["summary"])
    figure, (utility, latency) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 1.3]})
    width = 0.8 / len(systems)
    for offset, system in enumerate(systems):
        entry = report["summary"][system]
        means = [entry[metric]["mean"] for metric in PLOTTED_UTILITY]
        errors = [
            [mean - entry[metric]["ci95"][0] for metric, mean in zip(PLOTTED_UTILITY, means, strict=True)],
            [entry[metric]["ci95"][1] - mean for metric, mean in zip(PLOTTED_UTILITY, means, strict=True)],
        ]
        positions = [index + (offset - (len(systems) - 1) / 2) * width for index in range(len(PLOTTED_UTILITY))]
        utility.bar(positions, means, width, yerr=errors, capsize=3, label=system, color=SYSTEM_COLOURS.get(system))
    utility.set_xticks(range(len(PLOTTED_UTILITY)), [UTILITY[metric] for metric in PLOTTED_UTILITY])
    utility.set_ylabel("mean (95% interval)")
    utility.set_title(f"Utility, {report['cases']} cases")
    utility.legend()
    first_token = [report["summary"][system]["first_token_ms"]["p50"] for system in systems]
    latency.bar(systems, first_token, color=[SYSTEM_COLOURS.get(system) for system in systems])
    latency.set_yscale("log")
    latency.set_ylabel("ms (log scale)")
    latency.set_title(f"{LATENCY['first_token_ms'].capitalize()}, p50")
    latency.tick_params(axis="x", labelrotation=20)
    for index, value in enumerate(first_token):
        latency.annotate(f"{value:.0f} ms", (index, value), ha="center", va="bottom", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path, nargs="?", default=Path("reports/eval.json"))
    parser.add_argument("--markdown", type=Path, help="default: the report's name with .md")
    parser.add_argument("--plot", type=Path, help="default: the report's name with .png")
    args = parser.parse_args()
    if not args.report.is_file():
        parser.error(f"no report {args.report}: run `hybridrag eval` first (it writes reports/eval.json)")
    report = json.loads(args.report.read_text())
    targets = targets_met(report["summary"], report["per_case"], setting_of(report["setup"]))
    if targets != report.get("targets"):
        report["targets"] = targets
        args.report.write_text(json.dumps(report, indent=2) + "\n")
        print(f"{args.report}: targets scored again under evaluation/targets.py")
    markdown_path = args.markdown or args.report.with_suffix(".md")
    plot_path = args.plot or args.report.with_suffix(".png")
    markdown_path.write_text(markdown_report(report) + f"\n![utility and latency]({plot_path.name})\n")
    plot(report, plot_path)
    print(markdown_table(report))
    print(f"wrote {markdown_path} and {plot_path}")


if __name__ == "__main__":
    main()
