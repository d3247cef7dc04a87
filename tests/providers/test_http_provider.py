"""``type: http`` against a local JSON app on 127.0.0.1 (stdlib http.server in a thread):
templated requests, JMESPath picks, the retry/fail-fast policy, secrets that never leak."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from harness.api import run_suite
from harness.cli import main
from harness.errors import AuthError
from tests.providers.apps import (  # app_home: a fixture
    app_home,  # noqa: F401
    write_suite,
)

pytestmark = pytest.mark.usefixtures("app_home")

TOKEN = "canary-tok-5d1e9b2f"
KEY = "canary-key-a83c4e07"


class App:
    """A JSON app: answers ``{"q": ...}`` bodies, with faults scripted by the question."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def reply(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple:
        if method == "GET":
            q = parse_qs(urlsplit(path).query)["q"][0]
            return self._record(q, method, path, headers, None), 200, "text/plain", f"A: {q}"
        data = json.loads(body)
        q = data["q"]
        n = self._record(q, method, path, headers, data)
        auth = headers.get("authorization", "")
        if q == "flaky" and n == 1:
            return n, 500, "text/plain", "internal error"
        if q == "bad":
            return n, 400, "application/json", json.dumps({"error": f"bad question {auth}"})
        if q == "denied":
            return n, 401, "application/json", json.dumps({"error": "invalid token"})
        if q == "shape":
            return n, 200, "application/json", json.dumps({"unexpected": {"auth": auth}})
        answer = f"A: {q}" + (f" (you sent {auth})" if q == "echo" else "")
        reply = {
            "answer": answer,
            "sources": [{"text": f"passage on {q}"}, {"text": headers.get("x-api-key", "")}],
            "usage": {"in": 5, "out": 2},
        }
        return n, 200, "application/json", json.dumps(reply)

    def _record(self, q: str, method: str, path: str, headers: dict, data: Any) -> int:
        with self._lock:
            self.counts[q] += 1
            self.requests.append({"method": method, "path": path, "headers": headers, "body": data})
            return self.counts[q]


@pytest.fixture
def app() -> Iterator[tuple[App, str]]:
    state = App()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            _, status, kind, text = state.reply(self.command, self.path, headers, body)
            payload = text.encode()
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(payload)))
            if status == 500:
                self.send_header("retry-after", "0")
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_TOKEN", TOKEN)
    monkeypatch.setenv("APP_KEY", KEY)


def _provider(base: str, **extra: str) -> str:
    lines = {
        "url": f"{base}/ask",
        "headers": "{Authorization: 'Bearer ${APP_TOKEN}', X-Api-Key: {env: APP_KEY}, "
        "X-Client: harness-test}",
        "body": """'{"question": {{ prompt | tojson }}, "q": {{ vars.q | tojson }}, """
        """"history": {{ messages | tojson }}}'""",
        "response": "{output: answer, contexts: 'sources[].text', prompt_tokens: usage.in, "
        "completion_tokens: usage.out}",
        "backoff": "0.01",
        **extra,
    }
    return "- id: app\n  type: http\n" + "".join(f"  {k}: {v}\n" for k, v in lines.items())


