"""The plain-HTTP wire (harness.providers.plain_http) against a server that answers with
scripted bytes: connections are reused only when that is safe, every body framing HTTP/1.1
allows is read whole, and whatever breaks is a TransientProviderError (or, for a header
that could not be sent, a PermanentProviderError)."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.errors import PermanentProviderError, TransientProviderError
from harness.providers.openai_http import JsonClient
from harness.providers.plain_http import PlainHttp

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
#: Hold the reply back until the server closes.
HANG = b"<hang>"


@dataclass
class Scripted:
    """A TCP server on 127.0.0.1 that reads each request whole and answers it with the next
    reply of ``replies`` (``(reply, "close")``: then closes the connection)."""

    replies: list[bytes | tuple[bytes, str]]
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            reader = conn.makefile("rb")
            while self.replies:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return  # the client closed the connection
                    head += line
                length = int(
                    next(
                        h.split(b":")[1]
                        for h in head.split(b"\r\n")
                        if h.lower().startswith(b"content-length")
                    )
                )
                self.requests.append(head + reader.read(length))
                reply, then = self.replies.pop(0), ""
                if isinstance(reply, tuple):
                    reply, then = reply
                if reply == HANG:
                    self._stop.wait(10)
                    return
                conn.sendall(reply)
                if then == "close":
                    return
            # Kept open until the server closes: a client that leaves its connection open
            # when its event loop ends then leaks it every time (see leaves_nothing_open).
            self._stop.wait(10)


@pytest.fixture(autouse=True)
def leaves_nothing_open() -> Iterator[None]:
    """A connection a test leaves open is collected here, its ResourceWarning failing that
    test instead of whichever later test the garbage collector happens to run in."""
    yield
    gc.collect()


@contextmanager
def scripted(*replies: bytes | tuple[bytes, str]) -> Iterator[Scripted]:
    server = Scripted(list(replies))
    try:
        yield server
    finally:
        server.close()


def post_all(server: Scripted, n: int, timeout: float | None = 5.0, pause: float = 0) -> list:
    """``n`` POSTs one after another (``pause`` seconds apart); each reply or error."""

    async def go() -> list:
        client = PlainHttp("127.0.0.1", server.port, b"127.0.0.1:%d" % server.port, timeout)
        found: list = []
        for i in range(n):
            try:
                found.append(await client.post("/v1/x", b"X-Try: %d\r\n" % i, b'{"i": %d}' % i))
            except TransientProviderError as e:
                found.append(e)
            await asyncio.sleep(pause)
        client.close()
        return found

    return asyncio.run(go())


def test_one_connection_carries_every_request_it_may() -> None:
    with scripted(OK, OK, OK) as server:
        replies = post_all(server, 3)
    assert [r[0] for r in replies] == [200, 200, 200] and replies[0][2] == b"{}"
    assert replies[0][1] == {"content-type": "application/json", "content-length": "2"}
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /v1/x HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % server.port)
    assert b"X-Try: 0\r\nContent-Length: 8\r\n\r\n" in first and first.endswith(b'{"i": 0}')


def test_a_reply_that_closes_or_ends_at_close_is_not_reused() -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na"
    until_close = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nthe whole body"
    with scripted((closing, "close"), (until_close, "close"), OK) as server:
        replies = post_all(server, 3)
    assert [r[2] for r in replies] == [b"a", b"the whole body", b"{}"]
    assert server.connections == 3


@pytest.mark.parametrize(
    "extra",
    [
        b"HTTP/1.1 500 Oops\r\nX-Ghost: 1\r\nContent-Length: 5\r\n\r\nghost",
        b"HTTP/",  # the start of one
    ],
    ids=["a whole response", "part of one"],
)
def test_bytes_after_a_reply_never_reach_it_or_the_next(extra: bytes) -> None:
    with scripted(OK + extra, OK) as server:
        first, second = post_all(server, 2)
    assert first == (200, {"content-type": "application/json", "content-length": "2"}, b"{}")
    assert second[0] == 200 and server.connections == 2  # the talkative connection is dropped


def test_a_protocol_switch_is_transient() -> None:
    switch = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )
    with scripted(switch, OK) as server:
        switched, fine = post_all(server, 2)
    assert isinstance(switched, TransientProviderError) and fine[0] == 200


def test_an_informational_reply_is_passed_over() -> None:
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
    with scripted(hints + OK, OK) as server:
        replies = post_all(server, 2)
    assert [r[0] for r in replies] == [200, 200] and "link" not in replies[0][1]
    assert server.connections == 1


def test_a_chunked_body_is_read_whole() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n"
        b"\r\n4\r\nECHO\r\n3\r\n: h\r\n1\r\ni\r\n0\r\n\r\n"
    )
    with scripted(chunked, OK) as server:
        replies = post_all(server, 2)
    assert replies[0][2] == b"ECHO: hi" and replies[0][1]["set-cookie"] == "a=1, b=2"
    assert server.connections == 1  # the connection stays in use after a chunked body


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ((b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", "close"), "connection failed"),
        ((b"", "close"), "connection failed (the server closed the connection)"),
        (b"HTTP/1.1 abc\r\n\r\n", "malformed response"),
    ],
    ids=["truncated", "dropped", "malformed"],
)
def test_a_broken_reply_is_transient_and_its_connection_dropped(
    reply: tuple[bytes, str] | bytes, message: str
) -> None:
    with scripted(reply, OK) as server:
        broken, fine = post_all(server, 2)
    assert isinstance(broken, TransientProviderError) and message in str(broken)
    assert fine[0] == 200 and server.connections == 2


def test_silence_times_out_and_closes_the_connection() -> None:
    with scripted(HANG, OK) as server:
        late, fine = post_all(server, 2, timeout=0.2)
    assert isinstance(late, TransientProviderError) and "timed out" in str(late)
    assert fine[0] == 200 and server.connections == 2


def test_a_refused_connection_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def go() -> None:
        await PlainHttp("127.0.0.1", port, b"127.0.0.1", 5.0).post("/", b"", b"")

    with pytest.raises(TransientProviderError, match="connection failed"):
        asyncio.run(go())


def test_an_idle_connection_the_server_closed_is_never_taken() -> None:
    with scripted((OK, "close"), OK) as server:
        replies = post_all(server, 2, pause=0.2)  # the close arrives while the connection idles
    assert [r[0] for r in replies] == [200, 200] and server.connections == 2


def test_a_cancelled_exchange_leaves_no_connection_to_reuse() -> None:
    with scripted(HANG, OK) as server:

        async def go() -> tuple:
            client = PlainHttp("127.0.0.1", server.port, b"h", 5.0)
            try:
                waiting = asyncio.create_task(client.post("/", b"", b"{}"))
                await asyncio.sleep(0.1)
                waiting.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await waiting
                return await client.post("/", b"", b"{}")  # not the hung connection
            finally:
                client.close()  # else its kept connection outlives the loop (a ResourceWarning)

        assert asyncio.run(go())[0] == 200
    assert server.connections == 2


def test_json_client_reads_header_names_in_any_case() -> None:
    shouty = (
        b"HTTP/1.1 200 OK\r\nCONTENT-TYPE: Application/JSON; charset=utf-8\r\n"
        b'Content-Length: 9\r\n\r\n{"a": 1}\n'
    )
    with scripted(shouty) as server:
        client = JsonClient(f"http://127.0.0.1:{server.port}/v1", "key", 5.0)

        async def go():
            try:
                return await client.post("/chat completions", {"q": 1})
            finally:
                await client.aclose()

        reply = asyncio.run(go())
    assert reply.content() == {"a": 1} and client.closed
    request = server.requests[0]
    assert request.startswith(b"POST /v1/chat%20completions HTTP/1.1")
    assert b"Authorization: Bearer key\r\n" in request


def test_a_key_with_a_line_break_is_never_sent() -> None:
    with scripted(OK) as server:
        client = JsonClient(f"http://127.0.0.1:{server.port}/v1", "key\n", 5.0)
        with pytest.raises(PermanentProviderError, match="line break"):
            asyncio.run(client.post("/chat/completions", {}))
    assert server.requests == []


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://127.0.0.1:8000/v1", b"127.0.0.1:8000"),
        ("http://Model.Local/v1", b"model.local"),
        ("http://[::1]:8000/v1", b"[::1]:8000"),
        ("http://exämple:8000/v1", b"xn--exmple-cua:8000"),
    ],
)
def test_the_host_header_names_the_server_as_the_url_does(url: str, host: bytes) -> None:
    plain = JsonClient(url, "k", None)._plain
    assert plain is not None and plain._host_header == host


@pytest.mark.parametrize(
    "url", ["http://localhost:99999/v1", "http://localhost:abc/v1", "http://a..b/v1"]
)
def test_a_url_that_does_not_parse_is_left_to_aiohttp(url: str) -> None:
    """Each call then fails with aiohttp's own message, as before; nothing fails at load."""
    assert JsonClient(url, "k", None)._plain is None


