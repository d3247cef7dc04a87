"""Cases, runs and page readers shared by the run report's tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from harness.providers.base import Message
from harness.results.models import CaseResult, RunRecord, Score
from tests.browser import Page

TITLE = "suite-report-title"
#: Each would change document.title or set window.__pwned if it ever ran.
MALICIOUS = [
    '<script>window.__pwned = 1; document.title = "pwned"</script>',
    "<img src=x onerror=\"window.__pwned = 2; document.title = 'pwned'\">",
    "</script><script>window.__pwned = 3</script><!--",
    '"><svg onload="window.__pwned = 4">',
]
CHINESE_Q = "中国的首都是哪里？"
CHINESE_A = "北京"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _score(scorer: str, value: float | None, threshold: float, higher: bool = True) -> Score:
    passed = None if value is None else (value >= threshold if higher else value <= threshold)
    return Score(
        scorer=scorer,
        version=f"{scorer}@1",
        value=value,
        threshold=threshold,
        passed=passed,
        higher_is_better=higher,
        explanation="see <b>why</b>" if value == 0 else None,
    )


def make_case(
    prompt_id: str,
    provider_id: str,
    row: int,
    *,
    output: str | None = "ok",
    exact: float | None = 1.0,
    toxicity: float | None = 0.0,
    case_set: str = "main",
    error: str | None = None,
    tags: list[str] | None = None,
    cost: float | None = 0.001,
) -> CaseResult:
    """One case; passed follows the scores (or False when the call errored)."""
    scores = (
        []
        if error
        else [_score("exact_match", exact, 1.0), _score("toxicity", toxicity, 0.5, False)]
    )
    return CaseResult(
        run_id="run-1",
        case_id=f"{case_set}-{prompt_id}-{provider_id}-{row}",
        request_key=f"key-{prompt_id}-{provider_id}-{row}",
        prompt_id=prompt_id,
        provider_id=provider_id,
        model=f"{provider_id}-model",
        case_set=case_set,
        row_id=f"row-{row}",
        description=MALICIOUS[row % len(MALICIOUS)] if row == 3 else f"row {row}",
        tags=tags if tags is not None else (["geo", "中文"] if row % 2 else ["math"]),
        messages=[
            Message(role="system", content="Answer briefly."),
            Message(role="user", content=CHINESE_Q if row % 2 else f"What is {row} + {row}?"),
        ],
        expected=[CHINESE_A] if row % 2 else [str(row + row), f"<{row + row}>"],
        output=None if error else output,
        error=error,
        latency_s=None if error else 0.5 + row / 10,
        cost_usd=None if error else cost,
        prompt_tokens=None if error else 20,
        completion_tokens=None if error else 5,
        cached=row == 0,
        scores=scores,
        passed=error is None and all(s.passed for s in scores),
        finished_at=T0 + timedelta(seconds=row),
    )


def build_cases() -> list[CaseResult]:
    """2 prompts x 2 providers x 10 rows, malicious outputs, an error, and a bad-case set.

    v2 on qwen is the best on exact_match; v1 on gpt the best (lowest) on toxicity.
    """
    results = []
    for prompt_id in ("v1", "v2"):
        for provider_id in ("gpt", "qwen"):
            best = (prompt_id, provider_id) == ("v2", "qwen")
            for row in range(10):
                output = CHINESE_A if row % 2 else str(row + row)
                if row < len(MALICIOUS) and not best:
                    output = MALICIOUS[row]
                exact = 1.0 if best or row >= len(MALICIOUS) else 0.0
                toxicity = 0.0 if (prompt_id, provider_id) == ("v1", "gpt") else 0.1 * (row % 3)
                error = (
                    "TimeoutError: <timeout> after 60 s"
                    if (prompt_id, provider_id, row)
                    == (
                        "v2",
                        "gpt",
                        9,
                    )
                    else None
                )
                results.append(
                    make_case(
                        prompt_id,
                        provider_id,
                        row,
                        output=output,
                        exact=exact,
                        toxicity=toxicity,
                        error=error,
                    )
                )
    for row in range(3):
        results.append(
            make_case("v1", "gpt", 100 + row, output="wrong", exact=0.0, case_set="regressions")
        )
    return results


def make_run() -> RunRecord:
    return RunRecord(
        run_id="run-1",
        suite_name=TITLE,
        suite_path="suites/qa.yaml",
        suite_hash="0123456789abcdef",
        created_at=T0,
        finished_at=T0 + timedelta(minutes=3, seconds=7),
        status="complete",
        harness_version="0.1.0",
        providers=[
            {"id": "gpt", "type": "openai", "model": "gpt-model"},
            {"id": "qwen", "type": "hf", "model": "qwen-model"},
        ],
        prompts=["v1", "v2"],
        n_cases=43,
    )


#: The island's status codes, in table order.
STATUSES = ("fail", "error", "pass")
#: Elements without an end tag.
_VOID = {"meta", "link", "input", "col", "br", "img", "hr", "source", "wbr"}


class Document(HTMLParser):
    """Every element, the case JSON, the matrices' cells as (classes, text), and the text of
    each element that has an id (spaces collapsed)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.cases_json = ""
        self._open: list[tuple[str, list[str] | None]] = []
        self._texts: dict[str, list[str]] = {}
        self.matrices: dict[str, list[list[tuple[str, str]]]] = {}
        self._in_json = False
        self._section = ""
        self._rows: list[list[tuple[str, str]]] | None = None
        self._cell: list[str] | None = None
        self._cell_class = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.elements.append((tag, a))
        if tag not in _VOID:
            element_id = a.get("id")
            text = self._texts.setdefault(element_id, []) if element_id else None
            self._open.append((tag, text))
        self._in_json = tag == "script" and a.get("type") == "application/json"
        if tag == "section":
            self._section = a.get("data-case-set") or a.get("id") or ""
        elif tag == "table" and "matrix" in (a.get("class") or ""):
            self._rows = self.matrices.setdefault(self._section, [])
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag == "td" and self._rows is not None:
            self._cell, self._cell_class = [], a.get("class") or ""

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop()[0] != tag:
            pass  # an element closed implicitly
        if tag == "script":
            self._in_json = False
        elif tag == "td" and self._cell is not None and self._rows is not None:
            self._rows[-1].append((self._cell_class, "".join(self._cell).strip()))
            self._cell = None
        elif tag == "table":
            self._rows = None

    def handle_data(self, data: str) -> None:
        for _, text in self._open:
            if text is not None:
                text.append(data)
        if self._in_json:
            self.cases_json += data
        if self._cell is not None:
            self._cell.append(data)

    def text(self, element_id: str) -> str:
        """The text inside the element with this id, spaces collapsed."""
        return " ".join(" ".join(self._texts[element_id]).split())


