"""The wire of the ``openai`` provider: one JSON POST with a bearer key, over aiohttp.

The official SDK spent ~1.1 ms of CPU per request on its own layers (building an httpx
request, adapting it to aiohttp, constructing response models): more than the rest of a
case, and on a small machine what set the pace of a run (``bench/cli_throughput.py``);
importing it cost every ``harness run`` another ~0.5 s. The exchange itself is one POST,
so it is sent here with aiohttp, the library the SDK's fastest transport used
underneath, with the SDK's settings (its timeouts per connect and read, proxies from the
environment, its organisation and project headers). The proxy is looked up once, not
per request (aiohttp's ``trust_env`` reads the environment and ``~/.netrc`` in a worker
thread on every call). A plain ``http://`` server that no proxy stands before (a local
vLLM, Ollama, llama.cpp) is asked over :mod:`harness.providers.plain_http` instead, which
costs a fraction of aiohttp's CPU a request and none of its import. Status codes are left
to the caller's error policy; what fails before a status arrives is a
:class:`TransientProviderError` here.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from harness.errors import PermanentProviderError, TransientProviderError
from harness.providers.plain_http import PlainHttp

if TYPE_CHECKING:
    import aiohttp

#: Connections kept open per client: above any sane ``concurrency``, as the SDK's.
CONNECTION_LIMIT = 1000
#: Headers the SDK adds from these environment variables when they are set.
_SDK_ENV_HEADERS = {"OpenAI-Organization": "OPENAI_ORG_ID", "OpenAI-Project": "OPENAI_PROJECT_ID"}


@dataclass(frozen=True)
class Reply:
    """What the server answered: its status, headers and body text."""

    status: int
    headers: Mapping[str, str]
    text: str

    def content(self) -> Any:
        """The body as JSON when the server says it is JSON; otherwise its text (an HTML
        page, an event stream), for the reader to refuse with the text quoted. A JSON body
        that does not parse is a malformed (retryable) response."""
        if "json" not in self.headers.get("content-type", "").lower():
            return self.text
        try:
            return json.loads(self.text)
        except ValueError as e:
            raise TransientProviderError(f"malformed response: {type(e).__name__}: {e}") from None


class JsonClient:
    """POSTs JSON to ``base_url`` + a path: over :class:`PlainHttp` to a plain-HTTP server no
    proxy stands before, else over an aiohttp session that opens on the first call (inside
    the event loop that uses it), aiohttp imported then."""

    def __init__(self, base_url: str, api_key: str, timeout: float | None) -> None:
        self.base_url = base_url
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        for header, variable in _SDK_ENV_HEADERS.items():
            if os.environ.get(variable):
                self._headers[header] = os.environ[variable]
        self._timeout_s = timeout
        self._proxy = env_proxy(base_url)
        self._session: aiohttp.ClientSession | None = None
        self._plain = _plain_http(base_url, timeout) if self._proxy is None else None
        self._lines: bytes | None = None  # the headers as sent over self._plain
        self._targets: dict[str, str] = {}  # path -> what the request line asks for
        self._closed = False

    @property
    def closed(self) -> bool:
        if self._plain is not None:
            return self._closed
        return self._session is None or self._session.closed

    async def post(self, path: str, body: Mapping[str, Any]) -> Reply:
        """The server's reply to ``body``, whatever its status; a timeout or a refused,
        reset or dropped connection is a :class:`TransientProviderError`."""
        data = json.dumps(body).encode()  # ASCII escapes: a lone surrogate is sent as \ud800
        if self._plain is not None:
            if self._lines is None:
                self._lines = _header_lines(self._headers)
            target = self._targets.get(path) or self._targets.setdefault(
                path, _target(self.base_url + path)
            )
            status, headers, raw = await self._plain.post(target, self._lines, data)
            return Reply(status, headers, raw.decode("utf-8", errors="replace"))
        import aiohttp

        try:
            async with self._client().post(
                self.base_url + path,
                data=data,
                headers=self._headers,
                proxy=self._proxy,
                allow_redirects=False,
            ) as response:
                text = (await response.read()).decode("utf-8", errors="replace")  # JSON is UTF-8
                return Reply(response.status, response.headers, text)
        except TimeoutError:
            raise TransientProviderError("request timed out") from None
        except aiohttp.ClientError as e:
            raise TransientProviderError(f"connection failed ({type(e).__name__}: {e})") from None

    async def aclose(self) -> None:
        self._closed = True
        if self._plain is not None:
            self._plain.close()
        if self._session is not None:
            await self._session.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            import aiohttp

            connector = aiohttp.TCPConnector(limit=CONNECTION_LIMIT)
            timeout = aiohttp.ClientTimeout(sock_connect=self._timeout_s, sock_read=self._timeout_s)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self._session


def env_proxy(url: str) -> str | None:
    """The proxy the environment gives for ``url`` (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``;
    none for a host in ``NO_PROXY``)."""
    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(parts.scheme) or proxies.get("all")


def _plain_http(base_url: str, timeout: float | None) -> PlainHttp | None:
    """The plain-HTTP client for an ``http://`` URL; None for any other: TLS, credentials
    in the URL, or a port or host name that does not parse, which aiohttp then reports as
    each call's error."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or not parts.hostname or parts.username or parts.password:
        return None
    try:
        port = parts.port
        host = parts.hostname.encode("idna")
    except (ValueError, UnicodeError):
        return None
    if b":" in host:  # an IPv6 address
        host = b"[%s]" % host
    host_header = host if port is None else b"%s:%d" % (host, port)
    return PlainHttp(parts.hostname, port or 80, host_header, timeout)


def _target(url: str) -> str:
    """The request line's target for ``url``: its path and query, percent-encoded as
    aiohttp would send them."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return quote(target, safe="/?&=%:@!$'()*+,;~")


def _header_lines(headers: Mapping[str, str]) -> bytes:
    """``Name: value`` lines; a line break in a value (a key read with its newline) would
    end the header early, so it is refused, as aiohttp refuses it."""
    lines = []
    for name, value in headers.items():
        if "\r" in value or "\n" in value:
            raise PermanentProviderError(
                f"the {name} header holds a line break: is the API key (or "
                f"{', '.join(_SDK_ENV_HEADERS.values())}) set with a trailing newline?"
            )
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("latin-1", errors="replace")
