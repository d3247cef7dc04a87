"""The few-shot prefix computed once: rows that share leading tokens run only their own
suffix on a copy of the prefix's key/value cache, and score what the full forward pass
scores (within 1e-4, the same greedy flags), on the tiny random Llama of conftest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

import torch

from harness.providers.hf_loglik import LoglikelihoodScorer, prefix_groups
from harness.providers.hf_models import ModelSource, load

#: Few-shot prompts as lm-eval writes them: a description, shots, then the question.
MMLU = "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
CEVAL = "以下是中国关于计算机网络的单项选择题，请选出其中的正确答案。\n\n"


def _shots(description: str, answer: str, n: int) -> str:
    return description + "".join(
        f"Find the order of element {i} in the group.\nA. 1\nB. 2\nC. 3\nD. 4\n{answer} "
        f"{'ABCD'[i % 4]}\n\n"
        for i in range(n)
    )


def _question(i: int, answer: str) -> str:
    return f"Statement {i} | {'ring field ' * (i % 3)}true?\nA. x\nB. y\nC. z\nD. w\n{answer}"


def _pairs(shots: int = 3, questions: int = 5) -> list[tuple[str, str]]:
    """Two subjects' questions (four one-letter answers each), plus two short unrelated
    contexts and a multi-token continuation."""
    pairs = [
        (_shots(description, answer, shots) + _question(i, answer), f" {letter}")
        for description, answer in ((MMLU, "Answer:"), (CEVAL, "答案："))
        for i in range(questions)
        for letter in "ABCD"
    ]
    return [*pairs, ("A ring", " field"), ("Find the group", " order of an element")]


@pytest.fixture(scope="module")
def model(tiny_model: Path) -> tuple[Any, Any]:
    return load(ModelSource("tiny", tiny_model), torch.device("cpu"), torch.float32)


class _Forwards:
    """Each forward pass the model runs: (batch rows, tokens per row, cached tokens)."""

    def __init__(self, model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[int, int, int]] = []
        forward = model.forward

        def spy(*args: Any, **kwargs: Any) -> Any:
            ids = kwargs["input_ids"] if "input_ids" in kwargs else args[0]
            past = kwargs.get("past_key_values")
            self.calls.append((*ids.shape, 0 if past is None else past.get_seq_length()))
            return forward(*args, **kwargs)

        monkeypatch.setattr(model, "forward", spy)

    @property
    def tokens(self) -> int:
        return sum(rows * width for rows, width, _ in self.calls)


def _scores(model: tuple[Any, Any], pairs: list[tuple[str, str]], **kwargs: Any) -> list[Any]:
    batch_size = kwargs.pop("batch_size", 3)
    return LoglikelihoodScorer(*model, batch_size, **kwargs).loglikelihood(pairs)


def _assert_same(ours: list[Any], full: list[Any]) -> None:
    assert len(ours) == len(full)
    for (value, greedy), (ref, ref_greedy) in zip(ours, full, strict=True):
        assert value == pytest.approx(ref, abs=1e-4)
        assert greedy == ref_greedy


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_a_shared_prefix_scores_what_the_full_forward_scores(
    model: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch, batch_size: int
) -> None:
    pairs = _pairs()
    full = _scores(model, pairs, batch_size=batch_size, reuse_prefix=False)
    forwards = _Forwards(model[0], monkeypatch)
    ours = _scores(model, pairs, batch_size=batch_size)
    _assert_same(ours, full)
    # one prefix pass per subject (a batch of one, no cache yet), then suffix-only batches
    prefixes = [c for c in forwards.calls if c[2] == 0 and c[0] == 1 and c[1] > 40]
    cached = [c for c in forwards.calls if c[2] > 0]
    assert len(prefixes) >= 2 and sum(rows for rows, _, _ in cached) == 10  # 2 x 5 questions
    assert all(width < 40 for _, width, _ in cached)  # the suffix alone, not the prompt


def test_far_fewer_tokens_run_than_in_the_full_forward(
    model: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    pairs = _pairs(shots=5, questions=8)
    forwards = _Forwards(model[0], monkeypatch)
    _scores(model, pairs, reuse_prefix=False)
    full = forwards.tokens
    forwards.calls.clear()
    _scores(model, pairs)
    assert forwards.tokens < full / 3


def test_a_text_prefix_that_ends_inside_a_token_changes_nothing(
    model: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The questions' common text ends inside a word ("... Find the gr" + "oup" / "ip"):
    that text's tokens are not a prefix of the "group" row's tokens. The shared prefix is
    taken from the rows' own tokens instead, so every row still reuses it (none falls
    back) and scores what the full forward scores."""
    _, tokenizer = model
    shots = _shots(MMLU, "Answer:", 3)
    contexts = [shots + f"Find the {word}?\nA. x\nB. y\nC. z\nD. w\nAnswer:"
                for word in ("group order", "grip", "grq", "grid")]  # fmt: skip
    common = shots + "Find the gr"  # the longest text every context starts with
    assert (
        all(c.startswith(common) for c in contexts) and len({c[len(common)] for c in contexts}) > 1
    )
    cut = len(tokenizer.encode(common))
    assert tokenizer.encode(contexts[0])[:cut] != tokenizer.encode(common)
    pairs = [(c, f" {letter}") for c in contexts for letter in "AB"]
    full = _scores(model, pairs, reuse_prefix=False)
    forwards = _Forwards(model[0], monkeypatch)
    _assert_same(_scores(model, pairs), full)
    assert sum(rows for rows, _, cached in forwards.calls if cached) == len(contexts)


