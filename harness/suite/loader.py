"""Load a suite file into a validated :class:`Suite`, with file:line errors."""

from __future__ import annotations

import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Tag, TypeAdapter, ValidationError

from harness.errors import SuiteError
from harness.suite.schema import Suite, is_dataset_item
from harness.suite.yaml_lines import Loc, as_written, line_of, load_yaml

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
        """A path from the suite, relative to the suite file's folder: absolute, its symlinks
        kept (a link pointed elsewhere is another file: :mod:`harness.replay`)."""
        return Path(os.path.abspath(self.base_dir / relative))


def load_suite(path: str | Path) -> LoadedSuite:
    """Read and validate a suite file; raise one SuiteError listing every problem."""
    path = Path(path)
    data, lines, texts = load_yaml(path, "suite file")
    if not isinstance(data, dict):
        raise SuiteError(
            f"a suite file must be a mapping of keys (name, prompts, providers, cases...), "
            f"got {_kind(data)}",
            path,
            1,
        )
    _check_unique_ids(data, lines, path)
    _expected_as_written(data, texts)
    try:
        suite = Suite.model_validate(data)
    except ValidationError as e:
        raise validation_error(e, data, lines, path, Suite) from None
    return LoadedSuite(suite, path, lines)


def _expected_as_written(data: dict[str, Any], texts: dict[Loc, str]) -> None:
    """Inline cases' numeric answers as written (``expected: 0.10`` is "0.10")."""
    cases = data.get("cases")
    for i, case in enumerate(cases if isinstance(cases, list) else []):
        if isinstance(case, dict) and "expected" in case:
            written = as_written(case["expected"], texts, ("cases", i, "expected"))
            cases[i] = {**case, "expected": written}  # a copy: an aliased case may be shared


def _check_unique_ids(data: dict[str, Any], lines: dict[Loc, int], path: Path) -> None:
    """A repeated prompt/provider/inline case id or bad-case set name, at the line of the
    repeat (one result would overwrite the other's)."""
    for section, key, what in (
        ("prompts", "id", "prompt id"),
        ("cases", "id", "case id"),
        ("providers", "id", "provider id"),
        ("bad_cases", "name", "bad-case set name"),
    ):
        items = data.get(section)
        first: dict[str, int | None] = {}
        for i, item in enumerate(items if isinstance(items, list) else []):
            value = item.get(key) if isinstance(item, dict) else None
            if not isinstance(value, str) or (section == "cases" and is_dataset_item(item)):
                continue  # a missing or mistyped id is the schema's to report; a dataset's
                # id names its column (its rows' ids are checked when they are read)
            line = line_of(lines, (section, i, key))
            if value in first:
                raise SuiteError(
                    f"duplicate {what} '{value}' in {section}[{i}] (first used on line "
                    f"{first[value]}): every {what} must be unique",
                    path,
                    line,
                )
            first[value] = line


def validation_error(
    exc: ValidationError,
    data: Any,
    lines: dict[Loc, int],
    path: Path,
    model: Any,
    root: str = "top level",
) -> SuiteError:
    """Turn pydantic's errors into one SuiteError: each problem on its own file:line.

    ``root`` names the top of ``data`` in messages ("top level" of a suite, "this case"...).
    """
    errors = exc.errors()
    # A misspelt key is also reported as a missing one: say it once, as the misspelling.
    suggested = set()
    for err in errors:
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, err["loc"][:-1])
            close = _close_match(str(err["loc"][-1]), allowed)
            if close:
                suggested.add((*_data_loc(data, err["loc"][:-1]), close))
    problems: list[tuple[int | None, str]] = []
    for err in errors:
        loc = _data_loc(data, err["loc"])
        if err["type"] == "missing" and loc in suggested:
            continue
        problems.append((line_of(lines, loc), _describe(err, loc, model, root)))
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
        if (isinstance(cur, dict) and part in cur) or (
            isinstance(cur, list) and isinstance(part, int) and part < len(cur)
        ):
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and isinstance(part, str) and part not in _UNION_TAGS:
            out.append(part)  # a missing key: keep it for the message
            cur = None
    return tuple(out)


#: Tags pydantic puts in error locs for the suite's unions; they are not YAML keys.
_UNION_TAGS = {"inline", "dataset", "openai", "hf", "vllm", "outputs", "python", "http", "exec"}


def _where(loc: Loc, root: str = "top level") -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or root


def _describe(err: dict[str, Any], loc: Loc, model: Any, root: str = "top level") -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(model, err["loc"][:-1])
        hint = did_you_mean(key, allowed)
        listing = f" Expected one of: {', '.join(allowed)}." if allowed else ""
        return f"unknown key '{key}' in {_where(loc[:-1], root)}.{hint}{listing}"
    if kind == "missing":
        return f"missing required key '{loc[-1]}' in {_where(loc[:-1], root)}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = _union_tags(model, err["loc"])
        got = err.get("ctx", {}).get("tag")
        if got is None:
            return f"{_where(loc, root)}: missing 'type' (expected one of: {', '.join(tags)})"
        hint = did_you_mean(str(got), tags)
        return (
            f"{_where(loc, root)}.type: unknown type '{got}'.{hint} "
            f"Expected one of: {', '.join(tags)}"
        )
    msg = err["msg"].removeprefix("Value error, ")
    got = err.get("input")
    shown = f" (got {_short(got)})" if kind != "value_error" and not isinstance(got, dict) else ""
    if kind == "list_type":
        shown += "; write a YAML list: [a, b], or one '- item' per line"
    return f"{_where(loc, root)}: {msg}{shown}"


def did_you_mean(word: str, options: list[str]) -> str:
    """`` Did you mean 'x'?`` for the option closest to ``word``, or an empty string."""
    close = _close_match(word, options)
    return f" Did you mean '{close}'?" if close else ""


def _close_match(word: str, options: list[str]) -> str | None:
    lower = {o.lower(): o for o in options}
    close = difflib.get_close_matches(word.lower(), list(lower), n=1, cutoff=0.6)
    return lower[close[0]] if close else None


def _union_tags(model: Any, raw_loc: tuple[Any, ...]) -> list[str]:
    """The tags (``type`` values) the discriminated union at pydantic's ``raw_loc`` accepts."""
    tp: Any = model
    for part in raw_loc:
        tp = _step(tp, part)
    tp = _strip(tp)
    tags = [_tag_of(m) for m in _members(tp)] if _is_union(tp) else []
    return [str(t) for t in tags if t is not None]


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
    return {n for n in model.model_fields} | {
        f.alias for f in model.model_fields.values() if f.alias
    }


def parse_model(
    model: Any, data: Any, lines: dict[Loc, int], path: Path, root: str = "top level"
) -> Any:
    """Validate ``data`` as ``model`` (any pydantic-compatible type) with file:line errors."""
    try:
        return TypeAdapter(model).validate_python(data)
    except ValidationError as e:
        raise validation_error(e, data, lines, path, model, root) from None
