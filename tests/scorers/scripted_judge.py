"""A scripted judge for the fake OpenAI server: it answers ragas' prompts and the rubric
judge's with the JSON they expect, decided by plain word overlap, so tests know exactly
which verdicts ragas must turn into which numbers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from tests.fakeserver import Responder, prompt_key

_INPUT = re.compile(r"Now perform the same with the following input\ninput: (.*)\nOutput: $", re.S)
_WORD = re.compile(r"\w+")
#: What every ragas prompt (and no rubric prompt) says.
_RAGAS = "Now perform the same with the following input"


def words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if len(w) > 3}


def supported(claim: str, source: str) -> bool:
    """A claim is supported when most of its content words appear in the source."""
    claim_words = words(claim)
    return bool(claim_words) and len(claim_words & words(source)) * 2 > len(claim_words)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def prompt_input(prompt: str) -> dict[str, Any]:
    """The input JSON at the end of one of ragas' prompts."""
    return json.loads(_INPUT.search(prompt).group(1))  # type: ignore[union-attr]


def ragas_reply(prompt: str) -> dict[str, Any]:
    """The JSON reply to one of ragas' collections prompts."""
    data = prompt_input(prompt)
    if prompt.startswith("Given a question and an answer, analyze the complexity"):
        return {"statements": sentences(data["answer"])}
    if prompt.startswith("Your task is to judge the faithfulness"):
        return {
            "statements": [
                {"statement": s, "reason": "overlap", "verdict": int(supported(s, data["context"]))}
                for s in data["statements"]
            ]
        }
    if prompt.startswith("Given question, answer and context verify"):
        useful = bool(words(data["answer"]) & words(data["context"]))
        return {"reason": "shares words" if useful else "unrelated", "verdict": int(useful)}
    if prompt.startswith("Given a context and an answer, analyze each statement"):
        return {
            "classifications": [
                {
                    "statement": s,
                    "reason": "overlap",
                    "attributed": int(supported(s, data["context"])),
                }
                for s in sentences(data["answer"])
            ]
        }
    if prompt.startswith("Generate a question for the given answer"):
        response = data["response"]
        noncommittal = int("not sure" in response.lower())
        return {"question": f"What about {response.rstrip('.')}?", "noncommittal": noncommittal}
    if prompt.startswith("Given a ground truth and an answer statements"):
        truth = " ".join(data["ground_truth"])
        answer = " ".join(data["answer"])
        tp = [s for s in data["answer"] if supported(s, truth)]
        fp = [s for s in data["answer"] if not supported(s, truth)]
        fn = [s for s in data["ground_truth"] if not supported(s, answer)]
        return {
            kind: [{"statement": s, "reason": kind} for s in found]
            for kind, found in (("TP", tp), ("FP", fp), ("FN", fn))
        }
    raise AssertionError(f"unexpected prompt: {prompt[:120]!r}")


def ragas_responder(body: dict[str, Any]) -> str:
    """A fake-server responder for ragas' prompts (harness bridge and ragas' own instructor)."""
    return json.dumps(ragas_reply(prompt_key(body) or ""))


def tampered(edit: Callable[[str, dict[str, Any]], dict[str, Any] | None]) -> Responder:
    """:func:`any_judge` with each reply to a ragas prompt passed through ``edit(prompt,
    reply)`` (None: the reply unchanged): a judge that gets one step wrong."""

    def respond(body: dict[str, Any]) -> str:
        prompt = prompt_key(body) or ""
        if _RAGAS not in prompt:
            return grade_by_reference(body)
        reply = ragas_reply(prompt)
        return json.dumps(edit(prompt, reply) or reply)

    return respond


def grade_by_reference(body: dict[str, Any]) -> str:
    """The rubric judge: grade 5 when the answer names the reference answer, else 1."""
    text = prompt_key(body) or ""
    answer = text.rsplit("Answer to grade:\n", 1)[-1]
    reference = text.split("Reference answer:\n", 1)[1].split("\n", 1)[0]
    right = reference.lower() in answer.lower()
    reason = "names the reference" if right else "wrong"
    return json.dumps({"reason": reason, "score": 5 if right else 1})


def any_judge(body: dict[str, Any]) -> str:
    """ragas' prompts and the rubric judge's, on one server."""
    if _RAGAS in (prompt_key(body) or ""):
        return ragas_responder(body)
    return grade_by_reference(body)
