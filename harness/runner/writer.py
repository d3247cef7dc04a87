"""Finished cases to the results store in batches: one transaction per :data:`MAX_CASES`
results or per :data:`MAX_DELAY` seconds, whichever comes first.

A SQLite commit per finished case cost more CPU than the rest of the run loop. Batching
keeps the crash guarantee because each answer is committed to the response cache the
moment it arrives, before it is scored (:meth:`harness.runner.channel.Channel.call`): a
``kill -9`` loses at most the results still in the batch, and the resumed run answers
those cases from the cache, paying for none of them again. Ctrl-C and SIGTERM cancel the
run, whose ``finally`` flushes the batch (:meth:`ResultWriter.flush`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from harness.results.models import CaseResult
from harness.results.store import ResultStore

#: Results committed together at most; at high throughput the delay below rarely fills one.
MAX_CASES = 100
#: Seconds a finished case waits for its commit at most.
MAX_DELAY = 0.05


class ResultWriter:
    """Buffers results and commits them to ``store`` together (on the running event loop)."""

    def __init__(
        self,
        store: ResultStore,
        max_cases: int | None = None,
        max_delay: float | None = None,
        on_flush: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.max_cases = MAX_CASES if max_cases is None else max_cases
        self.max_delay = MAX_DELAY if max_delay is None else max_delay
        #: Called after each commit (what else is written in the same rhythm: stored scores).
        self.on_flush = on_flush
        self._pending: list[CaseResult] = []
        self._timer: asyncio.TimerHandle | None = None
        self._error: BaseException | None = None

    def add(self, result: CaseResult) -> None:
        """Queue ``result``; commit now when the batch is full, else within ``max_delay``."""
        self._raise_deferred()
        self._pending.append(result)
        if len(self._pending) >= self.max_cases:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.max_delay, self._on_timer)

    def flush(self) -> None:
        """Commit what is queued (at the end of a run, interrupted or not)."""
        self._raise_deferred()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            self.store.add_results(batch)
        if self.on_flush is not None:
            self.on_flush()

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self.flush()
        except Exception as e:  # a timer's error would only be logged: the next call raises it
            self._error = e

    def _raise_deferred(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error
