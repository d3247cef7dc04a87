"""``harness run --shard i/n``: n jobs (CI shards, machines) split one suite into one run.

Every job plans the whole suite, so all of them agree on the run's identity (its
fingerprint and case count); each runs a deterministic 1/n of the cases: every n-th case
of the plan, whose order is stable. They write to one results store (a shared PostgreSQL
server, ``--db``) under one run id that the jobs name together (``--run-id``): the first
job to arrive creates the run, the others join it. The run is complete when every case has
a result; the job that completes it checks the gates and runs the suite's analyses, the
others report their part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.cases import Case
from harness.results.store import PART

_SPEC = re.compile(r"(\d+)/(\d+)")


@dataclass(frozen=True)
class Shard:
    """The ``index``-th (1-based) of ``count`` shards."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"shard {self}: N must be at least 1")
        if not 1 <= self.index <= self.count:
            raise ValueError(f"shard {self}: I must be between 1 and {self.count}")

    def pick(self, cases: list[Case]) -> list[Case]:
        """This shard's cases: every ``count``-th, from the ``index``-th. Round robin keeps
        the shards within one case of each other and mixes providers and prompts evenly."""
        return cases[self.index - 1 :: self.count]

    @property
    def name(self) -> str:
        """``shard-2-of-4``: in its lock's key and its report's file name."""
        return f"shard-{self.index}-of-{self.count}"

    def lock_key(self, run_id: str) -> str:
        """What this shard claims in the store: its part of the run, not the whole run."""
        return f"{run_id}{PART}{self.name}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"2/4"`` -> the second of four shards; anything else is a :class:`ValueError`."""
    match = _SPEC.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"expected I/N (e.g. --shard 2/4), got {text!r}")
    return Shard(int(match[1]), int(match[2]))
