"""Loglikelihood of continuations, and of whole texts in rolling windows, as lm-eval's HFLM.

The tokens scored are HFLM's, so the numbers equal lm-eval's: trailing spaces of a context
move to its continuation, the whole string is encoded and the context's tokens split off,
an empty context is the prefix token (BOS, else EOS), over-long inputs lose tokens on the
left, and long texts are cut with ``lm_eval.utils.get_rolling_token_windows``. The
computing is leaner than HFLM's: requests with the same model input share one forward row
(four one-token answers of a question cost one row, as with HFLM's logits cache), rows are
sorted by length so batches pad little, and the vocabulary projection and softmax run only
at the positions that are scored rather than over the whole sequence.

Rows that start with the same tokens (a subject's questions after one few-shot prefix)
share that prefix's forward pass: it runs once, and each batch runs only the rows' own
suffix tokens on a copy of the prefix's key/value cache. The prefix is found in the rows'
own tokens (the longest run of leading tokens that sorted neighbours have in common), so
it is a prefix of every row it serves by construction, whatever the tokenizer does where
the few-shot text meets the question; a row that shares too little runs in full.

The batches are planned first (:meth:`LoglikelihoodScorer.plan`) and run after
(:meth:`LoglikelihoodScorer.run`), so another copy of the model (a Ray worker) can run
some of them and score exactly what this one would.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise
from typing import Any

import numpy as np

from harness.errors import PermanentProviderError

#: HFLM's context length when neither the config nor the tokenizer names one.
DEFAULT_MAX_LENGTH = 2048
#: The fewest leading tokens worth a forward pass of their own, shared by several rows.
MIN_SHARED_PREFIX = 16

TokenPair = tuple[list[int], list[int]]
Row = tuple[int, ...]
Scores = dict[tuple[Row, Row], tuple[float, bool]]
#: Called with (rows scored so far, rows in all) after each forward batch.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RollingScore:
    """A text's summed token loglikelihood over every window, and how many tokens it has."""

    loglikelihood: float
    tokens: int
    windows: int