def test_request_is_templated_and_the_reply_picked_apart(
    tmp_path: Path, app: tuple[App, str]
) -> None:
    state, url = app
    outcome = run_suite(write_suite(tmp_path, _provider(url), ["one", "two"]))
    one = next(r for r in outcome.results if r.vars["q"] == "one")
    assert one.output == "A: one" and one.passed and one.error is None
    assert one.contexts == ["passage on one", "***"]  # the app echoed a secret: scrubbed
    assert (one.prompt_tokens, one.completion_tokens) == (5, 2)
    sent = next(r for r in state.requests if r["body"]["q"] == "one")
    assert sent["method"] == "POST" and sent["path"] == "/ask"
    assert sent["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert sent["headers"]["x-api-key"] == KEY and sent["headers"]["x-client"] == "harness-test"
    assert sent["headers"]["content-type"] == "application/json"
    assert sent["body"]["question"] == "Q: one"
    assert sent["body"]["history"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Q: one"},
    ]


def test_500_is_retried_400_fails_fast_and_an_unmatched_path_is_an_error(
    tmp_path: Path, app: tuple[App, str]
) -> None:
    state, url = app
    outcome = run_suite(write_suite(tmp_path, _provider(url), ["flaky", "bad", "shape", "ok"]))
    by_q = {r.vars["q"]: r for r in outcome.results}
    assert by_q["flaky"].passed and state.counts["flaky"] == 2
    assert outcome.stats.retries == 1
    assert state.counts["bad"] == 1 and state.counts["shape"] == 1
    assert "HTTP 400" in (by_q["bad"].error or "") and "bad question" in by_q["bad"].error
    shape = by_q["shape"].error or ""
    assert "response path output 'answer' matched nothing" in shape
    assert '{"unexpected"' in shape  # a preview of the body
    assert by_q["ok"].passed
    assert all(TOKEN not in (r.error or "") for r in outcome.results)


def test_401_stops_the_run_at_once(tmp_path: Path, app: tuple[App, str]) -> None:
    _, url = app
    suite = write_suite(tmp_path, _provider(url, concurrency="1"), ["denied", "one"])
    with pytest.raises(AuthError, match=r"HTTP 401.*check its headers. secrets"):
        run_suite(suite)


def test_get_without_paths_takes_the_body_as_text_and_cache_makes_reruns_free(
    tmp_path: Path, app: tuple[App, str]
) -> None:
    state, url = app
    provider = f"- id: app\n  type: http\n  method: GET\n  url: '{url}/ask?q={{{{ vars.q }}}}'\n"
    suite = write_suite(tmp_path, provider, ["one", "two"])
    first = run_suite(suite)
    assert sorted(r.output for r in first.results) == ["A: one", "A: two"]
    assert all(r["body"] is None for r in state.requests)
    again = run_suite(suite)
    assert again.stats.requests == 0 and again.stats.cached == 2 and len(state.requests) == 2


def test_a_body_that_is_not_json_fails_the_case_before_sending(
    tmp_path: Path, app: tuple[App, str]
) -> None:
    state, url = app
    provider = _provider(url, body="""'{"q": {{ vars.q }}}'""")
    outcome = run_suite(write_suite(tmp_path, provider, ["one"]))
    assert "the rendered body is not JSON" in (outcome.results[0].error or "")
    assert "| tojson" in outcome.results[0].error and state.requests == []


def test_secrets_never_reach_the_store_cache_report_or_output(
    tmp_path: Path, app: tuple[App, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = app
    suite = write_suite(tmp_path, _provider(url), ["echo", "bad", "shape", "one"])
    report = tmp_path / "report.html"
    assert main(["run", str(suite), "--report", str(report)]) in (0, 1)
    assert sum(r["headers"]["authorization"] == f"Bearer {TOKEN}" for r in state.requests) == 4
    printed = capsys.readouterr()
    files = [p for p in (tmp_path / "home").rglob("*") if p.is_file()] + [report]
    assert {p.name for p in files} >= {"results.db", "cache.db", "report.html"}
    for secret in (TOKEN, KEY):
        for path in files:
            assert secret.encode() not in path.read_bytes(), f"{secret} written to {path}"
        assert secret not in printed.out + printed.err
    assert "(you sent Bearer ***)" in report.read_text()


@pytest.mark.parametrize(
    ("extra", "line", "message"),
    [
        ({"headers": "{X-Token: {env: NOT_SET_ANYWHERE}}"}, 10, "No NOT_SET_ANYWHERE in the env"),
        ({"headers": "{X-Token: 'Bearer ${NOT_SET_ANYWHERE}'}"}, 10, "No NOT_SET_ANYWHERE"),
        ({"response": "{output: 'answer[?'}"}, 12, "'answer[?' is not a JMESPath expression"),
        ({"body": "'{{ prompt '"}, 11, "template syntax error"),
        ({"response": "{contexts: docs}"}, 12, "contexts read a JSON reply: give 'output' too"),
        ({"url": "localhost:8080/ask"}, 9, "is not an http(s) URL"),
    ],
    ids=["env-missing", "env-in-text", "bad-jmespath", "bad-template", "no-output", "bad-url"],
)
def test_bad_config_is_a_load_time_error_at_its_line(
    tmp_path: Path,
    app: tuple[App, str],
    capsys: pytest.CaptureFixture[str],
    extra: dict[str, str],
    line: int,
    message: str,
) -> None:
    _, url = app
    suite = write_suite(tmp_path, _provider(url, **extra), ["one"])
    # an unset secret is only a warning for `validate` (it calls nothing); `run` refuses it
    command = "run" if "NOT_SET_ANYWHERE" in message else "validate"
    assert main([command, str(suite)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"suite.yaml:{line}:" in err and message in err and "Traceback" not in err
