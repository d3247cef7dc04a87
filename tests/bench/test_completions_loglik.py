"""``--mode loglikelihood`` for an API: the completions endpoint's echoed prompt logprobs
(``echo: true, logprobs: 1, max_tokens: 1``, as lm-eval's ``local-completions`` asks
``vllm serve``), against a local server whose logprobs the tiny model computes: the same
verdicts and loglikelihoods as the local ``hf`` run, through the cache and retries."""

from __future__ import annotations

import json
import socket
import threading
from itertools import accumulate
from pathlib import Path
from typing import Any

import pytest

from harness.bench.calls import continuation_score
from harness.cli import main
from harness.errors import PermanentProviderError
from harness.providers.base import Generation
from tests.fakeserver import FakeOpenAIServer

TASKS = "mmlu:abstract_algebra,ceval:computer_network"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the local server on 127.0.0.1 may be reached."""
    connect = socket.socket.connect

    def local_only(self: socket.socket, address: Any) -> None:
        if not (isinstance(address, tuple) and address[0] == "127.0.0.1"):
            raise AssertionError(f"network access attempted: {address}")
        connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)


class EchoLogprobs:
    """A completions ``logprobs`` object for the prompt plus one greedy token, as ``vllm
    serve`` returns it with ``echo: true, logprobs: 1``: every token decoded alone, no
    logprob for the first, and at each position the token's own entry and the best one."""

    def __init__(self, folder: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        self.lock = threading.Lock()  # the server answers on several threads

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        ids = self.tokenizer(body["prompt"]).input_ids
        with self.lock, self.torch.inference_mode():
            logits = self.model(self.torch.tensor([ids])).logits[0].float()
        logprobs = self.torch.log_softmax(logits, dim=-1)
        sequence = [*ids, int(logprobs[-1].argmax())]
        tokens = [self.tokenizer.decode([t]) for t in sequence]
        values: list[float | None] = [None]
        tops: list[dict[str, float] | None] = [None]
        for i in range(1, len(sequence)):
            row = logprobs[i - 1]
            best = int(row.argmax())
            values.append(float(row[sequence[i]]))
            tops.append({tokens[i]: values[-1], self.tokenizer.decode([best]): float(row[best])})
        offsets = list(accumulate((len(t) for t in tokens[:-1]), initial=0))
        return {
            "tokens": tokens,
            "token_logprobs": values,
            "top_logprobs": tops,
            "text_offset": offsets,
        }


def _bench(data: Path, tmp_path: Path, name: str, *model: str) -> dict[str, Any]:
    out = tmp_path / f"{name}.json"
    argv = ["bench", *model, "--tasks", TASKS, "--data", str(data), "--shots", "1"]
    assert main([*argv, "--json", str(out), "-o", str(tmp_path / f"{name}.html")]) == 0
    return json.loads(out.read_text("utf-8"))["result"]


@pytest.mark.slow
def test_api_loglikelihoods_equal_the_local_hf_run(
    tiny_model: Path, dialect_data: Path, tmp_path: Path
) -> None:
    server = FakeOpenAIServer(
        echo_logprobs=EchoLogprobs(tiny_model), fault_rate=0.2, max_random_faults_per_key=1
    )
    api = ("--model", "openai:tiny", "--base-url", "URL", "--api-key-env", "none")
    with server as url:
        argv = [url if a == "URL" else a for a in api] + ["--mode", "loglikelihood"]
        ours = _bench(dialect_data, tmp_path, "api", *argv)
        sent = len(server.requests)
        again = _bench(dialect_data, tmp_path, "again", *argv)
    local = _bench(dialect_data, tmp_path, "hf", "--model", str(tiny_model))

    assert len(server.requests) == sent  # the second run came from the cache
    assert server.fault_counts  # and the first one retried what failed
    assert again["subjects"] == ours["subjects"]
    assert ours["mode"] == local["mode"] == "loglikelihood"
    assert ours["micro_acc"] == local["micro_acc"]
    for mine, theirs in zip(ours["subjects"], local["subjects"], strict=True):
        assert mine["task"] == theirs["task"]
        assert (mine["acc"], mine["acc_norm"]) == (theirs["acc"], theirs["acc_norm"])
        assert [(q["pred"], q["correct"]) for q in mine["questions"]] == [
            (q["pred"], q["correct"]) for q in theirs["questions"]
        ]
        for q, ref in zip(mine["questions"], theirs["questions"], strict=True):
            assert q["logliks"] == pytest.approx(ref["logliks"], abs=1e-4)
    questions = sum(len(s["questions"]) for s in ours["subjects"])
    answered = [r for r in server.requests if r.outcome == "ok"]
    assert len(answered) == 4 * questions  # one request per (question, letter)
    body = answered[0].body
    assert {r.path for r in answered} == {"/v1/completions"}
    assert {k: body[k] for k in ("echo", "logprobs", "max_tokens", "temperature")} == {
        "echo": True,
        "logprobs": 1,
        "max_tokens": 1,
        "temperature": 0,
    }
    assert "continuation" not in body and body["prompt"][-2:] in {" A", " B", " C", " D"}


def test_a_server_that_does_not_echo_logprobs_says_what_to_use(
    dialect_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with FakeOpenAIServer() as url:
        argv = ["bench", "--model", "openai:fake", "--base-url", url, "--api-key-env", "none"]
        argv += ["--mode", "loglikelihood", "--tasks", "mmlu:abstract_algebra"]
        assert main([*argv, "--data", str(dialect_data), "--shots", "0", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "no logprobs of the echoed prompt" in err and "--mode generate" in err


def _reply(tokens: list[str], values: list[float | None]) -> dict[str, Any]:
    tops = [None if v is None else {t: v, "x": -0.5} for t, v in zip(tokens, values, strict=True)]
    logprobs = {"tokens": tokens, "token_logprobs": values, "top_logprobs": tops}
    return {"choices": [{"text": "".join(tokens), "logprobs": logprobs}]}


@pytest.mark.parametrize(
    ("tokens", "continuation", "expected"),
    [
        # a BOS the prompt text does not show, then one answer token, then the generated one
        (["<s>", "Answer", ":", " A", "\n"], " A", (-0.4, True)),
        # the answer split over two tokens
        (["Answer", ":", " Tw", "o", "!"], " Two", (-0.9, False)),
        # a token across the boundary ("r: A" merged): the fewest tokens holding the answer
        (["Answe", "r: A", "\n"], " A", (-0.2, True)),
    ],
)
def test_the_continuation_is_the_final_echoed_tokens_that_hold_it(
    tokens: list[str], continuation: str, expected: tuple[float, bool]
) -> None:
    values = {"<s>": None, "Answer": -3.0, "Answe": None, ":": -2.0, " A": -0.4, "r: A": -0.2}
    values |= {" Tw": -0.3, "o": -0.6, "\n": -1.0, "!": -1.5}
    reply = _reply(tokens, [values[t] for t in tokens])
    score = continuation_score(reply, continuation, Generation(text="", completion_tokens=1))
    assert score == pytest.approx(expected)


def test_echoed_tokens_that_do_not_end_with_the_continuation_are_an_error() -> None:
    reply = _reply(["Answer", ":", " B", "\n"], [None, -1.0, -0.5, -0.1])
    with pytest.raises(PermanentProviderError, match="do not end with ' A'"):
        continuation_score(reply, " A", Generation(text="", completion_tokens=1))
    no_logprob = _reply([" A", "\n"], [None, -0.1])
    with pytest.raises(PermanentProviderError, match="no logprob for a token of ' A'"):
        continuation_score(no_logprob, " A", Generation(text="", completion_tokens=1))