class LoglikelihoodScorer:
    """Scores token sequences with a loaded causal LM; used from one thread only."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        batch_size: int,
        max_length: int | None = None,
        *,
        reuse_prefix: bool = True,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self._max_length = max_length
        #: Run a shared prefix once (False: every row in full, the reference path).
        self.reuse_prefix = reuse_prefix
        #: Whether the model's cache can be extended; known after the first prefix.
        self._extendable: bool | None = None
        #: The prefix computed last, kept for the next batches of its group.
        self._last: CachedPrefix | None = None

    @cached_property
    def max_length(self) -> int:
        """The longest model input: as given, else lm-eval's resolution from the config."""
        if self._max_length is not None:
            return self._max_length
        from lm_eval.models.utils import resolve_max_length

        return resolve_max_length(self.model.config, self.tokenizer, default=DEFAULT_MAX_LENGTH)

    @cached_property
    def prefix_token_id(self) -> int:
        bos = self.tokenizer.bos_token_id
        return bos if bos is not None else self.tokenizer.eos_token_id

    @cached_property
    def _keeps_logits(self) -> bool:
        """Whether the model can project only chosen positions (``logits_to_keep``)."""
        return "logits_to_keep" in inspect.signature(self.model.forward).parameters

    def encode(self, text: str, add_special_tokens: bool | None = None) -> list[int]:
        """HFLM's ``tok_encode``: the tokenizer's default special tokens, except that a text
        already starting with the prefix token gets none added."""
        kwargs = {} if add_special_tokens is None else {"add_special_tokens": add_special_tokens}
        if add_special_tokens is None and text.startswith(
            self.tokenizer.decode(self.prefix_token_id)
        ):
            kwargs["add_special_tokens"] = False
        return self.tokenizer.encode(text, **kwargs)

    def encode_pair(self, context: str, continuation: str) -> TokenPair:
        """HFLM's tokens for ``(context, continuation)``."""
        if not context:
            cont = self.encode(continuation, add_special_tokens=False)
            if cont and cont[0] == self.prefix_token_id:
                return cont[:1], cont[1:]
            return [self.prefix_token_id], cont
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
        whole = self.encode(context + continuation)
        n_context = len(self.encode(context))
        return whole[:n_context], whole[n_context:]

    def loglikelihood(
        self, pairs: list[tuple[str, str]], progress: Progress | None = None
    ) -> list[tuple[float, bool]]:
        """``(sum of log p(continuation | context), whether greedy decoding gives it)``."""
        return self.score([self.encode_pair(c, x) for c, x in pairs], progress)

    def plan_pairs(self, pairs: list[tuple[str, str]]) -> Plan:
        """The forward batches that score ``(context, continuation)`` pairs."""
        return self.plan([self.encode_pair(c, x) for c, x in pairs])

    def loglikelihood_rolling(self, texts: list[str]) -> list[RollingScore]:
        """Each text's loglikelihood from its first token on, in disjoint windows of at most
        ``max_length`` tokens (lm-eval's rolling method, context_len 1)."""
        windows = self.rolling_windows(texts)
        return windows.totals(self.score(windows.pairs))

    def rolling_windows(self, texts: list[str]) -> RollingWindows:
        """The token windows that :meth:`loglikelihood_rolling` scores."""
        from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

        windows: list[TokenPair] = []
        owners: list[int] = []
        lengths = []
        for i, text in enumerate(texts):
            tokens = self.encode(text)
            lengths.append(len(tokens))
            for window in get_rolling_token_windows(
                token_list=tokens,
                prefix_token=self.prefix_token_id,
                max_seq_len=self.max_length,
                context_len=1,
            ):
                windows.append(make_disjoint_window(window))
                owners.append(i)
        return RollingWindows(windows, owners, lengths)

    def score(
        self, requests: list[TokenPair], progress: Progress | None = None
    ) -> list[tuple[float, bool]]:
        """Token-level scoring: one forward row per distinct model input; rows sharing a
        prefix a group at a time, the others longest first."""
        return self.execute(self.plan(requests), progress)

    def execute(self, plan: Plan, progress: Progress | None = None) -> list[tuple[float, bool]]:
        """Run every batch of ``plan`` here, in order."""
        scores: Scores = {}
        done = 0
        for batch in plan.batches:
            scores.update(self.run(batch))
            done += len(batch.rows)
            if progress is not None:
                progress(done, plan.rows)
        return plan.results(scores)

    def plan(self, requests: list[TokenPair]) -> Plan:
        """The batches that score ``requests``: the same ones wherever they run, so a batch
        sent to another copy of the model scores what it would score here."""
        for context, continuation in requests:
            if not context or not continuation:
                raise PermanentProviderError("loglikelihood needs a context and a continuation")
            if len(continuation) > self.max_length:
                raise PermanentProviderError(
                    f"a continuation of {len(continuation)} tokens exceeds the model's "
                    f"{self.max_length}"
                )
        keys = [(tuple((c + x)[-(self.max_length + 1) :][:-1]), tuple(x)) for c, x in requests]
        wanted: dict[Row, set[Row]] = {}
        for row, cont in keys:
            wanted.setdefault(row, set()).add(cont)
        return Plan(keys, list(self._batches(wanted)), len(wanted))

    def run(self, batch: Batch) -> Scores:
        """One batch's forward pass, on its prefix's cache (computed here unless it is the
        last one this scorer computed)."""
        prefix = None if batch.prefix is None else self._prefix(batch.prefix)
        if batch.prefix is not None and prefix is None:  # only a bug can get here
            raise PermanentProviderError("a batch planned on a cached prefix got none")
        return self._forward(batch.rows, prefix)

    def _batches(self, wanted: dict[Row, set[Row]]) -> Iterator[Batch]:
        """Batches of rows, each with the shared prefix it runs on (None: in full). A
        group whose prefix cannot be cached (found on the first one) runs in full."""
        alone: list[Row] = []
        if self.reuse_prefix and wanted:
            scored = {row: max(map(len, conts)) for row, conts in wanted.items()}
            for group in prefix_groups(scored):
                prefix = group.rows[0][: group.length]
                if not group.length or not self._extends(prefix):
                    alone.extend(group.rows)
                    continue
                for rows in self._chunks(group.rows, wanted):
                    yield Batch(rows, prefix)
        else:
            alone = list(wanted)
        for rows in self._chunks(alone, wanted):
            yield Batch(rows)

    def _chunks(
        self, rows: Iterable[Row], wanted: dict[Row, set[Row]]
    ) -> Iterator[dict[Row, set[Row]]]:
        """``batch_size`` rows at a time, longest first (so a batch pads little)."""
        ordered = sorted(rows, key=lambda row: (-len(row), row))
        for start in range(0, len(ordered), self.batch_size):
            yield {row: wanted[row] for row in ordered[start : start + self.batch_size]}

    def _extends(self, tokens: Row) -> bool:
        """Whether the model's cache can be extended, found by caching the first prefix
        (which its batches then use)."""
        if self._extendable is None:
            self._prefix(tokens)
        return bool(self._extendable)

    def _prefix(self, tokens: Row) -> CachedPrefix | None:
        """``tokens`` run once (batch of one), kept as their key/value cache until another
        prefix is asked for; None when the model's cache is not a plain growing one that a
        later pass can extend (a sliding window, a recurrent state)."""
        import torch

        if self._extendable is False:
            return None
        if self._last is not None and self._last.tokens == tokens:
            return self._last
        self._last = None  # free the previous prefix's cache before computing this one
        keep = {"logits_to_keep": 1} if self._keeps_logits else {}
        ids = torch.tensor([tokens], dtype=torch.long, device=self.model.device)
        with torch.inference_mode():
            cache = self.model(ids, use_cache=True, **keep).past_key_values
        self._extendable = _extendable(cache, len(tokens))
        if self._extendable:
            self._last = CachedPrefix(tokens, cache)
        return self._last

    def _forward(self, wanted: dict[Row, set[Row]], prefix: CachedPrefix | None = None) -> Scores:
        """One right-padded forward pass over ``wanted``'s rows (no mask: the padding comes
        after every scored position, as in HFLM), projected to the vocabulary only at the
        positions that predict a continuation token. With a ``prefix``, only the tokens
        after it run, on a copy of its cache."""
        import torch

        start = 0 if prefix is None else len(prefix.tokens)
        rows = list(wanted)
        batch = torch.zeros((len(rows), max(map(len, rows)) - start), dtype=torch.long)
        for i, row in enumerate(rows):
            batch[i, : len(row) - start] = torch.tensor(row[start:], dtype=torch.long)
        # The logit at position p predicts token p + 1: a continuation of k tokens is
        # predicted at the row's last k positions.
        longest = {row: max(map(len, conts)) for row, conts in wanted.items()}
        ends = {row: len(row) - start for row in rows}
        positions = sorted({ends[row] - k for row in rows for k in range(1, longest[row] + 1)})
        keep = torch.tensor(positions, dtype=torch.long)
        inputs: dict[str, Any] = {"input_ids": batch.to(self.model.device)}
        if prefix is None:
            inputs["use_cache"] = False
        else:
            inputs |= {"use_cache": True, "past_key_values": prefix.copies(len(rows))}
        with torch.inference_mode():
            if self._keeps_logits:
                logits = self.model(**inputs, logits_to_keep=keep).logits
            else:
                logits = self.model(**inputs).logits[:, keep]
            logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()
        column = {p: j for j, p in enumerate(positions)}
        out = {}
        for i, row in enumerate(rows):
            for cont in wanted[row]:
                at = [column[ends[row] - len(cont) + k] for k in range(len(cont))]
                scored = logprobs[i, at]
                target = torch.tensor(cont, dtype=torch.long)
                greedy = bool((scored.argmax(dim=-1) == target).all())
                out[(row, cont)] = (float(scored.gather(1, target[:, None]).sum()), greedy)
        return out


