"""Headless Chromium for the report tests: a minimal DevTools client, pages, and checks.

Shared by every test that opens a report in a real browser (``tests/report``,
``tests/compare``). No port, no websocket library, no network: see :class:`Chromium`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")


#: Execs argv[3:] with argv[1] as its fd 3 and argv[2] as its fd 4 (what the pipe mode reads).
_ONTO_FD_3_AND_4 = """
import fcntl, os, sys
r, w = (fcntl.fcntl(int(fd), fcntl.F_DUPFD, 5) for fd in sys.argv[1:3])  # above 4: no clobbering
os.dup2(r, 3)
os.dup2(w, 4)
os.execv(sys.argv[3], sys.argv[3:])
"""


class Chromium:
    """A minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe``.

    The pipe needs no port, no websocket library and no network: commands go to
    the browser's fd 3 and NUL-terminated JSON replies and events come from its fd 4.
    """

    def __init__(self, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        args = [
            str(CHROMIUM), "--headless", "--remote-debugging-pipe", "--no-sandbox",
            "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions",
            f"--user-data-dir={profile}", "about:blank",
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _ONTO_FD_3_AND_4, str(to_browser_r), str(from_browser_w), *args],
            pass_fds=(to_browser_r, from_browser_w),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        with os.fdopen(self._from_browser, "rb", buffering=0) as pipe:
            while chunk := pipe.read(1 << 16):
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                for m in messages:
                    self._inbox.put(json.loads(m))
        self._inbox.put(None)

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and return its result, keeping the events that arrive meanwhile."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._inbox.get(timeout=15)
            if reply is None:
                raise RuntimeError("chromium exited")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, since: int = 0, timeout: float = 15) -> dict[str, Any]:
        """Wait for an event (one received after ``self.events[since]`` counts) and return it."""
        deadline = time.monotonic() + timeout
        while not (found := [e for e in self.events[since:] if e.get("method") == method]):
            reply = self._inbox.get(timeout=max(0.01, deadline - time.monotonic()))
            if reply is None:
                raise RuntimeError("chromium exited")
            self.events.append(reply)
        return found[0]

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError, queue.Empty):
            self.send("Browser.close")
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._to_browser)


class Page:
    """One tab of the browser, opened on a file URL with network and console recorded."""

    def __init__(self, browser: Chromium, url: str) -> None:
        self.browser = browser
        target = browser.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = browser.send("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=1440, height=1000,
                  deviceScaleFactor=1, mobile=False)  # fmt: skip
        since = len(browser.events)
        self.send("Page.navigate", url=url)
        browser.wait_for("Page.loadEventFired", since)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        return self.browser.send(method, self.session, **params)

    def eval(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        shot = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=False)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def choose(self, select_id: str, value: str) -> None:
        self.eval(
            f"(() => {{ const s = document.getElementById({json.dumps(select_id)});"
            f" s.value = {json.dumps(value)}; s.dispatchEvent(new Event('change')); }})()"
        )

    def rows(self) -> list[str]:
        return self.eval(
            "[...document.querySelectorAll('#case-rows tr')].map(r => r.dataset.status)"
        )


def console_errors(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Console errors, uncaught exceptions and browser log errors (CSP violations included)."""
    return [
        e
        for e in events
        if e.get("method") == "Runtime.exceptionThrown"
        or (
            e.get("method") == "Runtime.consoleAPICalled"
            and e["params"]["type"] in ("error", "assert")
        )
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]


def requested_urls(events: list[dict[str, Any]]) -> set[str]:
    """Every URL the pages asked for."""
    return {
        e["params"]["request"]["url"]
        for e in events
        if e.get("method") == "Network.requestWillBeSent"
    }


def launch_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    """For a fixture: a browser, or a skip where Chromium is missing (a failure in CI)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; CI must run the browser tests")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    chromium = Chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield chromium
    finally:
        chromium.close()
