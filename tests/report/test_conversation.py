"""The report shows a case's whole conversation: every message, the tool calls the model
made and the contexts an app retrieved, all as text (a ``<script>`` in a tool argument
stays inert, in the page source and in headless Chromium)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.providers.base import Message
from harness.report.html import render_html, write_report
from harness.results.models import CaseResult
from tests.browser import Chromium, Page, console_errors, launch_browser, requested_urls
from tests.report.helpers import MALICIOUS, TITLE, island_cases, make_case, make_run, parse

HOSTILE_ARGS = {"city": MALICIOUS[0], "note": MALICIOUS[1]}


def conversation_case() -> CaseResult:
    """A multi-turn case whose model called two tools (one with broken JSON) on an app
    that retrieved hostile contexts."""
    case = make_case("v1", "gpt", 0, output="")
    return case.model_copy(
        update={
            "messages": [
                Message(role="system", content="You call tools."),
                Message(role="user", content="Hi, I am Ann."),
                Message(role="assistant", content=MALICIOUS[2]),
                Message(role="user", content="Weather in Paris?"),
            ],
            "tool_calls": [
                {
                    "id": "call_0",
                    "type": "function",
                    "name": "get_weather",
                    "arguments": HOSTILE_ARGS,
                    "arguments_raw": json.dumps(HOSTILE_ARGS),
                },
                {
                    "id": "call_1",
                    "type": "function",
                    "name": MALICIOUS[3],
                    "arguments": None,
                    "arguments_raw": '{"broken": ' + MALICIOUS[0],
                },
            ],
            "contexts": [MALICIOUS[1], "Paris is the capital of France."],
        }
    )


def test_the_island_holds_the_conversation_as_text() -> None:
    html = render_html(make_run(), [conversation_case(), make_case("v1", "gpt", 1)])
    for bad in MALICIOUS:
        assert bad not in html
    cases = island_cases(parse(html))
    talk = next(c for c in cases if c.get("tool_calls"))
    assert [role for role, _ in talk["messages"]] == ["system", "user", "assistant", "user"]
    assert talk["tool_calls"] == [
        ["get_weather", json.dumps(HOSTILE_ARGS, ensure_ascii=False, indent=2)],
        [MALICIOUS[3], '{"broken": ' + MALICIOUS[0]],  # not JSON: shown as written
    ]
    assert talk["contexts"] == [MALICIOUS[1], "Paris is the capital of France."]
    plain = next(c for c in cases if not c.get("tool_calls"))
    assert "tool_calls" not in plain and "contexts" not in plain  # no bytes for what is not there


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    yield from launch_browser(tmp_path_factory)


@pytest.mark.browser
def test_the_conversation_in_chromium(browser: Chromium, tmp_path: Path) -> None:
    cases = [conversation_case(), make_case("v1", "gpt", 1)]
    path = write_report(make_run(), cases, tmp_path / "report.html")
    page = Page(browser, path.as_uri())
    page.eval("document.querySelectorAll('.c-prompt details').forEach(d => { d.open = true; })")
    page.screenshot(tmp_path / "conversation.png")

    assert page.eval("document.title") == f"{TITLE} · run-1"
    assert page.eval("typeof window.__pwned") == "undefined"
    assert page.eval("document.querySelectorAll('#case-rows img, #case-rows svg').length") == 0
    first = "document.querySelector('#case-rows tr')"
    roles = page.eval(f"[...{first}.querySelectorAll('.c-prompt .role')].map(e => e.textContent)")
    assert roles == ["system", "user", "assistant", "user", "context 1", "context 2"]
    texts = page.eval(f"[...{first}.querySelectorAll('.c-prompt .text')].map(e => e.textContent)")
    assert MALICIOUS[2] in texts and MALICIOUS[1] in texts
    calls = page.eval(
        "[...document.querySelectorAll('.c-output .msg')].map(m => "
        "[m.querySelector('.tool-name').textContent, m.querySelector('.text').textContent])"
    )
    assert calls == [
        ["get_weather", json.dumps(HOSTILE_ARGS, ensure_ascii=False, indent=2)],
        [MALICIOUS[3], '{"broken": ' + MALICIOUS[0]],
    ]
    # the search finds a case by what its tools were called with (after its pause)
    page.eval(
        "(() => { const q = document.getElementById('f-q'); q.value = 'window.__pwned = 1';"
        " q.dispatchEvent(new Event('input')); })()"
    )
    deadline = time.monotonic() + 5
    while len(page.rows()) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert page.rows() == ["pass"]
    assert console_errors(browser.events) == []
    assert requested_urls(browser.events) <= {path.as_uri()}
