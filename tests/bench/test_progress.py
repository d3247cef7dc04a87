"""What ``harness bench`` shows while it runs: a bar per model with questions/s and the
time left on a terminal (stderr), nothing that redraws when piped, and a warning before
a bfloat16 run that this CPU would emulate."""

from __future__ import annotations

import io
import re
import socket
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from harness.cli import main
from tests.bench.helpers import MMLU_TEST
from tests.fakeserver import FakeOpenAIServer

TASK = "mmlu:abstract_algebra"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the local server on 127.0.0.1 may be reached."""
    connect = socket.socket.connect

    def local_only(self: socket.socket, address: Any) -> None:
        if not (isinstance(address, tuple) and address[0] == "127.0.0.1"):
            raise AssertionError(f"network access attempted: {address}")
        connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """The command's stderr console, as if on a terminal (no colours, to read it)."""
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system=None, width=200)
    monkeypatch.setattr("harness.bench.command.console", console)
    return buffer


def _argv(model: str, data: Path, tmp_path: Path, *extra: str) -> list[str]:
    argv = ["bench", "--model", model, "--tasks", TASK, "--data", str(data), "--shots", "1"]
    return [*argv, "-o", str(tmp_path / "r.html"), *extra]


def _final_bar(screen: str) -> str:
    """The bar's last frame (rich redraws it in place with carriage returns)."""
    frames = [f for f in re.split(r"[\r\n]", screen) if "questions/s" in f]
    assert frames, screen
    return frames[-1]


def test_a_local_model_shows_questions_per_second_and_the_time_left(
    tiny_model: Path, dialect_data: Path, tmp_path: Path, terminal: io.StringIO
) -> None:
    assert main(_argv(str(tiny_model), dialect_data, tmp_path, "--batch-size", "2")) == 0
    last = _final_bar(terminal.getvalue())
    n = len(MMLU_TEST)
    assert re.search(rf"\b{n}/{n}\b", last), last
    assert re.search(r"\d+\.\d\d questions/s", last) and "ETA 0:00:00" in last, last
    assert "Benchmarking" in terminal.getvalue()


def test_an_api_model_counts_its_answers_too(
    dialect_data: Path, tmp_path: Path, terminal: io.StringIO
) -> None:
    with FakeOpenAIServer(responder=lambda body: "The answer is (B).") as url:
        argv = _argv("openai:fake", dialect_data, tmp_path, "--mode", "generate")
        assert main([*argv, "--base-url", url, "--api-key-env", "none", "--no-cache"]) == 0
    n = len(MMLU_TEST)
    assert re.search(rf"\b{n}/{n}\b", _final_bar(terminal.getvalue()))


def test_piped_output_has_no_bar_and_no_lm_eval_bars(
    tiny_model: Path, dialect_data: Path, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    """Not a terminal (CI, a pipe): the "Benchmarking" line only; and lm-eval's own tqdm
    bars (one per task while it builds the prompts) are never drawn."""
    assert main(_argv(str(tiny_model), dialect_data, tmp_path)) == 0
    err = capfd.readouterr().err
    assert "Benchmarking" in err
    assert "questions/s" not in err and "it/s" not in err and "\r" not in err


@pytest.mark.parametrize(
    ("capabilities", "warned"), [({"cpu_name": "x"}, True), ({"amx_bf16": True}, False)]
)
def test_bfloat16_on_a_cpu_without_bf16_instructions_is_warned_before_the_run(
    tiny_model: Path,
    dialect_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    capabilities: dict[str, Any],
    warned: bool,
) -> None:
    import torch

    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    argv = _argv(str(tiny_model), dialect_data, tmp_path, "--dtype", "bf16", "--limit", "2")
    assert main([*argv, "--device", "cpu", "--json", str(tmp_path / "r.json")]) == 0
    err = capsys.readouterr().err
    assert ("warning:" in err and "emulated" in err and "use float32" in err) == warned, err
    assert err.index("Benchmarking") < err.index("warning:") if warned else True
    assert '"dtype": "bfloat16"' in (tmp_path / "r.json").read_text("utf-8")
