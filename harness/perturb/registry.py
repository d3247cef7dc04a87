"""Perturbation types by name, with checked parameters, and the expansion of case rows.

Each main-set row gets one perturbed copy per declared perturbation. The copy keeps the
row's expected answers and assertions, names its clean row (``clean_row_id``) and its
perturbation, and gets the row id ``<clean id>~<perturbation id>`` so stored outputs and
comparisons can find it. The random choices are seeded by (seed, perturbation, row,
variable), so a copy does not change when rows are added or reordered.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import SuiteError
from harness.perturb import text
from harness.suite.loader import did_you_mean
from harness.suite.schema import PerturbationSpec

if TYPE_CHECKING:
    from harness.suite.loader import LoadedSuite

#: Separates a clean row id from the perturbation id in a perturbed row's id.
ROW_ID_SEPARATOR = "~"
#: Tag of every perturbed case, then the perturbation id.
TAG_PREFIX = "perturbed:"


def is_perturbed(tags: Iterable[str]) -> bool:
    """Whether a case with these tags is a perturbed copy (what stored records can tell)."""
    return any(t.startswith(TAG_PREFIX) for t in tags)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TypoParams(_Params):
    #: Share of the letters (and CJK characters) edited; at least one.
    rate: float = Field(default=0.05, gt=0, le=1)
    ops: list[text.TypoOp] = Field(default_factory=lambda: ["swap", "drop"], min_length=1)


class CaseParams(_Params):
    mode: text.CaseMode = "random"
    #: For ``random``: share of the letters whose case flips.
    rate: float = Field(default=0.5, gt=0, le=1)


class WhitespaceParams(_Params):
    rate: float = Field(default=0.3, gt=0, le=1)
    fill: str = Field(default=" ", pattern=r"^\s+$")


class PunctuationParams(_Params):
    mode: Literal["remove", "add"] = "remove"
    rate: float = Field(default=1.0, gt=0, le=1)
    #: Marks to add (default: ``,.!?;``, or ``，。！？、`` for Chinese text).
    marks: str | None = Field(default=None, min_length=1)


class WidthParams(_Params):
    to: Literal["full", "half"] = "full"


class ChineseParams(_Params):
    #: An OpenCC conversion: s2t (simplified -> traditional), t2s, s2tw, s2hk...
    config: text.ZhConfig = "s2t"


Transform = Callable[[str, random.Random, Any], str]

#: type name -> (parameters, transform(text, rng, params)); the whole registry.
_TYPES: dict[str, tuple[type[_Params], Transform]] = {
    "typo": (TypoParams, lambda s, rng, p: text.typos(s, rng, p.rate, p.ops)),
    "case": (CaseParams, lambda s, rng, p: text.change_case(s, rng, p.mode, p.rate)),
    "whitespace": (
        WhitespaceParams,
        lambda s, rng, p: text.extra_whitespace(s, rng, p.rate, p.fill),
    ),
    "punctuation": (
        PunctuationParams,
        lambda s, rng, p: text.punctuation(s, rng, p.mode, p.rate, p.marks),
    ),
    "width": (WidthParams, lambda s, rng, p: text.width(s, p.to)),
    "chinese": (ChineseParams, lambda s, rng, p: text.chinese_variant(s, p.config)),
}


def available_perturbations() -> list[str]:
    return sorted(_TYPES)


@dataclasses.dataclass(frozen=True)
class Perturber:
    """One declared perturbation, ready to apply to case variables."""

    id: str
    vars: list[str]
    seed: int
    params: _Params
    transform: Transform

    def apply(self, variables: dict[str, Any], row_id: str) -> dict[str, Any]:
        """``variables`` with each named one perturbed (strings, and strings in lists)."""
        missing = [v for v in self.vars if v not in variables]
        if missing:
            raise SuiteError(
                f"perturbation '{self.id}' needs variable(s) {', '.join(missing)}; this case has "
                f"{', '.join(sorted(variables)) or '(none)'}"
            )
        out = dict(variables)
        for name in self.vars:
            # bytes, as Random would make of the str, but a lone surrogate ("\ud800") too
            seed = f"{self.seed}:{self.id}:{row_id}:{name}".encode("utf-8", "surrogatepass")
            rng = random.Random(seed)
            out[name] = self._value(out[name], rng)
        return out

    def _value(self, value: Any, rng: random.Random) -> Any:
        if isinstance(value, str):
            return self.transform(value, rng, self.params)
        if isinstance(value, list):
            return [self._value(v, rng) for v in value]
        return value


def build_perturber(spec: PerturbationSpec) -> Perturber:
    """The perturbation ``spec`` declares; a bad type or parameter raises SuiteError."""
    if spec.type not in _TYPES:
        hint = did_you_mean(spec.type, list(_TYPES))
        raise SuiteError(
            f"unknown perturbation type {spec.type!r}.{hint} "
            f"Available: {', '.join(available_perturbations())}"
        )
    params_type, transform = _TYPES[spec.type]
    try:
        params = params_type.model_validate(spec.params)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'parameters'}: {err['msg']}"
            for err in e.errors()
        )
        raise SuiteError(f"perturbation {spec.id or spec.type!r}: {problems}") from None
    return Perturber(spec.id or spec.type, spec.vars, spec.seed, params, transform)


class Row(Protocol):
    """What perturbing reads of a case row (a dataclass: :class:`harness.cases.CaseRow`, which
    calls :func:`perturbed_rows`; typed here so this module need not import it back)."""

    row_id: str
    case_set: str
    vars: dict[str, Any]
    tags: list[str]

    @property
    def where(self) -> str: ...


R = TypeVar("R", bound=Row)


def perturbed_rows(loaded: LoadedSuite, rows: list[R], case_set: str) -> list[R]:
    """One perturbed copy of every row of ``case_set`` per perturbation the suite declares."""
    perturbers = []
    for i, spec in enumerate(loaded.suite.perturbations):
        try:
            perturbers.append(build_perturber(spec))
        except SuiteError as e:
            raise loaded.error(e.message, "perturbations", i) from None
    out = []
    for row in rows:
        if row.case_set != case_set:
            continue
        for i, perturber in enumerate(perturbers):
            try:
                variables = perturber.apply(row.vars, row.row_id)
            except SuiteError as e:
                raise loaded.error(
                    f"case at {row.where}: {e.message}", "perturbations", i
                ) from None
            out.append(
                dataclasses.replace(
                    row,
                    row_id=f"{row.row_id}{ROW_ID_SEPARATOR}{perturber.id}",
                    vars=variables,
                    tags=[*row.tags, f"{TAG_PREFIX}{perturber.id}"],
                    clean_row_id=row.row_id,
                    perturbation=perturber.id,
                )
            )
    return out