def test_progress_counts_every_row_once(model: tuple[Any, Any]) -> None:
    seen: list[tuple[int, int]] = []
    scorer = LoglikelihoodScorer(*model, 3)
    scorer.loglikelihood(_pairs(), progress=lambda done, total: seen.append((done, total)))
    rows = 2 * 5 + 2  # the four letters of a question share one row
    assert seen[-1] == (rows, rows) and all(t == rows for _, t in seen)
    assert [d for d, _ in seen] == sorted({d for d, _ in seen})


def test_a_model_whose_cache_cannot_be_extended_runs_every_row_in_full(
    model: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sliding-window model's cache drops old tokens: no reuse, the same numbers, and
    the prefix pass that found out is tried once, not once per subject."""
    from transformers import MistralConfig, MistralForCausalLM

    tokenizer = model[1]
    torch.manual_seed(0)
    config = MistralConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, sliding_window=512,
    )  # fmt: skip
    mistral = (MistralForCausalLM(config).eval(), tokenizer)
    pairs = _pairs(questions=3)
    full = _scores(mistral, pairs, reuse_prefix=False)
    forwards = _Forwards(mistral[0], monkeypatch)
    _assert_same(_scores(mistral, pairs), full)
    assert not any(cached for _, _, cached in forwards.calls)
    assert sum(rows == 1 and width > 40 for rows, width, _ in forwards.calls) == 1


def test_groups_are_the_subjects_and_end_before_the_scored_tokens() -> None:
    shots_a = tuple(range(100, 160))  # 60 tokens of one subject's few-shot prefix
    shots_b = (*shots_a[:10], *range(300, 350))  # another subject: the same first 10 tokens
    rows = {
        **{(*shots_a, 7, i, 8): 1 for i in range(4)},
        **{(*shots_b, 7, i, 8): 1 for i in range(3)},
        (*shots_a[:5], 9): 1,  # shares 5 tokens: too few
        (*shots_a, 7): 2,  # scores its last 2 positions: the shared part must stop before
    }
    groups = {g.rows: g.length for g in prefix_groups(rows)}
    a = tuple(sorted(r for r in rows if r[:60] == shots_a))
    assert groups[a] == 59  # 61 tokens, the last 2 scored
    b = tuple(sorted(r for r in rows if r[:60] == shots_b))
    assert groups[b] == 61  # the prefix and the 7
    assert groups[((*shots_a[:5], 9),)] == 0
    assert sum(len(r) for r in groups) == len(rows)


def test_every_row_is_in_exactly_one_group_in_sorted_order() -> None:
    import random

    rng = random.Random(0)
    heads = [tuple(rng.randrange(50) for _ in range(rng.randrange(1, 40))) for _ in range(6)]
    rows = {(*rng.choice(heads), *(rng.randrange(50) for _ in range(5))): 1 for _ in range(300)}
    groups = prefix_groups(rows)
    flat = [row for g in groups for row in g.rows]
    assert flat == sorted(rows)
    for g in groups:
        assert all(row[: g.length] == g.rows[0][: g.length] for row in g.rows)
        assert all(len(row) - rows[row] >= g.length for row in g.rows)
        assert g.length == 0 or (len(g.rows) > 1 and g.length >= 16)
