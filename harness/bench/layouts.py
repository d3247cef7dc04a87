"""The official file layouts of MMLU, C-Eval and CMMLU, read into rows without touching the text.

Three CSV dialects, one reader::

    DIR/mmlu/{dev,test}/SUBJECT_{dev,test}.csv  no header; question,A,B,C,D,answer; LF
    DIR/ceval/{dev,val}/SUBJECT_{dev,val}.csv   id,question,A,B,C,D,answer[,explanation]; CRLF
    DIR/cmmlu/{dev,test}/SUBJECT.csv            ,Question,A,B,C,D,Answer (unnamed index column)

A file has a header when its first record names the columns (any case); otherwise its
first six columns are question, A, B, C, D, answer. Quoted fields keep their newlines
(CRLF too), and nothing is normalised: CMMLU's Kangxi radicals (U+2F00 ``⼀``, ...) stay
as they are. Only the answer letter is stripped and upper-cased.
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from harness.errors import BenchError, SuiteError

LETTERS = ("A", "B", "C", "D")
_COLUMNS = ("question", *(c.lower() for c in LETTERS), "answer")


@dataclass(frozen=True)
class Layout:
    """Where a benchmark keeps a subject's few-shot (dev) and scored split."""

    name: str
    #: The split that is scored: MMLU and CMMLU ``test``; C-Eval ``val`` (its test has no answers).
    eval_split: str
    #: File name per subject; ``{split}`` is the split's folder name.
    pattern: str

    def path(self, root: Path, split: str, subject: str) -> Path:
        return root / self.name / split / self.pattern.format(subject=subject, split=split)

    def subjects(self, root: Path) -> list[str]:
        """Subjects with a scored-split file under ``root``."""
        folder = root / self.name / self.eval_split
        suffix = self.pattern.format(subject="", split=self.eval_split)
        return sorted(p.name[: -len(suffix)] for p in folder.glob(f"*{suffix}") if p.is_file())


LAYOUTS: dict[str, Layout] = {
    "mmlu": Layout("mmlu", "test", "{subject}_{split}.csv"),
    "ceval": Layout("ceval", "val", "{subject}_{split}.csv"),
    "cmmlu": Layout("cmmlu", "test", "{subject}.csv"),
}


@dataclass(frozen=True)
class Question:
    """One multiple-choice row: text exactly as in the file, answer one of A-D."""

    row_id: str
    question: str
    options: tuple[str, str, str, str]
    answer: str

    def record(self) -> dict[str, str]:
        """The normalised columns: row_id, question, A, B, C, D, answer."""
        return {
            "row_id": self.row_id,
            "question": self.question,
            **dict(zip(LETTERS, self.options, strict=True)),
            "answer": self.answer,
        }


@dataclass(frozen=True)
class Subject:
    """One ``benchmark:subject`` with its files (``dev`` is None when no shots are needed)."""

    benchmark: str
    subject: str
    eval_path: Path
    dev_path: Path | None

    @property
    def key(self) -> str:
        return f"{self.benchmark}:{self.subject}"


def read_rows(path: Path) -> list[Question]:
    """The rows of one benchmark CSV file in any of the three dialects."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            records = _records(f)
    except FileNotFoundError:
        raise BenchError(f"{path} does not exist") from None
    except UnicodeDecodeError as e:
        raise SuiteError(f"not UTF-8 ({e.reason} at byte {e.start})", path) from None
    except csv.Error as e:
        raise SuiteError(f"unreadable CSV: {e}", path) from None
    if not records:
        return []
    first = records[0][1]
    names = [c.strip().lower() for c in first]
    if all(c in names for c in _COLUMNS):
        index = [names.index(c) for c in _COLUMNS]
        id_col = names.index("id") if "id" in names else 0 if names[0] == "" else None
        body, width = records[1:], len(names)
    else:
        index, id_col, body, width = list(range(6)), None, records, 6
    rows = []
    for n, (line, cells) in enumerate(body):
        if len(cells) < width:
            raise SuiteError(f"expected {width} columns, found {len(cells)}", path, line)
        answer = cells[index[5]].strip().upper()
        if answer not in LETTERS:
            raise SuiteError(
                f"answer must be one of A, B, C, D; got {cells[index[5]]!r}", path, line
            )
        q, a, b, c, d = (cells[i] for i in index[:5])
        row_id = cells[id_col] if id_col is not None else str(n)
        rows.append(Question(row_id, q, (a, b, c, d), answer))
    return rows


def _records(f: TextIO) -> list[tuple[int, list[str]]]:
    """Non-blank CSV records, each with the line it starts on."""
    reader = csv.reader(f)
    out = []
    start = 1
    for cells in reader:
        if cells and any(c.strip() for c in cells):
            out.append((start, cells))
        start = reader.line_num + 1
    return out


def parse_tasks(spec: str | list[str], root: Path, *, need_dev: bool) -> list[Subject]:
    """``mmlu:abstract_algebra,ceval:computer_network`` (or a bare ``mmlu`` for every
    subject in the folder) as subjects with their files, checked to exist."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    items = [s.strip() for s in items if s.strip()]
    if not items:
        raise BenchError("no tasks given; use e.g. --tasks mmlu:abstract_algebra,ceval:law")
    check_root(root)
    subjects: list[Subject] = []
    for item in items:
        name, _, subject = item.partition(":")
        layout = _layout(name.strip().lower(), item)
        if not (root / layout.name).is_dir():
            raise BenchError(
                f"{root / layout.name} does not exist: {item} needs the official layout "
                f"{layout.path(root, '{dev,' + layout.eval_split + '}', 'SUBJECT')}"
            )
        available = layout.subjects(root)
        wanted = [subject.strip()] if subject.strip() else available
        if not wanted:
            raise BenchError(
                f"no {layout.name} subjects in {root / layout.name / layout.eval_split}"
            )
        for s in wanted:
            if s not in available:
                raise BenchError(_unknown_subject(layout, s, available, root))
            dev = layout.path(root, "dev", s)
            if need_dev and not dev.is_file():
                raise BenchError(f"{layout.name}:{s} has no few-shot file {dev}; use --shots 0")
            found = Subject(layout.name, s, layout.path(root, layout.eval_split, s), dev)
            if all(x.key != found.key for x in subjects):
                subjects.append(found if dev.is_file() else replace(found, dev_path=None))
    return subjects


def check_root(root: Path) -> None:
    if not root.is_dir():
        raise BenchError(
            f"data folder {root} does not exist; give --data the folder holding mmlu/, ceval/ "
            "and cmmlu/ in their official layouts (this repository's samples: ../shared/datasets)"
        )


def _layout(name: str, item: str) -> Layout:
    layout = LAYOUTS.get(name)
    if layout is None:
        close = difflib.get_close_matches(name, LAYOUTS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise BenchError(
            f"Unknown benchmark '{name}' in '{item}'.{hint} "
            f"Available: {', '.join(sorted(LAYOUTS))} (write BENCHMARK:SUBJECT)"
        )
    return layout


def _unknown_subject(layout: Layout, subject: str, available: list[str], root: Path) -> str:
    close = difflib.get_close_matches(subject, available, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    listed = ", ".join(available) if available else "none"
    return (
        f"Unknown {layout.name} subject '{subject}' (no "
        f"{layout.path(root, layout.eval_split, subject)}).{hint} Available: {listed}"
    )
