"""The progress bar of ``harness bench``: per model, questions scored, questions/s and
the time left, on stderr.

Only on a terminal: piped or in CI the command prints its "Benchmarking ..." lines and
nothing that redraws. Its own module so that building the command's parser does not
import rich's progress machinery (start-up time).
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from harness.bench.run import BenchHooks
from harness.console import escape

#: Seconds of samples behind the rate: a batch of long 5-shot prompts can take tens of
#: seconds on a CPU, and rich's default 30 s would often hold one sample and no rate.
RATE_WINDOW_S = 300


class QuestionRate(ProgressColumn):
    """Questions per second: rich's estimate over the last ``RATE_WINDOW_S`` seconds
    while running, the overall rate once finished."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        text = "-- questions/s" if speed is None else f"{speed:.2f} questions/s"
        return Text(text, style="progress.data.speed")


class BenchProgress:
    """A context manager whose :meth:`hooks` drive one bar per benchmarked model."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            QuestionRate(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=not console.is_terminal,
            speed_estimate_period=RATE_WINDOW_S,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> BenchProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def hooks(self) -> BenchHooks:
        return BenchHooks(model=self.model, warning=self.warning, progress=self.advance)

    def model(self, model_id: str) -> None:
        """A new model: its line, and its bar (its length unknown until scoring starts)."""
        self.console.print(f"Benchmarking [bold]{escape(model_id)}[/] ...")
        self.task = self.progress.add_task(escape(model_id), total=None)

    def warning(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {escape(message)}")

    def advance(self, done: int, total: int) -> None:
        """From the scoring thread (rich's updates take a lock)."""
        if self.task is not None:
            self.progress.update(self.task, completed=done, total=total)