@dataclass(frozen=True)
class Batch:
    """One forward pass: rows (each with the continuations scored on it), and the leading
    tokens they share that run first, once, as a cached prefix (None: rows in full)."""

    rows: dict[Row, set[Row]]
    prefix: Row | None = None


@dataclass(frozen=True)
class Plan:
    """How a list of requests is scored: its batches, and which row and continuation
    answers each request."""

    keys: list[tuple[Row, Row]]
    batches: list[Batch]
    #: Distinct rows in all (what progress counts).
    rows: int

    def results(self, scores: Scores) -> list[tuple[float, bool]]:
        """Each request's score, from every batch's scores."""
        return [scores[key] for key in self.keys]


@dataclass(frozen=True)
class RollingWindows:
    """Texts cut into windows: the windows, the text each belongs to, each text's length."""

    pairs: list[TokenPair]
    owners: list[int]
    lengths: list[int]

    def totals(self, scores: list[tuple[float, bool]]) -> list[RollingScore]:
        """Each text's summed window scores."""
        totals = [0.0] * len(self.lengths)
        counts = [0] * len(self.lengths)
        for owner, (logprob, _) in zip(self.owners, scores, strict=True):
            totals[owner] += logprob
            counts[owner] += 1
        return [RollingScore(t, n, w) for t, n, w in zip(totals, self.lengths, counts, strict=True)]


