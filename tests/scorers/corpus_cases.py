"""Case results scored by the real bleu/chrf scorers, on generated English and Chinese text
with 1-3 references per case: what the corpus-metric tests build their runs from."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import sacrebleu
from sacrebleu.metrics import BLEU, CHRF

from harness.providers.base import Message
from harness.results.models import CaseResult, Score
from harness.scorers import get_scorer
from harness.scorers.cjk import has_cjk

T0 = datetime(2024, 5, 1, tzinfo=UTC)
_EN = [
    "The", "the", "cat", "Cat", "sat", "on", "mat", "a", "dog", "barked", "loudly", "2016",
    "U.S.", "isn't", "e-mail", "3.5", "naïve",
]  # fmt: skip
_ZH = list("今天天气很好不错我们的学习中文大家你好世界北京上海。，")


def sentence(rng: random.Random, zh: bool) -> str:
    words = rng.choices(_ZH if zh else _EN, k=rng.randint(1, 14))
    return ("" if zh else " ").join(words)


def case_texts(rng: random.Random, zh: bool) -> tuple[str, list[str]]:
    """An output (often a noisy copy of the first reference) and 1-3 references."""
    refs = [sentence(rng, zh) for _ in range(rng.randint(1, 3))]
    sep = "" if zh else " "
    noisy = sep.join(w for w in (refs[0] if zh else refs[0].split()) if rng.random() < 0.8)
    return rng.choice([sentence(rng, zh), noisy, refs[0], ""]), refs


def result(
    row: int,
    output: str,
    refs: list[str],
    asserts: dict[str, tuple[str, dict[str, Any]]],
    *,
    prompt: str = "v1",
    provider: str = "p",
    tags: tuple[str, ...] = (),
    error: str | None = None,
    perturbation: str | None = None,
    run_id: str = "r",
    repeat: int = 0,
) -> CaseResult:
    """A case scored by the real scorers, as the runner stores it."""
    scores = []
    for name, (kind, params) in asserts.items() if error is None else ():
        scorer = get_scorer(kind, params)
        value = scorer.score(output, refs, {})
        scores.append(
            Score(
                name=name,
                scorer=kind,
                version=scorer.version_string,
                value=value.value,
                threshold=0.3,
                passed=value.value >= 0.3,
                metadata=value.metadata,
            )
        )
    return CaseResult(
        run_id=run_id,
        case_id=f"{prompt}-{provider}-{row}-{perturbation}-{repeat}",
        request_key="k",
        prompt_id=prompt,
        provider_id=provider,
        model="m",
        row_id=str(row),
        tags=list(tags),
        messages=[Message(role="user", content=f"q{row}")],
        expected=refs,
        output=None if error else output,
        error=error,
        scores=scores,
        passed=error is None,
        finished_at=T0,
        perturbation=perturbation,
        clean_row_id=str(row) if perturbation else None,
        repeat=repeat,
    )


def padded(references: list[list[str]]) -> list[list[str | None]]:
    """sacrebleu's reference streams, a missing reference as None (which sacrebleu drops)."""
    depth = max(len(r) for r in references)
    return [[r[i] if i < len(r) else None for r in references] for i in range(depth)]


def sacrebleu_corpus(kind: str, params: dict[str, Any], hyps: list[str], refs: list[list[str]]):
    """sacrebleu's own corpus score and signature with the assertion's parameters."""
    if kind == "bleu":
        tok = params.get("tokenize", "auto")
        if tok == "auto":
            texts = [*hyps, *(r for rs in refs for r in rs)]
            tok = "zh" if any(has_cjk(t) for t in texts) else "13a"
        lowercase = params.get("lowercase", False)
        score = sacrebleu.corpus_bleu(hyps, padded(refs), tokenize=tok, lowercase=lowercase)
        metric = BLEU(tokenize=tok, lowercase=lowercase)
    else:
        word_order = params.get("word_order", 0)
        if params.get("lowercase"):  # corpus_chrf has no lowercase: as CHRF(lowercase=True)
            hyps, refs = [h.lower() for h in hyps], [[r.lower() for r in rs] for rs in refs]
        score = sacrebleu.corpus_chrf(hyps, padded(refs), word_order=word_order)
        metric = CHRF(**params)
    assert metric.corpus_score(hyps, padded(refs)).score == score.score
    return min(score.score / 100, 1.0), metric.get_signature().format()
