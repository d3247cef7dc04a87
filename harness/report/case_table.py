"""The run report's case table: every case as compact columns, texts within a budget.

Built like the comparison report's island (:mod:`harness.report.compare_html`), so the
page stays small and quick at any size:

* every case is in the island as columns: status, case set, prompt, provider, model,
  row id, tags, score values and verdicts, latency, cost (repeated strings interned);
* its texts (messages, output, expected answers, error, score notes) only for the
  cases that fit ``budget`` bytes, in table order (failures first), so a 100k-case run
  keeps the failures' outputs and the report stays under 15 MB;
* each text at most once: a score's ``answer`` equal to the output is dropped, score notes
  (and the vars, which the grid view shows as its row headers) are cut at
  :data:`NOTE_CHARS`, and a text longer than :data:`MAX_TEXT` is cut with a note. The page
  shows the first few KB of a long text and the rest on demand.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import islice
from typing import Any

from harness.jsontext import utf8_safe
from harness.report.page import Strings, Written, clip, json_text, rounded
from harness.results.models import CaseResult, Score

#: The statuses in table order (the island carries each case's index into this).
STATUSES = ("fail", "error", "pass")
#: Bytes (UTF-8 JSON) of case texts kept in the island, over every case that keeps them.
BUDGET = 4_000_000
#: A longer text (an output, a message) is cut in the island, the cut said.
MAX_TEXT = 1 << 20
#: Score answers, explanations and errors, verdict labels and reasons: short notes.
NOTE_CHARS = 1000


def status(r: CaseResult) -> str:
    """The case's verdict, or "error" when its call failed (so there is nothing to judge)."""
    if r.error is not None:
        return "error"
    return "pass" if r.passed else "fail"


def case_table(results: Iterable[CaseResult], budget: int = BUDGET) -> dict[str, Any]:
    """The island of the case table: columns over every case, failures first, and the texts
    of the cases that fit ``budget``."""
    table = CaseTable(budget)
    for r in results:
        table.add(r)
    island = table.island()
    return {**island, "texts": island["texts"].values()}


_KINDS = ("sets", "prompts", "providers", "models", "tags", "assertions")
#: The columns of one string kind each (their values are codes into that kind's table).
_CODED = (("set", "sets"), ("prompt", "prompts"), ("provider", "providers"), ("model", "models"))
_VERDICT = {True: 1, False: 0, None: None}


class CaseTable:
    """The case table built one case at a time, so a stored run streams through it.

    The table's order is failures, then errors, then passes, each in the order the cases
    come: each status keeps its own compact columns (its strings coded in its own tables,
    merged in that order at the end) and the texts of its cases while they may still fit
    the budget, so about ``budget`` bytes of texts are ever held.
    """

    def __init__(self, budget: int = BUDGET) -> None:
        self.budget = budget
        self._parts = {s: _Part() for s in STATUSES}
        #: Per status, the parts of the statuses before it in table order.
        self._ahead = {s: [self._parts[a] for a in STATUSES[:i]] for i, s in enumerate(STATUSES)}

    def add(self, r: CaseResult) -> None:
        kind = status(r)
        part = self._parts[kind]
        part.add(r)
        ahead = self._ahead[kind]
        if part.full or any(p.full for p in ahead):
            return  # past the budget, whatever comes before it
        text = json_text(_texts(r))  # written once: its size, then the island's text
        size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        if sum(p.spent for p in ahead) + part.spent + size > self.budget:
            part.full = True
            return
        part.spent += size
        part.texts.append((text, size))

    def island(self) -> dict[str, Any]:
        """The island: every case's columns in table order, and the texts within budget.
        Called once: the columns of each status are handed over as they are merged."""
        texts = self._kept()
        strings = Strings(*_KINDS)
        columns: dict[str, list[Any]] = {
            name: [] for name in ("status", "set", "prompt", "provider", "model", "row", "tags",
                                  "scores", "latency", "cost", "cached")
        }  # fmt: skip
        for rank, kind in enumerate(STATUSES):
            part = self._parts.pop(kind)
            codes = {k: strings.codes(k, values) for k, values in part.strings.tables().items()}
            columns["status"] += [rank] * len(part.row)
            for name, table in _CODED:
                columns[name] += [codes[table][c] for c in getattr(part, name)]
            columns["row"] += part.row
            columns["tags"] += [[codes["tags"][c] for c in tags] for tags in part.tags]
            columns["scores"] += part.scores(codes["assertions"])
            for name in ("latency", "cost", "cached"):
                columns[name] += getattr(part, name)
        return {"strings": strings.tables(), "cases": columns, "texts": texts}

    def _kept(self) -> Written:
        """The texts of the first cases in table order whose sizes add up to the budget."""
        texts: list[str] = []
        spent = 0
        for part in self._parts.values():
            for text, size in part.texts:
                spent += size
                if spent > self.budget:
                    return Written(texts)
                texts.append(text)
            if part.full:
                break
        return Written(texts)


