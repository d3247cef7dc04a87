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
import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.metrics.base import Metric

from harness.errors import ScorerError
from harness.scorers.base import Scorer, ScoreValue
from harness.scorers.cjk_chars import has_cjk

#: ``tok`` of a ``tokenize: auto`` BLEU's version string.
AUTO_LABEL = "auto(13a/zh)"


def unit_score(score: float) -> float:
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


class SacreScorer(Scorer):
    """Scoring shared by BLEU and chrF.

    Subclasses fill ``_sentence`` and ``_corpus`` (metric per tokenizer name) and
    ``_tokenizer_for``. Each call scores with a shallow copy of a prepared metric:
    sacrebleu metrics keep per-call state (the reference count in the signature),
    while the copy still shares the tokenizer and its cache.
    """

    version = "1"
    needs_expected = True
    default_threshold = 0.3
    reuse_scores = True
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
            value=unit_score(result.score), metadata={"signature": metric.get_signature().format()}
        )

    def corpus_metric(self, texts: Sequence[str]) -> Metric:
        """A fresh corpus metric for ``texts`` (every output and reference it will see: with
        ``tokenize: auto`` one Chinese text makes the whole corpus use ``zh``)."""
        return self._metric(texts, corpus=True)

    def corpus_score(
        self, outputs: Sequence[str], references: Sequence[Sequence[str]]
    ) -> tuple[float, str]:
        """Corpus-level score (0..1) and signature of a whole run.

        ``references[i]`` are the references of ``outputs[i]``; see :func:`reference_streams`
        for a number of references that varies per output.
        """
        if not outputs or len(outputs) != len(references):
            raise ScorerError(
                f"{self.name}: need one reference list per output, got {len(outputs)} outputs "
                f"and {len(references)} reference lists"
            )
        streams = reference_streams(references, self.name)
        metric = self.corpus_metric([*outputs, *(r for refs in references for r in refs)])
        result = metric.corpus_score(list(outputs), streams)
        return unit_score(result.score), metric.get_signature().format()

    @classmethod
    def _params(cls, fields: Mapping[str, str]) -> dict[str, Any]:
        """The parameters that give a signature's fields (see :func:`scorer_from_version`)."""
        return {"lowercase": fields.get("case") == "lc"}


def reference_streams(
    references: Sequence[Sequence[str]], name: str = "sacrebleu"
) -> list[list[str | None]]:
    """Per-output reference lists as sacrebleu's reference streams (stream ``i`` holds every
    output's ``i``-th reference).

    A shorter list is padded with ``None``, sacrebleu's marker for a missing reference
    (``Metric._cache_references`` drops it), and the signature then says ``nrefs:var``.
    Padding with ``""`` would change the brevity penalty; repeating a reference would
    leave the score alone but misstate ``nrefs``.
    """
    if not all(references):
        raise ScorerError(f"{name}: every output needs at least one reference")
    depth = max((len(refs) for refs in references), default=0)
    return [[refs[i] if i < len(refs) else None for refs in references] for i in range(depth)]


class BleuScorer(SacreScorer):
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
        self._tok_label = AUTO_LABEL if self._auto else None
        self._sentence = {t: _bleu(t, lowercase, effective_order=True) for t in names}
        self._corpus = {t: _bleu(t, lowercase, effective_order=False) for t in names}

    def _tokenizer_for(self, texts: Sequence[str]) -> str:
        if self._auto:
            return "zh" if any(has_cjk(t) for t in texts) else "13a"
        return super()._tokenizer_for(texts)

    @classmethod
    def _params(cls, fields: Mapping[str, str]) -> dict[str, Any]:
        tok = fields.get("tok", "")
        return {**super()._params(fields), "tokenize": "auto" if tok == AUTO_LABEL else tok}


def _bleu(tokenize: str, lowercase: bool, effective_order: bool) -> BLEU:
    try:
        return BLEU(tokenize=tokenize, lowercase=lowercase, effective_order=effective_order)
    except (ImportError, RuntimeError, OSError) as e:
        reason = " ".join(str(e).split())
        raise ScorerError(f"bleu: tokenizer {tokenize!r} is unavailable: {reason}") from e


class ChrfScorer(SacreScorer):
    """chrF (character n-grams, whitespace ignored, so it suits Chinese as is);
    ``word_order=2`` gives chrF++."""

    name = "chrf"

    def __init__(self, *, lowercase: bool = False, word_order: int = 0):
        if word_order < 0:
            raise ScorerError(f"chrf: word_order must be 0 or more, got {word_order}")
        chrf = CHRF(lowercase=lowercase, word_order=word_order)
        self._sentence = self._corpus = {"chrf": chrf}

    @classmethod
    def _params(cls, fields: Mapping[str, str]) -> dict[str, Any]:
        return {**super()._params(fields), "word_order": int(fields.get("nw", "0"))}


_VERSION = re.compile(r"(?P<name>bleu|chrf)@[^+]*\+sacrebleu\[(?P<signature>[^\]]*)\]")


@functools.lru_cache(maxsize=64)
def scorer_from_version(version: str) -> SacreScorer:
    """The bleu or chrf scorer that wrote ``version`` (a stored ``Score.version``).

    The version string carries sacrebleu's signature, so a run's results say with which
    parameters they were scored, and corpus scores computed later from the stored outputs
    use exactly those: nothing is stored per case for them. A signature these scorers
    cannot reproduce field by field (another sacrebleu's fields, a parameter they lack)
    is an error, never a guess. Cached: a scorer holds its tokenizers' caches.
    """
    name, fields = _signature_fields(version)
    factory = BleuScorer if name == "bleu" else ChrfScorer
    try:
        scorer = factory(**factory._params(fields))
    except (ValueError, ScorerError) as e:
        raise ScorerError(f"cannot rebuild the scorer of {version!r}: {e}") from None
    _, rebuilt = _signature_fields(scorer.version_string)
    if {**rebuilt, "version": None} != {**fields, "version": None}:
        raise ScorerError(
            f"cannot rebuild the scorer of {version!r}: its parameters give "
            f"{scorer.version_string!r}"
        )
    return scorer


def _signature_fields(version: str) -> tuple[str, dict[str, str]]:
    """``chrf@1+sacrebleu[case:mixed|nw:2]`` as ``("chrf", {"case": "mixed", "nw": "2"})``."""
    match = _VERSION.fullmatch(version)
    if match is None:
        raise ScorerError(f"not a bleu or chrf version string: {version!r}")
    parts = (part.partition(":") for part in match["signature"].split("|"))
    return match["name"], {key: value for key, _, value in parts}
