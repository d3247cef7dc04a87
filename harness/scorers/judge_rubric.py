"""Rubrics for the LLM judge: criteria, a graded scale with a description per grade,
optional few-shot examples and a pass grade.

Shipped rubrics live in ``harness/rubrics/<lang>/<name>.yaml``; a suite may also write one
inline. Every problem (no scale, a grade without a description, a pass grade off the
scale) is a :class:`ScorerError` when the suite loads, never a surprise mid-run.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import ScorerError

Language = Literal["en", "zh"]
SHIPPED = ("accuracy", "relevance", "fluency", "transparency", "safety", "human_alignment")


class Grade(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grade: int
    #: What an answer must be like to earn this grade (shown to the judge).
    description: str = Field(min_length=1)
    label: str | None = None


class Example(BaseModel):
    """A graded example shown to the judge (few-shot)."""

    model_config = ConfigDict(extra="forbid")

    answer: str
    grade: int
    question: str | None = None
    reference: str | None = None
    reason: str | None = None


class Rubric(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    language: Language = "en"
    #: What the judge assesses, in a few sentences.
    criteria: str = Field(min_length=1)
    scale: list[Grade] = Field(min_length=2)
    #: The lowest grade that passes (default: the middle grade; of an even scale, the upper
    #: of the two middle grades).
    pass_grade: int | None = None
    examples: list[Example] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Rubric:
        grades = [g.grade for g in self.scale]
        if len(set(grades)) != len(grades):
            raise ValueError(f"scale: each grade must appear once, got {grades}")
        self.scale.sort(key=lambda g: g.grade)
        if self.pass_grade is None:
            self.pass_grade = self.scale[len(self.scale) // 2].grade
        if self.pass_grade not in grades:
            raise ValueError(f"pass_grade {self.pass_grade} is not on the scale {sorted(grades)}")
        for example in self.examples:
            if example.grade not in grades:
                raise ValueError(f"example grade {example.grade} is not on the scale")
        return self

    @property
    def low(self) -> int:
        return self.scale[0].grade

    @property
    def high(self) -> int:
        return self.scale[-1].grade

    def normalise(self, grade: int) -> float:
        """``grade`` mapped onto [0, 1] (lowest grade 0, highest 1)."""
        return (grade - self.low) / (self.high - self.low)

    @property
    def fingerprint(self) -> str:
        """Short hash of the whole rubric: stored with scores so an edited rubric shows."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:10]


def load_rubric(spec: str | dict[str, Any], lang: Language = "en") -> Rubric:
    """A shipped rubric by name (in ``lang``) or an inline one; ScorerError when malformed."""
    if isinstance(spec, str):
        if spec not in SHIPPED:
            raise ScorerError(
                f"unknown rubric {spec!r}: use one of {', '.join(SHIPPED)} or write the rubric "
                "inline (criteria, scale, pass_grade)"
            )
        return _shipped(spec, lang)
    return _validate(spec, "inline rubric", lang)


@cache
def _shipped(name: str, lang: Language) -> Rubric:
    text = resources.files("harness.rubrics").joinpath(lang, f"{name}.yaml").read_text("utf-8")
    return _validate(yaml.safe_load(text), f"rubric {name!r} ({lang})", lang)


def _validate(data: Any, what: str, lang: Language = "en") -> Rubric:
    if not isinstance(data, dict):
        raise ScorerError(f"{what} must be a mapping with criteria and scale, got {data!r}")
    if not data.get("scale"):
        raise ScorerError(
            f"{what} has no 'scale': give at least two grades, each with a description, "
            "e.g. scale: [{grade: 0, description: wrong}, {grade: 1, description: right}]"
        )
    try:
        # An inline rubric is in the scorer's ``lang`` unless it says otherwise.
        return Rubric.model_validate({"name": "custom", "language": lang, **data})
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'rubric'}: {err['msg']}"
            for err in e.errors()
        )
        raise ScorerError(f"{what}: {problems}") from None
