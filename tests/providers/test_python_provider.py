"""``type: python`` providers from a real suite file through run_suite: what the function gets
and returns, retries on transient errors, caching on and off, resume, load-time errors."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from harness.api import run_suite
from harness.cli import main
from harness.errors import AuthError
from tests.providers.apps import (  # app_home: a fixture
    app_home,  # noqa: F401
    calls,
    write_suite,
)

pytestmark = pytest.mark.usefixtures("app_home")

#: An app that logs each call, answers from its config, and reports what it retrieved.
APP = '''
import asyncio
from pathlib import Path

import harness

LOG = Path(__file__).with_name("calls.log")


def _log(vars):
    with LOG.open("a") as f:
        f.write(vars["q"] + "\\n")


def answer(messages, vars, config):
    _log(vars)
    roles = [m["role"] for m in messages]
    return harness.ProviderResponse(
        output=f"{config['prefix']} {vars['q']} ({'/'.join(roles)}: {messages[-1]['content']})",
        contexts=[f"passage about {vars['q']}"],
        tool_calls=[{"name": "search", "arguments": {"q": vars["q"]}}],
        prompt_tokens=7,
        completion_tokens=3,
        cost_usd=0.25,
        metadata={"retriever": config["retriever"]},
    )


async def answer_async(messages, vars):
    _log(vars)
    await asyncio.sleep(0)
    return "A: " + vars["q"]


class Flaky(Exception):
    pass


def flaky(messages, vars):
    """Fails the first call of each question: with Flaky, harness.TransientError or ValueError."""
    _log(vars)
    seen = LOG.read_text().splitlines().count(vars["q"])
    if seen == 1 and vars["q"] != "fine":
        kind = {"custom": Flaky, "marked": harness.TransientError}.get(vars["q"], ValueError)
        raise kind("try again later")
    return "A: " + vars["q"]


def stop_at(messages, vars):
    """Stops the run (as a revoked key would) at the question named in stop.txt."""
    _log(vars)
    stop = Path(__file__).with_name("stop.txt")
    if stop.exists() and stop.read_text() == vars["q"]:
        raise harness.AuthError("key revoked")
    return "A: " + vars["q"]


import threading, time
_lock, _now, PEAK = threading.Lock(), [0], [0]


def slow(messages, vars):
    """Sleeps: 'hang' for longer than any test waits, others long enough to overlap."""
    with _lock:
        _now[0] += 1
        PEAK[0] = max(PEAK[0], _now[0])
    time.sleep(30 if vars["q"] == "hang" else 0.3)
    with _lock:
        _now[0] -= 1
    return "A: peak " + str(PEAK[0])


def bad_shape(messages, vars):
    if vars["q"] == "meta":
        return {"output": "A: x", "metadata": {"when": object()}}
    return {"output": 42} if vars["q"] == "number" else {"answer": "A: x"}
'''


def _app(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path / "calls.log"


def test_the_function_gets_messages_vars_config_and_its_result_is_stored(tmp_path: Path) -> None:
    log = _app(tmp_path)
    provider = """
    - id: app
      type: python
      function: app:answer
      config: {prefix: "A:", retriever: bm25}
    """
    suite = write_suite(tmp_path, provider, ["one", "two"])
    outcome = run_suite(suite)
    by_q = {r.vars["q"]: r for r in outcome.results}
    one = by_q["one"]
    assert one.output == "A: one (system/user: Q: one)"
    assert one.contexts == ["passage about one"]
    assert one.tool_calls == [{"name": "search", "arguments": {"q": "one"}}]
    assert one.provider_metadata == {"retriever": "bm25"}
    assert (one.prompt_tokens, one.completion_tokens, one.cost_usd) == (7, 3, 0.25)
    assert one.model == "python:app:answer" and one.latency_s is not None
    assert all(r.passed and r.error is None for r in outcome.results)
    assert sorted(calls(log)) == ["one", "two"]
    again = run_suite(suite)  # from the cache: everything the app returned, not only the text
    assert again.stats.requests == 0
    keep = ("output", "contexts", "tool_calls", "provider_metadata", "cost_usd", "prompt_tokens")
    assert [r.model_dump(include=set(keep)) for r in again.results] == [
        r.model_dump(include=set(keep)) for r in outcome.results
    ]


def test_async_function_and_file_form(tmp_path: Path) -> None:
    log = _app(tmp_path)
    provider = """
    - id: app
      type: python
      file: app.py
      function: answer_async
    """
    outcome = run_suite(write_suite(tmp_path, provider, ["one", "two", "three"]))
    assert sorted(r.output for r in outcome.results) == ["A: one", "A: three", "A: two"]
    assert len(calls(log)) == 3


@pytest.mark.parametrize("question", ["custom", "marked"])
def test_transient_errors_are_retried(tmp_path: Path, question: str) -> None:
    log = _app(tmp_path)
    provider = """
    - id: app
      type: python
      function: app:flaky
      transient_errors: [Flaky]
      backoff: 0.01
    """
    outcome = run_suite(write_suite(tmp_path, provider, [question, "fine"]))
    assert all(r.passed and r.error is None for r in outcome.results)
    assert outcome.stats.retries == 1
    assert calls(log).count(question) == 2 and calls(log).count("fine") == 1


def test_other_exceptions_fail_the_case_at_once_with_where_they_were_raised(
    tmp_path: Path,
) -> None:
    log = _app(tmp_path)
    provider = """
    - id: app
      type: python
      function: app:flaky
      transient_errors: [Flaky]
      backoff: 0.01
    """
    outcome = run_suite(write_suite(tmp_path, provider, ["other", "fine"]))
    by_q = {r.vars["q"]: r for r in outcome.results}
    error = by_q["other"].error or ""
    assert "ValueError: try again later" in error and "app.py:" in error and "in flaky" in error
    assert by_q["other"].passed is False and by_q["other"].scores == []
    assert by_q["fine"].passed
    assert calls(log).count("other") == 1 and outcome.stats.retries == 0


def test_sync_functions_run_concurrently_and_a_hung_one_times_out(tmp_path: Path) -> None:
    _app(tmp_path)
    provider = """
    - id: app
      type: python
      function: app:slow
      concurrency: 12
      timeout: 1
      max_retries: 0
    """
    started = time.monotonic()
    outcome = run_suite(write_suite(tmp_path, provider, ["hang", *(f"q{i}" for i in range(11))]))
    assert time.monotonic() - started < 5  # the hung call does not hold the run back
    by_q = {r.vars["q"]: r for r in outcome.results}
    assert "app:slow timed out after 1.0s" in (by_q.pop("hang").error or "")
    peaks = {int(r.output.rsplit(" ", 1)[1]) for r in by_q.values() if r.output}
    assert max(peaks) == 12  # no thread pool caps the provider's concurrency


def test_a_wrongly_shaped_result_is_an_error_naming_the_problem(tmp_path: Path) -> None:
    _app(tmp_path)
    provider = """
    - id: app
      type: python
      function: app:bad_shape
    """
    outcome = run_suite(write_suite(tmp_path, provider, ["number", "key", "meta"]))
    by_q = {r.vars["q"]: r for r in outcome.results}
    assert "metadata.when: input was not a valid JSON value" in (by_q["meta"].error or "")
    assert "output: Input should be a valid string" in (by_q["number"].error or "")
    assert "answer: Extra inputs are not permitted" in (by_q["key"].error or "")


@pytest.mark.parametrize("cache", [True, False])
def test_cache_on_by_default_and_off_per_provider(tmp_path: Path, cache: bool) -> None:
    log = _app(tmp_path)
    provider = f"""
    - id: app
      type: python
      function: app:answer_async
      cache: {str(cache).lower()}
    """
    suite = write_suite(tmp_path, provider, ["one", "two"])
    first = run_suite(suite)
    second = run_suite(suite)
    assert second.run.run_id != first.run.run_id  # a new run of a finished suite
    assert [r.output for r in second.results] == [r.output for r in first.results]
    if cache:
        assert len(calls(log)) == 2 and second.stats.cached == 2
        assert second.stats.requests == 0
    else:
        assert len(calls(log)) == 4 and second.stats.cached == 0
        assert second.stats.requests == 2


def test_editing_the_function_file_invalidates_the_cache(tmp_path: Path) -> None:
    log = _app(tmp_path)
    provider = """
    - id: app
      type: python
      function: app:answer_async
    """
    suite = write_suite(tmp_path, provider, ["one"])
    run_suite(suite)
    (tmp_path / "app.py").write_text(APP.replace('"A: " + vars', '"A: new " + vars'))
    again = run_suite(suite)
    assert again.results[0].output == "A: new one" and len(calls(log)) == 2


def test_resume_never_calls_a_finished_case_again(tmp_path: Path) -> None:
    log = _app(tmp_path)
    (tmp_path / "stop.txt").write_text("q3")
    provider = """
    - id: app
      type: python
      function: app:stop_at
      concurrency: 1
      cache: false
    """
    suite = write_suite(tmp_path, provider, [f"q{i}" for i in range(6)])
    with pytest.raises(AuthError, match="key revoked"):
        run_suite(suite)
    assert calls(log) == ["q0", "q1", "q2", "q3"]
    (tmp_path / "stop.txt").unlink()
    outcome = run_suite(suite)
    assert outcome.resumed and outcome.run.status == "complete"
    assert len(outcome.results) == 6 and all(r.passed for r in outcome.results)
    assert calls(log) == ["q0", "q1", "q2", "q3", "q3", "q4", "q5"]


def _validate(tmp_path: Path, provider: str, capsys: pytest.CaptureFixture[str]) -> str:
    suite = write_suite(tmp_path, provider, ["one"])
    assert main(["validate", str(suite)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return " ".join(err.split())


@pytest.mark.parametrize(
    ("provider", "line", "message"),
    [
        (
            "- {id: app, type: python, function: 'app:answr'}",
            7,
            "no function 'answr' in",
        ),
        (
            "- id: app\n  type: python\n  function: nowhere:answer",
            9,
            "no module 'nowhere': not a file next to the suite",
        ),
        (
            "- id: app\n  type: python\n  file: missing.py\n  function: answer",
            9,
            "file not found:",
        ),
        (
            "- id: app\n  type: python\n  function: app:bad_shape\n  config: {a: 1}",
            10,
            "takes no third argument",
        ),
        (
            "- id: app\n  type: python\n  function: app:LOG",
            9,
            "is a PosixPath, not a function",
        ),
        (
            "- id: app\n  type: python\n  function: answer",
            9,
            "'function' must be 'module:function'",
        ),
        (
            "- id: app\n  type: python\n  function: app:flaky\n  transient_errors: [Flaky, Nope]",
            10,
            "'Nope' is not an exception class",
        ),
    ],
    ids=["unknown-function", "no-module", "missing-file", "config-unused", "not-callable",
         "no-colon", "bad-exception"],
)  # fmt: skip
def test_bad_references_are_load_time_errors_at_their_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], provider: str, line: int, message: str
) -> None:
    _app(tmp_path)
    err = _validate(tmp_path, provider, capsys)
    assert f"suite.yaml:{line}:" in err and "providers[0] (app):" in err
    assert message in err


def test_wrong_signature_and_broken_module_are_load_time_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "app.py").write_text("def answer(prompt):\n    return prompt\n")
    err = _validate(tmp_path, "- {id: app, type: python, function: 'app:answer'}", capsys)
    assert "suite.yaml:7:" in err
    assert "function 'app:answer' takes (prompt), but it is called with" in err
    assert "(messages, vars, config) or (messages, vars)" in err
    (tmp_path / "app.py").write_text(textwrap.dedent("def answer(messages, vars):\n  return (\n"))
    err = _validate(tmp_path, "- {id: app, type: python, function: 'app:answer'}", capsys)
    assert "loading app.py failed: SyntaxError:" in err and "(app.py:2)" in err
