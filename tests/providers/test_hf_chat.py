"""A conversation through the local transformers provider: the tokenizer's chat template
over every message, the documented transcript without one, and request features it cannot
send refused when the suite loads (tiny models built here; no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from transformers import AutoTokenizer

from harness.api import prepare
from harness.errors import SuiteError
from harness.providers.base import Message, ModelRequest
from tests.providers import test_hf_local as tiny
from tests.providers.test_hf_local import _generate_all, _provider

# The tiny models (built once per module) and the no-network guard, as fixtures here.
hf_llama, hf_gpt2, hf_no_network = tiny.hf_llama, tiny.hf_gpt2, tiny.hf_no_network

CONVERSATION = (
    Message(role="system", content="Answer briefly."),
    Message(role="user", content="Name a fox."),
    Message(role="assistant", content="The quick brown fox."),
    Message(role="user", content="What is the capital of France?"),
)


def test_the_chat_template_renders_the_whole_conversation(hf_llama: Path) -> None:
    tok = AutoTokenizer.from_pretrained(hf_llama)
    as_dicts = [m.model_dump() for m in CONVERSATION]
    rendered = tok.apply_chat_template(as_dicts, add_generation_prompt=True, tokenize=False)
    assert rendered.count("<|user|>") == 2 and "<|system|>" in rendered
    whole, last = _generate_all(
        _provider(hf_llama),
        [
            ModelRequest(messages=CONVERSATION, params={"max_tokens": 2}),
            ModelRequest(messages=CONVERSATION[-1:], params={"max_tokens": 2}),
        ],
    )
    assert whole.prompt_tokens == len(tok(rendered, add_special_tokens=False).input_ids)
    assert last.prompt_tokens is not None and whole.prompt_tokens > last.prompt_tokens


def test_without_a_chat_template_the_prompt_is_the_transcript(hf_gpt2: Path) -> None:
    request = ModelRequest(messages=CONVERSATION, params={"max_tokens": 2})
    transcript = request.as_prompt()
    assert transcript.startswith("System: Answer briefly.\n\nUser: Name a fox.\n\n")
    assert transcript.endswith("\n\nAssistant:")
    (out,) = _generate_all(_provider(hf_gpt2), [request])
    assert out.prompt_tokens == len(AutoTokenizer.from_pretrained(hf_gpt2)(transcript).input_ids)


@pytest.mark.parametrize(
    ("prompt", "defaults", "at"),
    [
        (
            "  - id: p\n    template: x\n    tools: "
            + json.dumps([{"type": "function", "function": {"name": "f"}}])
            + "\n",
            "",
            "tools:",
        ),
        (
            "  - {id: p, template: x}\n",
            "  params: {response_format: {type: json_object}}\n",
            "response_format",
        ),
    ],
    ids=["tools", "response-format"],
)
def test_tools_or_json_mode_for_a_local_model_are_refused(
    hf_llama: Path, tmp_path: Path, prompt: str, defaults: str, at: str
) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        f"name: s\nprompts:\n{prompt}providers:\n  - {{id: tiny, type: hf, model: {hf_llama}}}\n"
        "cases:\n  - {vars: {q: a}}\n"
        f"defaults:\n{defaults}  assert: [{{type: contains, value: a}}]\n"
    )
    with pytest.raises(SuiteError) as info:
        prepare(suite)
    lines = suite.read_text().splitlines()
    assert info.value.line == next(i for i, t in enumerate(lines, 1) if at in t)
    assert "provider 'tiny' (type hf) would not send it" in info.value.message
