"""Flips between a reference and a candidate result, built without a model."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from harness.bench.compare import flips
from harness.errors import BenchError
from tests.bench.helpers import question, result, subject

RIGHT_A = [3.0, 0.0, 0.0, 0.0]  # chooses A
RIGHT_B = [0.0, 3.0, 0.0, 0.0]
PICK_C = [0.0, 0.0, 3.0, 0.0]
PICK_D = [0.0, 0.0, 0.0, 3.0]


def test_flips_in_both_directions_per_subject() -> None:
    ref = result(
        "base",
        [
            subject(
                "mmlu:x",
                [
                    question(0, "A", RIGHT_A),  # right -> wrong
                    question(1, "B", PICK_C),  # wrong -> right
                    question(2, "B", PICK_C),  # wrong -> wrong, other letter
                    question(3, "A", RIGHT_A),  # right -> right
                ],
            ),
            subject("ceval:y", [question(0, "A", PICK_C), question(1, "A", PICK_C)]),
        ],
    )
    new = result(
        "tuned",
        [
            subject("ceval:y", [question(1, "A", RIGHT_A), question(0, "A", RIGHT_A)]),
            subject(
                "mmlu:x",
                [
                    question(0, "A", PICK_D),
                    question(1, "B", RIGHT_B),
                    question(2, "B", PICK_D),
                    question(3, "A", RIGHT_A),
                ],
            ),
        ],
    )
    f = flips(ref, new)
    assert (f.reference, f.candidate) == ("base", "tuned")
    x, y = f.subjects  # in the reference's order, paired by row id
    assert x.key == "mmlu:x" and x.n == 4 and x.unpaired == 0
    assert [q.row_id for q in x.right_to_wrong] == ["0"]
    assert [q.row_id for q in x.wrong_to_right] == ["1"]
    assert x.changed_wrong == 1
    assert (x.acc_ref, x.acc_new) == (0.5, 0.5)
    down = x.right_to_wrong[0]
    assert (down.pred_ref, down.pred_new, down.answer) == ("A", "D", "A")
    assert down.conf_ref == pytest.approx(max(ref.subjects[0].questions[0].probs))
    assert x.p_value == 1.0
    assert sorted(q.row_id for q in y.wrong_to_right) == ["0", "1"]
    assert y.p_value == pytest.approx(binomtest(0, 2, 0.5).pvalue)
    assert (f.n_right_to_wrong, f.n_wrong_to_right) == (1, 3)


def test_unpaired_rows_are_counted_not_compared() -> None:
    ref = result("a", [subject("mmlu:x", [question(0, "A", RIGHT_A), question(1, "A", PICK_C)])])
    new = result("b", [subject("mmlu:x", [question(0, "A", PICK_C)])])
    (s,) = flips(ref, new).subjects
    assert s.n == 1 and s.unpaired == 1 and len(s.right_to_wrong) == 1


def test_different_data_or_no_shared_subject_is_an_error() -> None:
    ref = result("a", [subject("mmlu:x", [question(0, "A", RIGHT_A)])])
    other_text = result("b", [subject("mmlu:x", [question(0, "A", RIGHT_A, text="Else?")])])
    with pytest.raises(BenchError, match=r"mmlu:x row 0 differs.*not run on the same data"):
        flips(ref, other_text)
    elsewhere = result("b", [subject("cmmlu:z", [question(0, "A", RIGHT_A)])])
    with pytest.raises(BenchError, match="share no subject: mmlu:x vs cmmlu:z"):
        flips(ref, elsewhere)