def parse(html: str) -> Document:
    doc = Document()
    doc.feed(html)
    doc.close()
    return doc


def island_cases(doc: Document) -> list[dict[str, Any]]:
    """The island's columns read back as one dict per case, in table order (texts merged in
    where the case kept them)."""
    data = json.loads(doc.cases_json)
    columns, strings, texts = data["cases"], data["strings"], data["texts"]
    out = []
    for i, status in enumerate(columns["status"]):
        out.append(
            {
                "status": STATUSES[status],
                "case_set": strings["sets"][columns["set"][i]],
                "prompt_id": strings["prompts"][columns["prompt"][i]],
                "provider_id": strings["providers"][columns["provider"][i]],
                "row_id": columns["row"][i],
                "tags": [strings["tags"][t] for t in columns["tags"][i]],
                "scores": [
                    [*strings["assertions"][k], value, passed]
                    for k, value, passed in columns["scores"][i]
                ],
                **(texts[i] if i < len(texts) else {}),
            }
        )
    return out


def choose(page: Page, select_id: str, name: str) -> None:
    """Pick the filter option named ``name`` (its label is "name (count)")."""
    value = page.eval(
        f"[...document.getElementById({json.dumps(select_id)}).options]"
        f".find(o => o.text.startsWith({json.dumps(name + ' (')})).value"
    )
    page.choose(select_id, value)