class _Part:
    """The cases of one status as compact columns, with string tables of their own."""

    def __init__(self) -> None:
        self.strings = Strings(*_KINDS)
        self.set: list[int] = []
        self.prompt: list[int] = []
        self.provider: list[int] = []
        self.model: list[int] = []
        self.row: list[str] = []
        self.tags: list[tuple[int, ...]] = []
        #: Scores per case, then each score's assertion code, value and verdict, flat.
        self.n_scores: list[int] = []
        self.kinds: list[int] = []
        self.values: list[float | None] = []
        self.verdicts: list[int | None] = []
        self.latency: list[float | None] = []
        self.cost: list[float | None] = []
        self.cached: list[int] = []
        #: The texts kept (as JSON, with their sizes), their bytes, and whether no more fit.
        self.texts: list[tuple[str, int]] = []
        self.spent = 0
        self.full = False
        #: Per score's (name, inverted, weight, threshold, higher_is_better): its assertion
        #: as first made in this part, for the many cases that share it.
        self._assertions: dict[tuple[Any, ...], tuple[str, float | None, str]] = {}

    def add(self, r: CaseResult) -> None:
        code = self.strings.code
        self.set.append(code("sets", r.case_set))
        self.prompt.append(code("prompts", r.prompt_id))
        self.provider.append(code("providers", r.provider_id))
        self.model.append(code("models", r.model))
        self.row.append(r.row_id)
        self.tags.append(tuple(code("tags", t) for t in r.tags))
        self.n_scores.append(len(r.scores))
        for s in r.scores:
            self.kinds.append(code("assertions", self._assertion(s)))
            self.values.append(rounded(s.value, 3))
            self.verdicts.append(_VERDICT[s.passed])
        self.latency.append(rounded(r.latency_s, 3))
        self.cost.append(rounded(r.cost_usd, 6))
        self.cached.append(int(r.cached))

    def _assertion(self, s: Score) -> tuple[str, float | None, str]:
        """An assertion as the table names it: (its label, threshold, how a value passes:
        "≥"/"≤", or for an inverted one the strict "<"/">", since the scorer's own boundary
        now fails)."""
        key = (s.name, s.inverted, s.weight, s.threshold, s.higher_is_better)
        found = self._assertions.get(key)
        if found is None:
            op = (
                ("≥" if s.higher_is_better else "≤")
                if not s.inverted
                else (">" if s.higher_is_better else "<")
            )
            found = self._assertions[key] = (s.label, rounded(s.threshold, 3), op)
        return found

    def scores(self, codes: list[int]) -> list[list[list[Any]]]:
        """[assertion, value, verdict] per score of each case, ``codes`` mapping its own
        assertion codes to the merged table's."""
        out: list[list[list[Any]]] = []
        flat = zip(self.kinds, self.values, self.verdicts, strict=True)
        for n in self.n_scores:
            out.append([[codes[k], value, verdict] for k, value, verdict in islice(flat, n)])
        return out


def _texts(r: CaseResult) -> dict[str, Any]:
    """The case's texts, each once: what the page shows when the case is opened. Tool calls
    and the contexts an app retrieved only where the case has them (most have none)."""
    texts: dict[str, Any] = {
        "case_id": r.case_id,
        "description": _long(r.description),
        "vars": [[name, _var(value)] for name, value in r.vars.items()],
        "messages": [[m.role, _long(m.content)] for m in r.messages],
        "expected": [_long(e) for e in r.expected],
        "output": _long(r.output),
        "error": _long(r.error),
        "notes": [_notes(s, r.output) for s in r.scores],
    }
    if r.tool_calls:
        texts["tool_calls"] = [_tool_call(call) for call in r.tool_calls]
    if r.contexts:
        texts["contexts"] = [_long(c) for c in r.contexts]
    return texts


def _var(value: Any) -> str | None:
    """A var as the grid's row header shows it: text as written, other values as JSON."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return clip(_long(text), NOTE_CHARS)


def _tool_call(call: dict[str, Any]) -> list[str | None]:
    """[function name, arguments] of a tool call as the page shows it: parsed arguments as
    indented JSON, else the text as written (the ``openai`` provider's ``arguments_raw`` for
    arguments that are not JSON, or OpenAI's own ``{function: {name, arguments}}``)."""
    function = call["function"] if isinstance(call.get("function"), dict) else call
    name, arguments = function.get("name"), function.get("arguments")
    if arguments is None:
        arguments = call.get("arguments_raw")
    if not isinstance(arguments, str | None):
        arguments = json.dumps(arguments, ensure_ascii=False, indent=2)
    return [_long(str(name)), _long(arguments)]


def _notes(s: Score, output: str | None) -> list[Any]:
    """[answer, explanation, error, verdicts] of one score, cut short; an answer that only
    repeats the output is left out (the output is in the island already)."""
    answer = None if s.answer == output else clip(s.answer, NOTE_CHARS)
    verdicts = [
        [str(v.get("verdict")), clip(str(v.get("label", "")), NOTE_CHARS),
         clip(v.get("reason") and str(v["reason"]), NOTE_CHARS)]
        for v in s.metadata.get("verdicts") or []
    ]  # fmt: skip
    return [
        answer,
        clip(s.explanation, NOTE_CHARS),
        clip(s.error, NOTE_CHARS),
        verdicts,
    ]


def _long(text: str | None) -> str | None:
    """A text kept whole up to :data:`MAX_TEXT` characters; beyond, cut and the cut said. A
    lone surrogate shows as its visible ``\\udXXX`` escape, as in the exports."""
    if text is None:
        return None
    text = utf8_safe(text)
    if len(text) <= MAX_TEXT:
        return text
    rest = len(text) - MAX_TEXT
    return f"{text[:MAX_TEXT]}\n… [{rest:,} more characters not kept in this report]"
