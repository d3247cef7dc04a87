"""POSTs to a plain-HTTP server (a local vLLM, Ollama, llama.cpp) over kept-alive
connections, with responses parsed by httptools (llhttp, the parser uvicorn serves with).

Against a local server that answers at once, aiohttp's layers per request (its request
and response objects, payload registry, cookie jar, per-read timers) cost ~0.1 ms of CPU,
and importing it ~0.09 s: together more than a fifth of `harness run` at zero latency
(``bench/cli_throughput.py``). A POST of a JSON body on a kept-alive connection needs
none of them, so :class:`openai_http.JsonClient` sends ``http://`` requests that no proxy
takes here and everything else (TLS, proxies) through aiohttp.

llhttp does the parsing (lengths, chunked bodies, keep-alive, malformed input); this
module only keeps idle connections for reuse and times reads out. A connection is reused
only after a complete response that allows it; one the server closed while idle is never
taken again; one whose exchange failed or was cancelled is closed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import cast

import httptools

from harness.errors import TransientProviderError


@dataclass
class _Response:
    """What arrived of one response."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: list[bytes] = field(default_factory=list)
    headers_done: bool = False
    keep_alive: bool = False


class PlainHttp:
    """Kept-alive connections to one ``host:port`` (``host_header``: the Host header's
    value); ``timeout``: seconds to connect, and seconds of silence while a response is
    awaited (the SDK's connect and read timeouts)."""

    def __init__(self, host: str, port: int, host_header: bytes, timeout: float | None) -> None:
        self._host, self._port = host, port
        self._host_header = host_header
        self._timeout = timeout
        self._idle: list[_Connection] = []
        self._closed = False

    async def post(self, target: str, headers: bytes, body: bytes) -> tuple[int, dict, bytes]:
        """Status, headers (names lower-cased) and body of the reply to a POST of ``body``
        to ``target`` (a path) with ``headers`` (``Name: value\\r\\n`` lines)."""
        connection = await self._connection()
        request = b"".join(
            [
                b"POST %s HTTP/1.1\r\nHost: %s\r\n" % (target.encode(), self._host_header),
                headers,
                b"Content-Length: %d\r\n\r\n" % len(body),
                body,
            ]
        )
        try:
            response = await connection.exchange(request, self._timeout)
        except BaseException:
            connection.close()  # a reply may still come: this connection is done
            raise
        if response.keep_alive and not connection.closed and not self._closed:
            self._idle.append(connection)
        else:
            connection.close()
        return response.status, response.headers, b"".join(response.body)

    async def _connection(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout):
                _, connection = await loop.create_connection(_Connection, self._host, self._port)
        except TimeoutError:
            raise TransientProviderError("request timed out (connecting)") from None
        except OSError as e:
            raise TransientProviderError(f"connection failed ({type(e).__name__}: {e})") from None
        return connection

    def close(self) -> None:
        """Close every idle connection; those in use close as their exchange ends."""
        self._closed = True
        for connection in self._idle:
            connection.close()
        self._idle.clear()


class _Connection(asyncio.Protocol):
    """One connection: one exchange at a time, the response fed to llhttp as it arrives."""

    def __init__(self) -> None:
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._response = _Response()
        self._done: asyncio.Future[_Response] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timeout: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    async def exchange(self, request: bytes, timeout: float | None) -> _Response:
        loop = asyncio.get_running_loop()
        self._response, self._done, self._timeout = _Response(), loop.create_future(), timeout
        self._transport.write(request)
        self._restart_timer()
        try:
            return await self._done
        finally:
            self._done = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def close(self) -> None:
        self.closed = True
        self._transport.close()

    # --- asyncio's side ---

    def data_received(self, data: bytes) -> None:
        if self._done is None:  # nothing was asked: a server that talks out of turn
            self.close()
            return
        self._restart_timer()
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as e:
            self._fail(TransientProviderError(f"malformed response ({type(e).__name__}: {e})"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self._response
        if response.headers_done and _ends_at_close(response.headers):
            self._finish(response)  # a body without a length ends where the connection does
        else:
            why = f"{type(exc).__name__}: {exc}" if exc else "the server closed the connection"
            self._fail(TransientProviderError(f"connection failed ({why})"))

    # --- llhttp's callbacks ---

    def on_message_begin(self) -> None:
        if self._done is None or self._done.done():  # more than was asked for: unusable
            self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        headers = self._response.headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        response = self._response
        response.status = self._parser.get_status_code()
        response.keep_alive = self._parser.should_keep_alive()
        response.headers_done = True

    def on_body(self, body: bytes) -> None:
        self._response.body.append(body)

    def on_message_complete(self) -> None:
        response, self._response = self._response, _Response()  # what follows is not this one's
        if not 100 <= response.status < 200:  # 103 Early Hints and the like: the reply follows
            self._finish(response)

    # ---

    def _finish(self, response: _Response) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(response)

    def _fail(self, error: Exception) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_exception(error)

    def _restart_timer(self) -> None:
        if self._timeout is None or self._done is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self._timeout, self._timed_out)

    def _timed_out(self) -> None:
        self._timer = None
        self._fail(TransientProviderError("request timed out"))
        self.close()


def _ends_at_close(headers: dict[str, str]) -> bool:
    """Whether a response's body runs until the connection closes (no length, not chunked)."""
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    return "content-length" not in headers and not chunked
