"""``type: exec``: the user's application as a command, run once per case.

Each argument is a sandboxed Jinja template (``prompt``, ``messages``, ``vars``); the prompt
goes on stdin unless an argument takes it. stdout is the output (or JSON picked apart like
an ``http`` reply). A non-zero exit fails the case with the end of its stderr; a command
still running at ``timeout`` is killed with every process it started (its process group).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any, ClassVar

from harness.errors import PermanentProviderError, SuiteKeyError, TransientProviderError
from harness.providers.app_io import ReplyPicker, app_inputs, compile_app_template, render_app
from harness.providers.base import Generation, ModelRequest, Provider
from harness.suite.schema import ExecProviderConfig

#: Characters of stderr kept in the error of a failed command.
STDERR_TAIL = 1000


class ExecProvider(Provider):
    """Runs ``command`` in ``cwd`` (the suite's folder unless given)."""

    type_name: ClassVar[str] = "exec"
    config: ExecProviderConfig

    def __init__(self, config: ExecProviderConfig) -> None:
        super().__init__(config)
        self._args = [compile_app_template(a, "command", i) for i, a in enumerate(config.command)]
        templated = any("{{" in a or "{%" in a for a in config.command)
        self._stdin = config.stdin or ("none" if templated else "prompt")
        self._cwd = Path(config.cwd or ".")
        if not self._cwd.is_dir():
            raise SuiteKeyError(f"cwd is not a folder: {self._cwd}", "cwd")
        self._check_program(config.command[0])
        self._reply = ReplyPicker(config.response)
        self._fingerprint = self._files_fingerprint()

    @property
    def model(self) -> str:
        return self.config.model or " ".join(self.config.command)

    def _check_program(self, program: str) -> None:
        """A misspelt program is an error when the suite loads, not once per case."""
        if "{" in program:
            return  # a template: known per case only
        if shutil.which(program) is None and shutil.which(str(self._cwd / program)) is None:
            raise SuiteKeyError(
                f"command not found: {program!r} (not on PATH, nor an executable in {self._cwd})",
                "command",
                0,
            )

    @property
    def returns_contexts(self) -> bool:
        return self._reply.picks_contexts

    def identity(self) -> dict[str, str]:
        """The command, how it is fed, the reply's paths, and a hash of the files its
        arguments name (edit the script, and its old answers are not reused)."""
        return {
            "type": self.type_name,
            "command": json.dumps(self.config.command),
            "stdin": self._stdin,
            "response": self._reply.identity(),
            "files": self._fingerprint,
        }

    async def generate(self, request: ModelRequest) -> Generation:
        inputs = app_inputs(request)
        argv = [render_app(t, inputs, f"command argument {i}") for i, t in enumerate(self._args)]
        stdout, stderr, code = await self._run(argv, self._input(inputs))
        if code != 0:
            status = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            tail = stderr.decode(errors="replace").strip()[-STDERR_TAIL:]
            raise PermanentProviderError(
                f"{argv[0]} failed ({status}): {tail or '(nothing on stderr)'}"
            )
        return self._reply.generation(stdout.decode(errors="replace").rstrip("\r\n"))

    def _input(self, inputs: dict[str, Any]) -> bytes | None:
        if self._stdin == "prompt":
            return inputs["prompt"].encode()
        if self._stdin == "json":
            return json.dumps(inputs, ensure_ascii=False, default=str).encode()
        return None

    async def _run(self, argv: list[str], stdin: bytes | None) -> tuple[bytes, bytes, int]:
        """stdout, stderr and the exit code; past the timeout the process group is killed."""
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self._cwd,
                start_new_session=True,  # its own process group, killed as one
            )
        except OSError as e:  # not found, not executable
            raise PermanentProviderError(f"cannot start {argv[0]!r}: {e}") from None
        try:
            async with asyncio.timeout(self.config.timeout):
                stdout, stderr = await process.communicate(stdin)
        except TimeoutError:
            await _kill(process)
            raise TransientProviderError(
                f"{argv[0]} timed out after {self.config.timeout}s (killed with its children)"
            ) from None
        except BaseException:  # cancelled (Ctrl-C): leave nothing running
            await _kill(process)
            raise
        assert process.returncode is not None  # communicate() waited for the exit
        return stdout, stderr, process.returncode

    def _files_fingerprint(self) -> str:
        digest = hashlib.sha256()
        for arg in self.config.command:
            path = self._cwd / arg
            with contextlib.suppress(OSError):
                if path.is_file():
                    digest.update(arg.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()[:16]


async def _kill(process: asyncio.subprocess.Process) -> None:
    """Kill the command's whole process group, then drain and close its pipes (an abandoned
    pipe would stay open until the event loop closes)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.communicate()
