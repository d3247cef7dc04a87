"""BLEU and chrF through sacrebleu, per output and per run.

Values are sacrebleu's scores divided by 100 (capped at 1 against float noise).
Every score carries sacrebleu's signature (tokenizer, casing, smoothing, number of
references, version) because a BLEU number without it cannot be compared with
another. Sentence BLEU uses effective order (as ``sacrebleu.sentence_bleu``);
corpus BLEU does not (as ``sacrebleu.corpus_bleu``), so their signatures differ in
``eff``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.metrics.base import Metric

from harness.errors import ScorerError
from harness.scorers.base import Scorer, ScoreValue
from harness.scorers.cjk import has_cjk


def _unit(score: float) -> float:
    """sacrebleu's 0..100 score as 0..1; a perfect BLEU is exp(log(100)) =
    100.00000000000004 there, which would break the [0, 1] contract."""
    return min(score / 100, 1.0)


def _fixed_signature(metric: Metric, tok: str | None) -> str:
    """The signature of ``metric`` (a copy it may change) without ``nrefs``, which
    sacrebleu only knows after scoring and which varies per case; ``tok`` replaces
    the tokenizer field when given."""
    metric.num_refs = 0
    signature = metric.get_signature()
    signature.update("nrefs", None)
    if tok is not None:
        signature.update("tok", tok)
    return signature.format()


class _SacreScorer(Scorer):
    """Scoring shared by BLEU and chrF.

    Subclasses fill ``_sentence`` and ``_corpus`` (metric per tokenizer name) and
    ``_tokenizer_for``. Each call scores with a shallow copy of a prepared metric:
    sacrebleu metrics keep per-call state (the reference count in the signature),
    while the copy still shares the tokenizer and its cache.
    """

    version = "1"
    needs_expected = True
    default_threshold = 0.3
    _sentence: dict[str, Metric]
    _corpus: dict[str, Metric]
    #: Shown as ``tok`` in ``version_string`` when the tokenizer is chosen per text.
    _tok_label: str | None = None

    def _tokenizer_for(self, texts: Sequence[str]) -> str:
        """The key of the metric that scores ``texts``: by default the only one prepared."""
        return next(iter(self._sentence))

    def _metric(self, texts: Sequence[str], corpus: bool) -> Metric:
        pool = self._corpus if corpus else self._sentence
        return copy.copy(pool[self._tokenizer_for(texts)])

    @property
    def version_string(self) -> str:
        signature = _fixed_signature(self._metric([], corpus=False), self._tok_label)
        return f"{super().version_string}+sacrebleu[{signature}]"

    def score(self, output: str, expected: Sequence[str], vars: Mapping[str, Any]) -> ScoreValue:
        references = list(self.require_expected(expected))
        metric = self._metric([output, *references], corpus=False)
        result = metric.sentence_score(output, references)
        return ScoreValue(
            value=_unit(result.score), metadata={"signature": metric.get_signature().format()}
        )

    def corpus_score(
        self, outputs: Sequence[str], references: Sequence[Sequence[str]]
    ) -> tuple[float, str]:
        """Corpus-level score (0..1) and signature of a whole run.

        ``references[i]`` are the references of ``outputs[i]``. Their number may vary
        per output: shorter lists are padded with ``None``, sacrebleu's marker for a
        missing reference, and the signature then says ``nrefs:var``. (Padding with
        ``""`` would change the brevity penalty; repeating a reference would leave the
        score alone but misstate ``nrefs``.)
        """
        if not outputs or len(outputs) != len(references):
            raise ScorerError(
                f"{self.name}: need one reference list per output, got {len(outputs)} outputs "
                f"and {len(references)} reference lists"
            )
        if not all(references):
            raise ScorerError(f"{self.name}: every output needs at least one reference")
        depth = max(len(refs) for refs in references)
        streams = [
            [refs[i] if i < len(refs) else None for refs in references] for i in range(depth)
        ]
        metric = self._metric([*outputs, *(r for refs in references for r in refs)], corpus=True)
        result = metric.corpus_score(list(outputs), streams)
        return _unit(result.score), metric.get_signature().format()


class BleuScorer(_SacreScorer):
    """BLEU. ``tokenize="auto"`` uses sacrebleu's ``zh`` tokenizer when the output or a
    reference contains CJK characters, else ``13a``; any sacrebleu tokenizer name is
    accepted too (``ja-mecab``/``ko-mecab`` need sacrebleu's extras)."""

    name = "bleu"

    def __init__(self, *, tokenize: str = "auto", lowercase: bool = False):
        allowed = ["auto", *BLEU.TOKENIZERS]
        if tokenize not in allowed:
            raise ScorerError(f"bleu: unknown tokenize {tokenize!r}; use one of {allowed}")
        self._auto = tokenize == "auto"
        names = ("13a", "zh") if self._auto else (tokenize,)
        self._tok_label = "auto(13a/zh)" if self._auto else None
        self._sentence = {t: _bleu(t, lowercase, effective_order=True) for t in names}
        self._corpus = {t: _bleu(t, lowercase, effective_order=False) for t in names}

    def _tokenizer_for(self, texts: Sequence[str]) -> str:
        if self._auto:
            return "zh" if any(has_cjk(t) for t in texts) else "13a"
        return super()._tokenizer_for(texts)


def _bleu(tokenize: str, lowercase: bool, effective_order: bool) -> BLEU:
    try:
        return BLEU(tokenize=tokenize, lowercase=lowercase, effective_order=effective_order)
    except (ImportError, RuntimeError, OSError) as e:
        reason = " ".join(str(e).split())
        raise ScorerError(f"bleu: tokenizer {tokenize!r} is unavailable: {reason}") from e


class ChrfScorer(_SacreScorer):
    """chrF (character n-grams, whitespace ignored, so it suits Chinese as is);
    ``word_order=2`` gives chrF++."""

    name = "chrf"

    def __init__(self, *, lowercase: bool = False, word_order: int = 0):
        if word_order < 0:
            raise ScorerError(f"chrf: word_order must be 0 or more, got {word_order}")
        chrf = CHRF(lowercase=lowercase, word_order=word_order)
        self._sentence = self._corpus = {"chrf": chrf}
