"""A fine-tune simulated honestly: a few AdamW steps on the test questions' correct answers
(prompted exactly as lm-eval prompts them), then ``harness bench --compare-to`` must flag
the questions whose verdict flipped, and only those."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.bench.layouts import parse_tasks, read_rows
from harness.bench.tasks import DOC_TO_TEXT, description
from harness.cli import main

STEPS, LR = 12, 1e-2
TASKS = "mmlu:abstract_algebra,ceval:computer_network,cmmlu:chinese_history"


def _prompts(data: Path) -> list[tuple[str, str]]:
    """Zero-shot contexts and their answer continuations (" B"), as lm-eval builds them."""
    pairs = []
    for subject in parse_tasks(TASKS, data, need_dev=False):
        head, _ = description(subject.benchmark, subject.subject)
        end = DOC_TO_TEXT[subject.benchmark].rsplit("\n", 1)[1]  # "Answer:" or "答案："
        for row in read_rows(subject.eval_path):
            options = "".join(f"\n{k}. {v}" for k, v in zip("ABCD", row.options, strict=True))
            pairs.append((f"{head}{row.question.strip()}{options}\n{end}", " " + row.answer))
    return pairs


def finetune(base: Path, out: Path, pairs: list[tuple[str, str]], *, steps: int, lr: float) -> Path:
    """Teach the answers: cross-entropy on the continuation tokens only."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model.train()
    rows = []
    for context, answer in pairs:
        whole = tokenizer(context + answer)["input_ids"]
        n_context = len(tokenizer(context)["input_ids"])
        rows.append((whole, [-100] * n_context + whole[n_context:]))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.eos_token_id
    ids = torch.tensor([x + [pad] * (width - len(x)) for x, _ in rows])
    labels = torch.tensor([y + [-100] * (width - len(y)) for _, y in rows])
    mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x, _ in rows])
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(steps):  # one padded batch of every question per step
        optimizer.zero_grad()
        model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        optimizer.step()
    model.eval()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.mark.slow
def test_compare_flags_exactly_the_flipped_questions(
    tiny_model: Path, dialect_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    tuned = finetune(tiny_model, tmp_path / "tuned", _prompts(dialect_data), steps=STEPS, lr=LR)
    html, js = tmp_path / "cmp.html", tmp_path / "cmp.json"
    argv = ["bench", "--model", str(tuned), "--compare-to", str(tiny_model), "--tasks", TASKS]
    argv += ["--data", str(dialect_data), "--shots", "0", "-o", str(html), "--json", str(js)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    data = json.loads(js.read_text("utf-8"))
    new, ref, flips = data["result"], data["reference"], data["flips"]
    assert new["micro_acc"] > ref["micro_acc"]  # the fine-tune taught the answers
    n_up = n_down = 0
    for s_new, s_ref, s_flip in zip(
        new["subjects"], ref["subjects"], flips["subjects"], strict=True
    ):
        before = {q["row_id"]: q["correct"] for q in s_ref["questions"]}
        after = {q["row_id"]: q["correct"] for q in s_new["questions"]}
        up = sorted(r for r in before if after[r] and not before[r])
        down = sorted(r for r in before if before[r] and not after[r])
        assert sorted(f["row_id"] for f in s_flip["wrong_to_right"]) == up
        assert sorted(f["row_id"] for f in s_flip["right_to_wrong"]) == down
        for f in s_flip["wrong_to_right"]:
            assert f["pred_new"] == f["answer"] != f["pred_ref"]
        n_up, n_down = n_up + len(up), n_down + len(down)
    assert n_up > 0
    assert "wrong → right" in out
    page = html.read_text("utf-8")
    first = next(f for s in flips["subjects"] for f in s["wrong_to_right"])
    assert "Flipped questions" in page and f"row {first['row_id']}" in page
