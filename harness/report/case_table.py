"""The run report's case table: every case as compact columns, texts within a budget.

Built like the comparison report's island (:mod:`harness.report.compare_html`), so the
page stays small and quick at any size:

* every case is in the island as columns: status, case set, prompt, provider, model,
  row id, tags, score values and verdicts, latency, cost (repeated strings interned);
* its texts (messages, output, expected answers, error, score notes) only for the
  cases that fit ``budget`` bytes, in table order (failures first), so a 100k-case run
  keeps the failures' outputs and the report stays under 15 MB;
* each text at most once: a score's ``answer`` equal to the output is dropped, score notes
  are cut at :data:`NOTE_CHARS`, and a text longer than :data:`MAX_TEXT` is cut with a
  note. The page shows the first few KB of a long text and the rest on demand.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from harness.jsontext import utf8_safe
from harness.report.page import Strings, clip, rounded
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
    return table.island()


#: One case's columns as :meth:`CaseTable.add` keeps them: set, prompt, provider, model,
#: row id, tags, [(assertion, value, verdict)], latency, cost, cached.
_Row = tuple[str, str, str, str, str, tuple[str, ...], tuple[Any, ...], Any, Any, int]


class CaseTable:
    """The case table built one case at a time, so a stored run streams through it.

    Cases are kept per status in the order they come (the table's order is failures, then
    errors, then passes, each in that order); a case's texts are kept only while they may
    still fit the budget, so at most about ``budget`` bytes of texts are ever held.
    """

    def __init__(self, budget: int = BUDGET) -> None:
        self.budget = budget
        self._rows: dict[str, list[_Row]] = {s: [] for s in STATUSES}
        self._texts: dict[str, list[tuple[dict[str, Any], int]]] = {s: [] for s in STATUSES}
        self._spent = dict.fromkeys(STATUSES, 0)
        #: Statuses whose next texts cannot fit: no later case of theirs (or after) is kept.
        self._full: set[str] = set()
        self._kinds: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def add(self, r: CaseResult) -> None:
        kind = status(r)
        scores = tuple((self._kind(s), rounded(s.value, 3), _VERDICT[s.passed]) for s in r.scores)
        self._rows[kind].append(
            (r.case_set, r.prompt_id, r.provider_id, r.model, r.row_id, tuple(r.tags), scores,
             rounded(r.latency_s, 3), rounded(r.cost_usd, 6), int(r.cached))
        )  # fmt: skip
        ahead = STATUSES[: STATUSES.index(kind)]
        if kind in self._full or self._full.intersection(ahead):
            return
        entry = _texts(r)
        size = _size(entry)
        if sum(self._spent[s] for s in ahead) + self._spent[kind] + size > self.budget:
            self._full.add(kind)  # past the budget already, whatever comes before it
            return
        self._spent[kind] += size
        self._texts[kind].append((entry, size))

    def island(self) -> dict[str, Any]:
        """The island: every case's columns in table order, and the texts within budget."""
        rows = [row for s in STATUSES for row in self._rows[s]]
        strings = Strings("sets", "prompts", "providers", "models", "tags", "assertions")
        columns = {
            "status": [i for i, s in enumerate(STATUSES) for _ in self._rows[s]],
            "set": strings.codes("sets", (row[0] for row in rows)),
            "prompt": strings.codes("prompts", (row[1] for row in rows)),
            "provider": strings.codes("providers", (row[2] for row in rows)),
            "model": strings.codes("models", (row[3] for row in rows)),
            "row": [row[4] for row in rows],
            "tags": [strings.codes("tags", row[5]) for row in rows],
            "scores": [_scores(row[6], strings) for row in rows],
            "latency": [row[7] for row in rows],
            "cost": [row[8] for row in rows],
            "cached": [row[9] for row in rows],
        }
        return {"strings": strings.tables(), "cases": columns, "texts": self._kept()}

    def _kept(self) -> list[dict[str, Any]]:
        """The texts of the first cases in table order whose sizes add up to the budget."""
        texts: list[dict[str, Any]] = []
        spent = 0
        for kind in STATUSES:
            for entry, size in self._texts[kind]:
                spent += size
                if spent > self.budget:
                    return texts
                texts.append(entry)
            if kind in self._full:
                break
        return texts

    def _kind(self, s: Score) -> tuple[Any, ...]:
        """An assertion as the table names it: (its label, threshold, "≥"/"≤"), kept once."""
        kind = (s.label, rounded(s.threshold, 3), "≥" if s.higher_is_better else "≤")
        return self._kinds.setdefault((*kind, repr(kind[1])), kind)  # repr: -0.0 stays -0.0


_VERDICT = {True: 1, False: 0, None: None}


def _scores(scores: tuple[Any, ...], strings: Strings) -> list[list[Any]]:
    """[assertion, value, verdict] per score; an assertion is (its label, threshold, "≥"/"≤")."""
    kinds = strings.codes("assertions", (kind for kind, _, _ in scores))
    return [[k, value, verdict] for k, (_, value, verdict) in zip(kinds, scores, strict=True)]


def _texts(r: CaseResult) -> dict[str, Any]:
    """The case's texts, each once: what the page shows when the case is opened. Tool calls
    and the contexts an app retrieved only where the case has them (most have none)."""
    texts: dict[str, Any] = {
        "case_id": r.case_id,
        "description": _long(r.description),
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


def _size(value: Any) -> int:
    """What ``value`` adds to the island, in UTF-8 bytes of JSON."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8", "surrogatepass"))