@dataclass(frozen=True, eq=False)
class CachedPrefix:
    """The key/value cache of a prefix's tokens, for a batch of one."""

    tokens: Row
    cache: Any

    def copies(self, n: int) -> Any:
        """A fresh cache holding the prefix ``n`` times: a forward pass extends the cache
        it is given, so each batch needs its own."""
        cache = copy.deepcopy(self.cache)
        cache.batch_repeat_interleave(n)
        return cache


def _extendable(cache: Any, length: int) -> bool:
    """A transformers ``DynamicCache`` of plain growing layers holding ``length`` tokens."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    return (
        isinstance(cache, DynamicCache)
        and all(type(layer) is DynamicLayer for layer in cache.layers)
        and cache.get_seq_length() == length
    )


@dataclass(frozen=True)
class PrefixGroup:
    """Rows whose first ``length`` tokens are the same and come before every scored
    position (0: a row that runs alone)."""

    length: int
    rows: tuple[Row, ...]


def prefix_groups(scored: dict[Row, int], minimum: int = MIN_SHARED_PREFIX) -> list[PrefixGroup]:
    """``scored``'s rows (each with how many of its last positions are scored) in groups
    that share a prefix of at least ``minimum`` tokens, chosen to save the most tokens.

    Sorted, rows with the same first n tokens are neighbours, and the tokens a run of
    neighbours shares is the least that adjacent ones share. A run as one group saves
    (rows - 1) x its shared length; otherwise it is split where adjacent rows share least,
    and each side decided the same way. So two subjects whose prompts share only their
    opening words are two groups, each with its own few-shot prefix.
    """
    rows = sorted(scored)
    if not rows:
        return []
    usable = np.array([len(row) - scored[row] for row in rows])
    common = np.array([0, *(_common_length(a, b) for a, b in pairwise(rows))])
    return [
        PrefixGroup(length, tuple(rows[lo : hi + 1]))
        for lo, hi, length in _best_spans(common, usable, minimum)
    ]


def _best_spans(common: Any, usable: Any, minimum: int) -> list[tuple[int, int, int]]:
    """``(first, last, shared length)`` spans of the sorted rows (``common[i]``: the tokens
    rows i - 1 and i share; ``usable[i]``: row i's tokens before its scored ones),
    decided bottom-up over the splits, without recursion (a split can leave one row)."""
    split_at: dict[tuple[int, int], int] = {}
    saved: dict[tuple[int, int], int] = {}
    whole: dict[tuple[int, int], int] = {}
    stack = [(0, len(usable) - 1, False)]
    while stack:
        lo, hi, children_done = stack.pop()
        if lo == hi:
            saved[lo, hi] = 0
            continue
        k = split_at.setdefault((lo, hi), lo + 1 + int(np.argmin(common[lo + 1 : hi + 1])))
        if not children_done:
            stack += [(lo, hi, True), (lo, k - 1, False), (k, hi, False)]
            continue
        shared = int(min(common[k], usable[lo : hi + 1].min()))
        as_one = (hi - lo) * shared if shared >= minimum else 0
        apart = saved[lo, k - 1] + saved[k, hi]
        saved[lo, hi] = max(as_one, apart)
        if as_one > apart:
            whole[lo, hi] = shared
    spans = []
    todo = [(0, len(usable) - 1)]
    while todo:
        lo, hi = todo.pop()
        if lo == hi or (lo, hi) in whole:
            spans.append((lo, hi, whole.get((lo, hi), 0)))
        else:
            k = split_at[lo, hi]
            todo += [(k, hi), (lo, k - 1)]
    return spans


def _common_length(a: Row, b: Row) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = min(len(a), len(b))
    differ = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
    return int(differ[0]) if differ.size else n
