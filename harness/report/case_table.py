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


def case_table(results: list[CaseResult], budget: int = BUDGET) -> dict[str, Any]:
    """The island of the case table: columns over every case, failures first, and the texts
    of the cases that fit ``budget``."""
    rank = {s: i for i, s in enumerate(STATUSES)}
    order = sorted(range(len(results)), key=lambda i: (rank[status(results[i])], i))
    rows = [results[i] for i in order]
    strings = Strings("sets", "prompts", "providers", "models", "tags", "assertions")
    texts: list[dict[str, Any]] = []
    spent = 0
    for r in rows:
        entry = _texts(r)
        spent += _size(entry)
        if spent > budget:
            break
        texts.append(entry)
    columns = {
        "status": [rank[status(r)] for r in rows],
        "set": strings.codes("sets", (r.case_set for r in rows)),
        "prompt": strings.codes("prompts", (r.prompt_id for r in rows)),
        "provider": strings.codes("providers", (r.provider_id for r in rows)),
        "model": strings.codes("models", (r.model for r in rows)),
        "row": [r.row_id for r in rows],
        "tags": [strings.codes("tags", r.tags) for r in rows],
        "scores": [_scores(r.scores, strings) for r in rows],
        "latency": [rounded(r.latency_s, 3) for r in rows],
        "cost": [rounded(r.cost_usd, 6) for r in rows],
        "cached": [int(r.cached) for r in rows],
    }
    return {"strings": strings.tables(), "cases": columns, "texts": texts}


def _scores(scores: list[Score], strings: Strings) -> list[list[Any]]:
    """[assertion, value, verdict] per score; an assertion is (its label, threshold, "≥"/"≤")."""
    kinds = strings.codes(
        "assertions",
        ((s.label, rounded(s.threshold, 3), "≥" if s.higher_is_better else "≤") for s in scores),
    )
    verdict = {True: 1, False: 0, None: None}
    return [[k, rounded(s.value, 3), verdict[s.passed]] for k, s in zip(kinds, scores, strict=True)]


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