def test_tls_and_proxies_go_through_aiohttp(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert JsonClient("http://127.0.0.1:8000/v1", "k", None)._plain is not None
    assert JsonClient("https://api.example.com/v1", "k", None)._plain is None
    assert JsonClient("http://user:pw@127.0.0.1:8000/v1", "k", None)._plain is None
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    assert JsonClient("http://model.internal/v1", "k", None)._plain is None


#: A call in a fresh interpreter, then whether aiohttp was loaded for it.
ONE_CALL = """
import asyncio, sys
from harness.providers.openai_http import JsonClient

client = JsonClient(sys.argv[1], "k", 5.0)

async def call():
    try:
        ask = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        return await client.post("/chat/completions", ask)
    finally:
        await client.aclose()

print(asyncio.run(call()).status, "aiohttp" in sys.modules)
"""


def test_a_local_server_is_asked_without_aiohttp() -> None:
    """Importing aiohttp cost a run at zero latency ~0.09 s, its layers ~0.1 ms a request."""
    from tests.fakeserver import FakeOpenAIServer

    with FakeOpenAIServer() as url:
        done = subprocess.run(
            [sys.executable, "-c", ONE_CALL, url], capture_output=True, text=True, check=True
        )
    assert done.stdout.split() == ["200", "False"]


@contextmanager
def uvicorn_server(http: str) -> Iterator[str]:
    """An OpenAI-shaped chat endpoint on Starlette under uvicorn (vLLM's own server stack),
    with ``http`` as its protocol implementation and idle connections closed after 0.5 s."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    async def chat(request: Request) -> JSONResponse | StreamingResponse:
        body = await request.json()
        text = "ECHO: " + body["messages"][-1]["content"]
        reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
        if body.get("chunked"):  # no length: uvicorn sends it chunked

            async def parts() -> Any:
                data = json.dumps(reply).encode()
                for i in range(0, len(data), 7):
                    yield data[i : i + 7]

            return StreamingResponse(parts(), media_type="application/json")
        return JSONResponse(reply)

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    sock = socket.create_server(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=http, log_level="warning", timeout_keep_alive=0.5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.parametrize("http", ["h11", "httptools"])
def test_a_uvicorn_server_is_asked_across_its_idle_timeouts(http: str) -> None:
    with uvicorn_server(http) as url:
        client = JsonClient(url, "k", 5.0)

        async def ask(text: str, **extra: object) -> Any:
            body = {"model": "m", "messages": [{"role": "user", "content": text}], **extra}
            reply = await client.post("/chat/completions", body)
            return reply.status, reply.content()["choices"][0]["message"]["content"]

        async def go() -> list:
            try:
                together = await asyncio.gather(*(ask(f"q{i}") for i in range(8)))
                await asyncio.sleep(1.0)  # the server closes every idle connection meanwhile
                later = [await ask("after"), await ask("chunked", chunked=True)]
                return [*together, *later]
            finally:
                await client.aclose()

        replies = asyncio.run(go())
    assert replies == [(200, f"ECHO: q{i}") for i in range(8)] + [
        (200, "ECHO: after"),
        (200, "ECHO: chunked"),
    ]
