"""Loglikelihood of continuations, and of whole texts in rolling windows, as lm-eval's HFLM.

The tokens scored are HFLM's, so the numbers equal lm-eval's: trailing spaces of a context
move to its continuation, the whole string is encoded and the context's tokens split off,
an empty context is the prefix token (BOS, else EOS), over-long inputs lose tokens on the
left, and long texts are cut with ``lm_eval.utils.get_rolling_token_windows``. The
computing is leaner than HFLM's: requests with the same model input share one forward row
(four one-token answers of a question cost one row, as with HFLM's logits cache), rows are
sorted by length so batches pad little, and the vocabulary projection and softmax run only
at the positions that are scored rather than over the whole sequence.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from harness.errors import PermanentProviderError

#: HFLM's context length when neither the config nor the tokenizer names one.
DEFAULT_MAX_LENGTH = 2048

TokenPair = tuple[list[int], list[int]]


@dataclass(frozen=True)
class RollingScore:
    """A text's summed token loglikelihood over every window, and how many tokens it has."""

    loglikelihood: float
    tokens: int
    windows: int


class LoglikelihoodScorer:
    """Scores token sequences with a loaded causal LM; used from one thread only."""

    def __init__(
        self, model: Any, tokenizer: Any, batch_size: int, max_length: int | None = None
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self._max_length = max_length

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

    def loglikelihood(self, pairs: list[tuple[str, str]]) -> list[tuple[float, bool]]:
        """``(sum of log p(continuation | context), whether greedy decoding gives it)``."""
        return self.score([self.encode_pair(c, x) for c, x in pairs])

    def loglikelihood_rolling(self, texts: list[str]) -> list[RollingScore]:
        """Each text's loglikelihood from its first token on, in disjoint windows of at most
        ``max_length`` tokens (lm-eval's rolling method, context_len 1)."""
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
        totals = [0.0] * len(texts)
        counts = [0] * len(texts)
        for owner, (logprob, _) in zip(owners, self.score(windows), strict=True):
            totals[owner] += logprob
            counts[owner] += 1
        return [RollingScore(t, n, w) for t, n, w in zip(totals, lengths, counts, strict=True)]

    def score(self, requests: list[TokenPair]) -> list[tuple[float, bool]]:
        """Token-level scoring: one forward row per distinct model input, longest first."""
        for context, continuation in requests:
            if not context or not continuation:
                raise PermanentProviderError("loglikelihood needs a context and a continuation")
            if len(continuation) > self.max_length:
                raise PermanentProviderError(
                    f"a continuation of {len(continuation)} tokens exceeds the model's "
                    f"{self.max_length}"
                )
        keys = [(tuple((c + x)[-(self.max_length + 1) :][:-1]), tuple(x)) for c, x in requests]
        wanted: dict[tuple[int, ...], set[tuple[int, ...]]] = {}
        for row, cont in keys:
            wanted.setdefault(row, set()).add(cont)
        rows = sorted(wanted, key=lambda row: (-len(row), row))
        scores: dict[tuple[tuple[int, ...], tuple[int, ...]], tuple[float, bool]] = {}
        for start in range(0, len(rows), self.batch_size):
            scores.update(
                self._forward({r: wanted[r] for r in rows[start : start + self.batch_size]})
            )
        return [scores[key] for key in keys]

    def _forward(
        self, wanted: dict[tuple[int, ...], set[tuple[int, ...]]]
    ) -> dict[tuple[tuple[int, ...], tuple[int, ...]], tuple[float, bool]]:
        """One right-padded forward pass over ``wanted``'s rows (no mask: the padding comes
        after every scored position, as in HFLM), projected to the vocabulary only at the
        positions that predict a continuation token."""
        import torch

        rows = list(wanted)
        batch = torch.zeros((len(rows), len(rows[0])), dtype=torch.long)
        for i, row in enumerate(rows):
            batch[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        # The logit at position p predicts token p + 1: a continuation of k tokens is
        # predicted at the row's last k positions.
        longest = {row: max(map(len, conts)) for row, conts in wanted.items()}
        positions = sorted({len(row) - k for row in rows for k in range(1, longest[row] + 1)})
        keep = torch.tensor(positions, dtype=torch.long)
        with torch.inference_mode():
            if self._keeps_logits:
                logits = self.model(batch.to(self.model.device), logits_to_keep=keep).logits
            else:
                logits = self.model(batch.to(self.model.device)).logits[:, keep]
            logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()
        column = {p: j for j, p in enumerate(positions)}
        out = {}
        for i, row in enumerate(rows):
            for cont in wanted[row]:
                scored = logprobs[i, [column[len(row) - len(cont) + k] for k in range(len(cont))]]
                target = torch.tensor(cont, dtype=torch.long)
                greedy = bool((scored.argmax(dim=-1) == target).all())
                out[(row, cont)] = (float(scored.gather(1, target[:, None]).sum()), greedy)
        return out
