"""The OpenAI provider through the real SDK against a real local server, and its error mapping."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import socket
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from harness.errors import (
    AuthError,
    PermanentProviderError,
    ProviderError,
    RateLimitError,
    TransientProviderError,
)
from harness.providers.base import Generation, Message, ModelRequest
from harness.providers.openai_compat import (
    MESSAGE_LIMIT,
    KeyScrubber,
    OpenAIProvider,
    map_error,
    provider_errors,
    retry_after,
)
from harness.suite.schema import OpenAIProviderConfig
from tests.fakeserver import FakeOpenAIServer, Fault
from tests.leaks import assert_no_key

try:  # the HTTP library under the SDK: httpx2 since openai 3, httpx before
    import httpx2 as http
except ImportError:
    import httpx as http

KEY = "sk-test-5eCr3t-value"
URL = "http://127.0.0.1:9/v1/chat/completions"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    fake = FakeOpenAIServer()
    with fake:
        yield fake


def make_provider(base_url: str | None, **overrides: Any) -> OpenAIProvider:
    fields: dict[str, Any] = {"type": "openai", "id": "gpt", "model": "fake-model"}
    fields |= {"base_url": base_url, "api_key_env": None} | overrides
    return OpenAIProvider(OpenAIProviderConfig(**fields))


def ask(content: str = "What is 2+2?", **params: Any) -> ModelRequest:
    messages = (Message(role="system", content="Be brief."), Message(role="user", content=content))
    return ModelRequest(messages=messages, params=params)


def generate(provider: OpenAIProvider, request: ModelRequest) -> Generation:
    """One call, closing the client in the same event loop."""

    async def call() -> Generation:
        try:
            return await provider.generate(request)
        finally:
            await provider.aclose()

    return asyncio.run(call())


def fail(provider: OpenAIProvider, request: ModelRequest | None = None) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        generate(provider, request or ask())
    return info.value


# --- round trips -------------------------------------------------------------------------


def test_chat_round_trip(server: FakeOpenAIServer) -> None:
    out = generate(make_provider(server.base_url), ask("What is 2+2?"))

    assert out == Generation(
        text="ECHO: What is 2+2?", prompt_tokens=5, completion_tokens=4, finish_reason="stop"
    )
    (sent,) = server.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "fake-model"
    assert sent.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2+2?"},
    ]


def test_completions_round_trip(server: FakeOpenAIServer) -> None:
    provider = make_provider(server.base_url, endpoint="completions")
    out = generate(provider, ask("2+2="))

    assert out.text == "ECHO: Be brief.\n\n2+2="
    assert (out.prompt_tokens, out.finish_reason) == (3, "stop")
    (sent,) = server.requests
    assert sent.path == "/v1/completions"
    assert sent.body["prompt"] == "Be brief.\n\n2+2="


def test_only_set_params_are_forwarded(server: FakeOpenAIServer) -> None:
    params = {
        "temperature": 0.0,
        "max_tokens": 2,
        "top_p": 0.5,
        "stop": "\n",
        "seed": 7,
        "extra_body": {"top_k": 20},
    }
    out = generate(make_provider(server.base_url), ask("one two three", **params))

    assert (out.text, out.finish_reason) == ("ECHO: one", "length")
    body = server.requests[0].body
    assert {k: body[k] for k in ("temperature", "max_tokens", "top_p", "stop", "seed")} == {
        "temperature": 0.0,
        "max_tokens": 2,
        "top_p": 0.5,
        "stop": ["\n"],
        "seed": 7,
    }
    assert body["top_k"] == 20

    generate(make_provider(server.base_url), ask())
    assert set(server.requests[1].body) == {"model", "messages"}


def test_unknown_param_is_a_permanent_error(server: FakeOpenAIServer) -> None:
    error = fail(make_provider(server.base_url), ask(temprature=0.2))
    assert type(error) is PermanentProviderError
    assert "temprature" in str(error)
    assert server.requests == []


# --- the key -----------------------------------------------------------------------------


def test_key_is_sent_as_bearer_and_never_shown(
    monkeypatch: pytest.MonkeyPatch, server: FakeOpenAIServer
) -> None:
    monkeypatch.setenv("FAKE_KEY", KEY)
    server.expected_api_key = KEY
    provider = make_provider(server.base_url, api_key_env="FAKE_KEY")

    assert KEY not in repr(provider)
    assert KEY not in str(provider.identity())
    assert generate(provider, ask()).text.startswith("ECHO")
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"

    server.expected_api_key = "sk-another"
    error = fail(make_provider(server.base_url, api_key_env="FAKE_KEY"))
    assert isinstance(error, AuthError)
    assert error.status == 401
    assert "$FAKE_KEY" in str(error)
    assert KEY not in str(error) and KEY not in repr(error)


def test_missing_key_variable_is_an_auth_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    with pytest.raises(AuthError, match=r"No NO_SUCH_KEY in the environment.*export NO_SUCH_KEY"):
        make_provider(None, api_key_env="NO_SUCH_KEY")

    monkeypatch.setenv("NO_SUCH_KEY", "")
    with pytest.raises(AuthError, match="NO_SUCH_KEY"):
        make_provider(None, api_key_env="NO_SUCH_KEY")


def test_no_key_variable_means_no_key(server: FakeOpenAIServer) -> None:
    out = generate(make_provider(server.base_url, api_key_env=None), ask())
    assert out.text.startswith("ECHO")
    assert server.requests[0].headers["authorization"] == "Bearer not-needed"


def test_identity_normalises_the_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://elsewhere/v1")
    provider = make_provider(None, api_key_env="OPENAI_API_KEY")
    assert provider.identity() == {
        "type": "openai",
        "base_url": "https://api.openai.com/v1",
        "endpoint": "chat",
        "model": "fake-model",
    }
    spelled = make_provider("HTTP://LocalHost:8000/v1/", endpoint="completions").identity()
    assert spelled["base_url"] == "http://localhost:8000/v1"
    assert spelled["endpoint"] == "completions"
    with pytest.raises(PermanentProviderError, match="not a URL"):
        make_provider("localhost:8000/v1")
    assert KEY not in repr(provider)


@pytest.mark.parametrize(
    "fault",
    ["no_choices", "truncated", "html", "sse", 500, 503, 429, 400, 404, 401, 403],
)
@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_a_server_that_echoes_the_key_never_gets_it_into_an_error(
    monkeypatch: pytest.MonkeyPatch, fault: int | str, endpoint: str
) -> None:
    monkeypatch.setenv("FAKE_KEY", KEY)
    key = ask().as_prompt() if endpoint == "completions" else "What is 2+2?"
    with FakeOpenAIServer(echo_auth=True, faults={key: [fault]}) as base_url:
        error = fail(make_provider(base_url, api_key_env="FAKE_KEY", endpoint=endpoint))
    assert_no_key(error, KEY)
    if fault != "truncated":  # a JSON decode error quotes no body
        assert "***" in str(error)  # the server did echo it, and the key was there to scrub


@pytest.mark.parametrize("offset", range(MESSAGE_LIMIT - 30, MESSAGE_LIMIT + 5))
def test_the_key_is_scrubbed_before_a_long_message_is_cut(offset: int) -> None:
    message = "x" * offset + f"Bearer {KEY}" + "y" * 400
    with pytest.raises(TransientProviderError) as info, provider_errors(KeyScrubber(KEY)):
        raise TransientProviderError(message)
    assert len(str(info.value)) <= MESSAGE_LIMIT + 3
    assert_no_key(info.value, KEY, partial=True)


def test_a_long_401_is_cut_but_keeps_the_hint_naming_the_key_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_KEY", KEY)
    provider = make_provider(None, api_key_env="FAKE_KEY")
    page = "<html>" + "x" * 1000 + f" Bearer {KEY}</html>"
    with pytest.raises(AuthError) as info, provider_errors(KeyScrubber(KEY), provider._hint):
        raise map_error(status_error(openai.AuthenticationError, 401, page))
    assert str(info.value).endswith(
        "(provider 'gpt': check the key in $FAKE_KEY and its access to the model)"
    )
    assert_no_key(info.value, KEY)


@pytest.mark.parametrize(
    "echoed",
    [
        KEY,
        f"Authorization: Bearer {KEY}",
        json.dumps({"auth": f"Bearer {KEY}/"}),
        urllib.parse.quote(f"Bearer {KEY}"),
        base64.b64encode(KEY.encode()).decode(),
        base64.urlsafe_b64encode(KEY.encode()).decode().rstrip("="),
    ],
)
def test_every_echoed_form_of_the_key_is_scrubbed(echoed: str) -> None:
    scrubbed = KeyScrubber(KEY)(f"the proxy said: {echoed}")
    assert scrubbed.startswith("the proxy said: ") and "***" in scrubbed
    assert_no_key(scrubbed, KEY)


def test_a_placeholder_key_is_no_secret_and_anything_else_unexpected_is_still_scrubbed() -> None:
    assert KeyScrubber(None)("not-needed") == "not-needed"
    with pytest.raises(PermanentProviderError) as info, provider_errors(KeyScrubber(KEY)):
        raise KeyError(f"a bug that quotes {KEY}")
    assert str(info.value) == "unexpected KeyError: 'a bug that quotes ***'"
    assert_no_key(info.value, KEY)


# --- faults through the wire ---------------------------------------------------------------


def http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


@pytest.mark.parametrize(
    ("fault", "expected", "status"),
    [
        (500, TransientProviderError, 500),
        (503, TransientProviderError, 503),
        (502, TransientProviderError, 502),
        (408, TransientProviderError, 408),
        ("truncated", TransientProviderError, None),
        ("html", TransientProviderError, None),
        ("no_choices", TransientProviderError, None),
        ("drop", TransientProviderError, None),
        (401, AuthError, 401),
        (403, AuthError, 403),
        (400, PermanentProviderError, 400),
        (404, PermanentProviderError, 404),
        (422, PermanentProviderError, 422),
    ],
)
def test_fault_maps_to_error(
    server: FakeOpenAIServer, fault: int | str, expected: type[ProviderError], status: int | None
) -> None:
    server.add_faults("What is 2+2?", fault)
    error = fail(make_provider(server.base_url))
    assert type(error) is expected
    assert error.status == status
    if isinstance(fault, str):
        assert "malformed response" in str(error) or "connection failed" in str(error)


@pytest.mark.parametrize(
    ("headers", "low", "high"),
    [
        ({"Retry-After": "0.1"}, 0.1, 0.1),
        ({"Retry-After": "2"}, 2.0, 2.0),
        ({"Retry-After": "http-date in 60 s"}, 55.0, 61.0),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25, 0.25),
    ],
)
def test_rate_limit_carries_retry_after(
    server: FakeOpenAIServer, headers: dict[str, str], low: float, high: float
) -> None:
    if headers["Retry-After"] == "http-date in 60 s":
        headers = {"Retry-After": http_date(60)}
    server.add_faults("What is 2+2?", Fault.http(429, headers))
    error = fail(make_provider(server.base_url))
    assert isinstance(error, RateLimitError)
    assert error.status == 429
    assert error.retry_after is not None and low <= error.retry_after <= high


def test_unknown_model_is_permanent_with_the_server_message() -> None:
    with FakeOpenAIServer(models=["real-model"]) as base_url:
        error = fail(make_provider(base_url, model="nope"))
    assert type(error) is PermanentProviderError
    assert error.status == 404
    assert "The model `nope` does not exist." in str(error)


@pytest.mark.parametrize(
    ("server", "outcome"),
    [
        (FakeOpenAIServer(latency=5), "client_gone"),
        (FakeOpenAIServer(faults={"What is 2+2?": [Fault("hang", delay=5)]}), "hang"),
    ],
    ids=["slow", "hang"],
)
def test_timeout_is_transient_and_never_counted_as_served(
    server: FakeOpenAIServer, outcome: str
) -> None:
    with server as base_url:
        started = time.monotonic()
        error = fail(make_provider(base_url, timeout=0.2))
        assert time.monotonic() - started < 3
    assert type(error) is TransientProviderError
    assert "timed out" in str(error)
    # The handler thread records the abandoned request as it wakes, just after close().
    deadline = time.monotonic() + 5
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.success_counts == {}
    assert [r.outcome for r in server.requests] == [outcome]


def test_refused_connection_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = fail(make_provider(f"http://127.0.0.1:{port}/v1"))
    assert type(error) is TransientProviderError
    assert "connection failed" in str(error)


def test_aclose_closes_the_client(server: FakeOpenAIServer) -> None:
    provider = make_provider(server.base_url)
    generate(provider, ask())
    assert provider._client.closed


# --- the fake server itself ----------------------------------------------------------------


def test_fault_script_then_success_counted_once(server: FakeOpenAIServer) -> None:
    server.add_faults("x", Fault.http(429, {"Retry-After": "0"}), 500, "truncated", "drop")
    provider = make_provider(server.base_url)

    async def until_success() -> list[str]:
        seen = []
        while True:
            try:
                await provider.generate(ask("x"))
            except TransientProviderError as exc:
                seen.append(type(exc).__name__)
            else:
                await provider.aclose()
                return seen

    assert asyncio.run(until_success()) == ["RateLimitError"] + ["TransientProviderError"] * 3
    assert server.success_counts == {"x": 1}
    assert server.fault_counts == {"429": 1, "500": 1, "truncated": 1, "drop": 1}


def test_random_faults_are_seeded_and_bounded_per_prompt() -> None:
    def outcomes() -> list[str]:
        server = FakeOpenAIServer(fault_rate=0.5, seed=3, max_random_faults_per_key=2)
        with server as base_url:
            provider = make_provider(base_url)

            async def run() -> None:
                for i in range(20):
                    for _ in range(3):
                        try:
                            await provider.generate(ask(f"q{i}"))
                            break
                        except TransientProviderError:
                            pass
                await provider.aclose()

            asyncio.run(run())
        assert server.success_counts == {f"q{i}": 1 for i in range(20)}
        assert sum(server.fault_counts.values()) > 0
        return [r.outcome for r in server.requests]

    assert outcomes() == outcomes()


def test_latency_does_not_serialise_requests() -> None:
    server = FakeOpenAIServer(latency=0.3)
    with server as base_url:
        provider = make_provider(base_url)

        async def many() -> None:
            await asyncio.gather(*(provider.generate(ask(f"q{i}")) for i in range(16)))
            await provider.aclose()

        started = time.monotonic()
        asyncio.run(many())
        assert time.monotonic() - started < 3.0  # 4.8 s one at a time
    assert server.max_in_flight == 16


def test_models_endpoint_and_auth(server: FakeOpenAIServer) -> None:
    async def listing() -> list[str]:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
        try:
            return [m.id async for m in client.models.list()]
        finally:
            await client.close()

    assert asyncio.run(listing()) == ["fake-model"]
    server.expected_api_key = "other"
    with pytest.raises(openai.AuthenticationError):
        asyncio.run(listing())


# --- map_error and retry_after, exhaustively -------------------------------------------------


def response(status: int, headers: dict[str, str] | None = None) -> http.Response:
    return http.Response(status, headers=headers, request=http.Request("POST", URL))


def status_error(cls: type[openai.APIStatusError], status: int, body: Any) -> Exception:
    return cls("Error code", response=response(status), body=body)


REQUEST = http.Request("POST", URL)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (status_error(openai.AuthenticationError, 401, None), AuthError),
        (status_error(openai.PermissionDeniedError, 403, None), AuthError),
        (status_error(openai.BadRequestError, 400, None), PermanentProviderError),
        (status_error(openai.NotFoundError, 404, None), PermanentProviderError),
        (status_error(openai.UnprocessableEntityError, 422, None), PermanentProviderError),
        (status_error(openai.APIStatusError, 413, None), PermanentProviderError),
        (status_error(openai.ConflictError, 409, None), TransientProviderError),
        (status_error(openai.APIStatusError, 408, None), TransientProviderError),
        (status_error(openai.RateLimitError, 429, None), RateLimitError),
        (
            status_error(openai.RateLimitError, 429, {"code": "insufficient_quota"}),
            PermanentProviderError,
        ),
        (status_error(openai.InternalServerError, 500, None), TransientProviderError),
        (status_error(openai.InternalServerError, 503, None), TransientProviderError),
        (openai.APITimeoutError(request=REQUEST), TransientProviderError),
        (openai.APIConnectionError(request=REQUEST), TransientProviderError),
        (openai.APIResponseValidationError(response(200), None), TransientProviderError),
        (ValueError("Expecting value: line 1 column 1"), TransientProviderError),
        (openai.OpenAIError("something new"), PermanentProviderError),
    ],
)
def test_map_error(exc: Exception, expected: type[ProviderError]) -> None:
    error = map_error(exc)
    assert type(error) is expected
    assert error.status == getattr(exc, "status_code", None)


def test_unavailable_may_carry_retry_after() -> None:
    exc = openai.InternalServerError(
        "Error code", response=response(503, {"Retry-After": "7"}), body=None
    )
    error = map_error(exc)
    assert isinstance(error, TransientProviderError)
    assert error.retry_after == 7.0


def test_map_error_keeps_the_server_message() -> None:
    body = {"message": "Incorrect API key provided.", "code": "invalid_api_key"}
    error = map_error(status_error(openai.AuthenticationError, 401, body))
    assert str(error) == "HTTP 401: Incorrect API key provided."

    html = map_error(status_error(openai.InternalServerError, 502, "<html>Bad gateway</html>"))
    assert str(html) == "HTTP 502: <html>Bad gateway</html>"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "3"}, 3.0),
        ({"Retry-After": "0.5"}, 0.5),
        ({"Retry-After": "-4"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "inf"}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After": "Sun, 06 Nov 1994 08:49:37 GMT"}, 0.0),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(http.Headers(headers)) == expected


def test_retry_after_http_date() -> None:
    wait = retry_after(http.Headers({"Retry-After": http_date(120)}))
    assert wait is not None and 115 <= wait <= 121
