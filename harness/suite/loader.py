"""Load a suite file into a validated :class:`Suite`, with file:line errors."""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Tag, TypeAdapter, ValidationError

from harness.errors import SuiteError
from harness.suite.schema import Suite
from harness.suite.yaml_lines import Loc, line_of, load_yaml

_MAX_REPORTED = 8


@dataclass
class LoadedSuite:
    """A validated suite plus what later stages need to point back into the file."""

    suite: Suite
    path: Path
    lines: dict[Loc, int] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def line(self, *loc: str | int) -> int | None:
        return line_of(self.lines, loc)

    def error(self, message: str, *loc: str | int) -> SuiteError:
        """A SuiteError pointing at ``loc`` in this suite file."""
        return SuiteError(message, self.path, self.line(*loc))

    def resolve(self, relative: str) -> Path:
        """A path from the suite, relative to the suite file's folder."""
        return (self.base_dir / relative).resolve()


def load_suite(path: str | Path) -> LoadedSuite:
    """Read and validate a suite file; raise one SuiteError listing every problem."""
    path = Path(path)
    data, lines = load_yaml(path, "suite file")
    if not isinstance(data, dict):
        raise SuiteError(
            f"a suite file must be a mapping of keys (name, prompts, providers, cases...), "
            f"got {_kind(data)}",
            path,
            1,
        )
    try:
        suite = Suite.model_validate(data)
    except ValidationError as e:
        raise validation_error(e, data, lines, path, Suite) from None
    return LoadedSuite(suite, path, lines)


def validation_error(
    exc: ValidationError, data: Any, lines: dict[Loc, int], path: Path, model: Any
) -> SuiteError:
    """Turn pydantic's errors into one SuiteError: each problem on its own file:line."""
    problems: list[tuple[int | None, str]] = []
    for err in exc.errors():
        loc = _data_loc(data, err["loc"])
        problems.append((line_of(lines, loc), _describe(err, loc, model)))
    problems.sort(key=lambda p: p[0] or 0)
    first_line, first_msg = problems[0]
    rest = [f"{path}:{ln}: {msg}" if ln else f"{path}: {msg}" for ln, msg in problems[1:]]
    if len(rest) > _MAX_REPORTED:
        rest = [*rest[:_MAX_REPORTED], f"... and {len(rest) - _MAX_REPORTED} more"]
    message = "\n".join([first_msg, *rest])
    return SuiteError(message, path, first_line)


def _data_loc(data: Any, loc: tuple[Any, ...]) -> Loc:
    """Drop union tags from pydantic's loc so it indexes the raw YAML data."""
    out: list[str | int] = []
    cur = data
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and part < len(cur):
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and isinstance(part, str) and part not in _UNION_TAGS:
            out.append(part)  # a missing key: keep it for the message
            cur = None
    return tuple(out)


#: Tags pydantic puts in error locs for the suite's unions; they are not YAML keys.
_UNION_TAGS = {"inline", "dataset", "openai", "hf", "outputs"}


def _where(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "top level"


def _describe(err: dict[str, Any], loc: Loc, model: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(model, err["loc"][:-1])
        hint = _did_you_mean(key, allowed)
        listing = f" Expected one of: {', '.join(allowed)}." if allowed else ""
        return f"unknown key '{key}' in {_where(loc[:-1])}.{hint}{listing}"
    if kind == "missing":
        return f"missing required key '{loc[-1]}' in {_where(loc[:-1])}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        ctx = err.get("ctx", {})
        tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",") if t.strip()]
        got = ctx.get("tag")
        if got is None:
            return f"{_where(loc)}: missing 'type' (expected one of: {', '.join(tags)})"
        hint = _did_you_mean(str(got), tags)
        return f"{_where(loc)}.type: unknown type '{got}'.{hint} Expected one of: {', '.join(tags)}"
    msg = err["msg"].removeprefix("Value error, ")
    got = err.get("input")
    shown = f" (got {_short(got)})" if kind != "value_error" and not isinstance(got, dict) else ""
    return f"{_where(loc)}: {msg}{shown}"


def _did_you_mean(word: str, options: list[str]) -> str:
    lower = {o.lower(): o for o in options}
    close = difflib.get_close_matches(word.lower(), list(lower), n=1, cutoff=0.6)
    return f" Did you mean '{lower[close[0]]}'?" if close else ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


def _allowed_keys(model: Any, raw_loc: tuple[Any, ...]) -> list[str]:
    """The keys the schema accepts at pydantic's ``raw_loc`` (for 'expected one of' hints)."""
    tp: Any = model
    for part in raw_loc:
        tp = _step(tp, part)
    tp = _as_model(tp)
    return [f.alias or n for n, f in tp.model_fields.items()] if tp else []


def _step(tp: Any, part: Any) -> Any:
    """The type reached from ``tp`` by one loc part; a union tag picks the member."""
    tp = _strip(tp)
    if _is_union(tp):
        wrapped = _members(tp)
        members = [_strip(m) for m in wrapped]
        tags = {_tag_of(m): m for m in wrapped}
        if part in tags:
            return tags[part]
        if isinstance(part, int):
            tp = next((m for m in members if typing.get_origin(m) is list), None)
        else:
            tp = next((m for m in members if _as_model(m) and part in _fields(_as_model(m))), None)
    if isinstance(part, int):
        args = typing.get_args(tp)
        return args[0] if typing.get_origin(tp) is list and args else None
    model = _as_model(tp)
    if model is None:
        return None
    for name, f in model.model_fields.items():
        if part in (name, f.alias):
            return f.annotation
    return None


def _members(union: Any) -> list[Any]:
    """A union's members, nested unions flattened, ``None`` dropped, Annotated tags kept."""
    out: list[Any] = []
    for m in typing.get_args(union):
        if _is_union(_strip(m)):
            out.extend(_members(_strip(m)))
        elif m is not type(None):
            out.append(m)
    return out


def _strip(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _tag_of(tp: Any) -> Any:
    if typing.get_origin(tp) is typing.Annotated:
        for meta in typing.get_args(tp)[1:]:
            if isinstance(meta, Tag):
                return meta.tag
    model = _as_model(tp)
    if model and "type" in model.model_fields:
        values = typing.get_args(model.model_fields["type"].annotation)
        return values[0] if len(values) == 1 else None
    return None


def _as_model(tp: Any) -> type[BaseModel] | None:
    tp = _strip(tp)
    if _is_union(tp):
        models = [m for m in (_as_model(a) for a in typing.get_args(tp)) if m]
        return models[0] if len(models) == 1 else None
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _fields(model: type[BaseModel]) -> set[str]:
    return {n for n in model.model_fields} | {f.alias for f in model.model_fields.values() if f.alias}


def parse_model(model: Any, data: Any, lines: dict[Loc, int], path: Path) -> Any:
    """Validate ``data`` as ``model`` (any pydantic-compatible type) with file:line errors."""
    try:
        return TypeAdapter(model).validate_python(data)
    except ValidationError as e:
        raise validation_error(e, data, lines, path, model) from None
