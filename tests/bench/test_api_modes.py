"""API models on benchmarks, against the local OpenAI-compatible server: ``generate`` mode
(the letter read from the answer text) and ``logprobs`` mode (the letters' top_logprobs),
through the response cache and the retry policy."""

from __future__ import annotations

import json
import math
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from harness.bench.calibration import softmax
from harness.cli import main
from tests.bench.helpers import MMLU_TEST
from tests.fakeserver import FakeOpenAIServer

TASK = "mmlu:abstract_algebra"
ANSWERS = {row[0].strip(): row[5] for row in MMLU_TEST}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the local server on 127.0.0.1 may be reached."""
    connect = socket.socket.connect

    def local_only(self: socket.socket, address: Any) -> None:
        if not (isinstance(address, tuple) and address[0] == "127.0.0.1"):
            raise AssertionError(f"network access attempted: {address}")
        connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)


def _question(body: dict[str, Any]) -> str:
    """The scored question: the prompt's last block, before its options."""
    prompt = body["messages"][-1]["content"]
    return prompt.rsplit("\n\n", 1)[-1].split("\nA. ")[0].strip()


def _index(question: str) -> int:
    return list(ANSWERS).index(question)


def _reply(body: dict[str, Any]) -> str:
    """Right on even rows, wrong on odd rows, and no letter at all on row 3."""
    question = _question(body)
    i, answer = _index(question), ANSWERS[question]
    if i == 3:
        return "I am not sure."
    letter = answer if i % 2 == 0 else "ABCD"[("ABCD".index(answer) + 1) % 4]
    return f"The answer is ({letter})."


def _alternatives(body: dict[str, Any]) -> dict[str, float]:
    """The answer most likely on even rows; on odd rows "D" is missing from the top list."""
    question = _question(body)
    i, answer = _index(question), ANSWERS[question]
    alternatives = {" A": -2.0, "B": -1.5, " C": -3.0, "D": -2.5, "The": -0.9, " Answer": -4.0}
    if i % 2 == 0:
        alternatives[answer if answer in "BD" else f" {answer}"] = -0.1
    else:
        alternatives.pop("D")
    return alternatives


def _bench(url: str, data: Path, tmp_path: Path, mode: str, *extra: str) -> dict[str, Any]:
    out = tmp_path / f"{mode}.json"
    argv = ["bench", "--model", "openai:fake", "--base-url", url, "--api-key-env", "none"]
    argv += ["--mode", mode, "--tasks", TASK, "--data", str(data), "--shots", "1"]
    argv += ["--json", str(out), "-o", str(tmp_path / f"{mode}.html"), *extra]
    assert main(argv) == 0
    return json.loads(out.read_text("utf-8"))["result"]


def test_generate_mode_reads_the_letter_and_uses_the_cache(
    dialect_data: Path, tmp_path: Path
) -> None:
    server = FakeOpenAIServer(responder=_reply, fault_rate=0.5, max_random_faults_per_key=1)
    with server as url:
        result = _bench(url, dialect_data, tmp_path, "generate")
        sent = len(server.requests)
        again = _bench(url, dialect_data, tmp_path, "generate")
    assert server.fault_counts and sum(server.success_counts.values()) == len(MMLU_TEST)
    assert len(server.requests) == sent  # the second run came from the cache
    [subject] = result["subjects"]
    flags = [q["correct"] for q in subject["questions"]]
    assert flags == [i % 2 == 0 and i != 3 for i in range(len(MMLU_TEST))]
    assert subject["acc"] == pytest.approx(sum(flags) / len(flags))
    from lm_eval.api.metrics import mean_stderr

    assert subject["acc_stderr"] == pytest.approx(mean_stderr([float(f) for f in flags]))
    assert subject["questions"][3]["pred"] is None  # no letter: wrong, not "A"
    assert subject["questions"][0]["output"].startswith("The answer is (")
    assert result["mode"] == "generate" and result["calibration"]["ece"] is None
    assert again["subjects"][0]["questions"] == subject["questions"]
    first = server.requests[0].body
    assert first["temperature"] == 0 and first["max_tokens"] == 64
    assert first["messages"][-1]["content"].startswith(
        "The following are multiple choice questions (with answers) about abstract algebra."
    )


def test_logprobs_mode_scores_the_letters_top_logprobs(dialect_data: Path, tmp_path: Path) -> None:
    server = FakeOpenAIServer(responder=lambda body: "B", top_logprobs=_alternatives)
    with server as url:
        result = _bench(url, dialect_data, tmp_path, "logprobs")
    body = server.requests[0].body
    assert (body["max_tokens"], body["logprobs"], body["top_logprobs"]) == (1, True, 20)
    [subject] = result["subjects"]
    for i, q in enumerate(subject["questions"]):
        expected = _alternatives({"messages": [{"content": f"\n\n{q['question']}\nA. x"}]})
        for letter, value in zip("ABCD", q["logliks"], strict=True):
            found = [lp for t, lp in expected.items() if t.strip() == letter]
            assert value == max(found, default=min(expected.values()))
        assert q["probs"] == pytest.approx(list(softmax(q["logliks"])))
        # odd rows: "D" is missing, and " A" -2.0 < "B" -1.5: B is chosen
        assert q["correct"] == (i % 2 == 0 or q["answer"] == "B")
    right = [i % 2 == 0 or row[5] == "B" for i, row in enumerate(MMLU_TEST)]
    assert math.isclose(subject["acc"], sum(right) / len(right))
    assert result["mode"] == "logprobs" and result["calibration"]["brier"] is not None


def test_an_api_without_logprobs_says_to_use_generate(
    dialect_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with FakeOpenAIServer() as url:
        argv = ["bench", "--model", "openai:fake", "--base-url", url, "--api-key-env", "none"]
        argv += ["--mode", "logprobs", "--tasks", TASK, "--data", str(dialect_data)]
        assert main([*argv, "--shots", "0", "--no-cache"]) == 2
    assert re.search(r"no top_logprobs.*--mode generate", capsys.readouterr().err)
