"""The note-fit benchmark's rule: which note it would quote, and what it scores in place of the baseline."""

from scripts.bench_note_fit import choice, replay


def test_the_likeliest_note_is_quoted_only_above_its_floor_and_margin() -> None:
    assert choice([-3.0, -1.0, -2.5], floor=None, margin=0.0) == 1
    assert choice([-3.0, -1.0, -2.5], floor=-0.5, margin=0.0) is None
    assert choice([-3.0, -1.0, -1.2], floor=None, margin=0.5) is None
    assert choice([-3.0, -1.0, -1.6], floor=-2.0, margin=0.5) == 1


def test_a_quoted_note_replaces_the_baseline_and_a_declined_one_keeps_it() -> None:
    reference = "Use json.dumps to pretty-print."
    case = {
        "reference": reference,
        "baseline": {"hybrid-copy": 0.25, "oracle-copy": 0.5},
        "notes": [
            {"text": "The pickle module serializes objects.", "reference": False, "score": -3.0},
            {"text": reference, "reference": True, "score": -1.0},
        ],
    }
    quoting = replay([case], floor=None, margin=0.0)
    assert quoting["oracle-copy"] == {"rouge_l": 1.0, "quoted": 1}
    assert quoting["hybrid-copy"]["quoted"] == 1 and quoting["hybrid-copy"]["rouge_l"] < 0.25
    assert replay([case], floor=-0.5, margin=0.0)["oracle-copy"] == {"rouge_l": 0.5, "quoted": 0}
