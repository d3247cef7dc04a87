"""Safe YAML loading that remembers the line of every key and list item.

pydantic reports errors by location (``("providers", 0, "model")``); the line map
turns that into ``suite.yaml:12`` so a user can jump straight to the problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.errors import SuiteError

Loc = tuple[str | int, ...]

#: Appended to a scalar's loc: the line its text starts on (the line after ``key: |``).
TEXT = "<text>"


def read_text(path: Path, what: str = "file") -> str:
    """Read a UTF-8 file (a leading BOM dropped), turning OS and encoding errors into
    SuiteErrors."""
    try:
        return path.read_text(encoding="utf-8").removeprefix("\ufeff")
    except FileNotFoundError:
        raise SuiteError(f"{what} not found", path) from None
    except IsADirectoryError:
        raise SuiteError(f"expected a {what}, found a directory", path) from None
    except UnicodeDecodeError as e:
        line = e.object[: e.start].count(b"\n") + 1
        raise SuiteError(
            f"{what} is not valid UTF-8 (byte {e.start} is {e.object[e.start]:#04x}): "
            "save it with UTF-8 encoding",
            path,
            line,
        ) from None
    except OSError as e:
        raise SuiteError(f"cannot read {what}: {e.strerror}", path) from None


def load_yaml(path: Path, what: str = "YAML file") -> tuple[Any, dict[Loc, int]]:
    """Parse ``path`` with PyYAML's safe loader; return the data and a loc -> line map."""
    text = read_text(path, what)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SuiteError(f"{what} is empty", path, 1)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        raise _syntax_error(e, text, path) from None
    except yaml.YAMLError as e:
        raise SuiteError(f"YAML error: {e}", path) from None
    finally:
        loader.dispose()
    lines: dict[Loc, int] = {}
    _index(node, (), lines, path)
    return data, lines


def _syntax_error(e: yaml.MarkedYAMLError, text: str, path: Path) -> SuiteError:
    """PyYAML's error at the line that needs fixing, with a hint for the usual mistakes."""
    problem = e.problem or e.context or "invalid YAML"
    context = e.context or ""
    mark = e.problem_mark or e.context_mark
    line = mark.line + 1 if mark else None
    source = "\n".join(text.splitlines()[line - 1 : line]) if line else ""
    runaway = _runaway_quote(text, line)
    if runaway:
        hint = (
            f"the quoted string that starts on line {runaway[0]} runs on to line {runaway[1]}: "
            "is its closing quote missing?"
        )
        line = runaway[0]
    elif "{{" in source or "{%" in source:
        hint = (
            "a value starting with '{' is read as a YAML mapping: quote the template "
            '(template: "{{ question }}") or put it in a block (template: |)'
        )
    elif "quoted scalar" in context and e.context_mark:
        line = e.context_mark.line + 1
        hint = "the quoted string that starts on this line is never closed: add the closing quote"
    elif "flow" in context and e.context_mark:
        line = e.context_mark.line + 1
        hint = "the '[' or '{' that opens on this line is not closed (or lacks a ',')"
    elif "'\\t'" in problem:
        hint = "YAML indents with spaces only: replace the tab with spaces"
    elif "<block end>" in problem or "mapping values are not allowed" in problem:
        hint = (
            "check the indentation (keys of one mapping must line up) and quote values "
            "that contain ': '"
        )
    else:
        hint = ""
    return SuiteError(f"YAML syntax error: {problem}" + (f"; {hint}" if hint else ""), path, line)


def _runaway_quote(text: str, before: int | None) -> tuple[int, int] | None:
    """(first, last line) of a quoted string spanning lines that starts before line
    ``before``: after a syntax error, almost always a missing closing quote."""
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            start, end = token.start_mark.line + 1, token.end_mark.line + 1
            if before is not None and start >= before:
                break
            if isinstance(token, yaml.ScalarToken) and token.style in ('"', "'") and end > start:
                return start, end
    except yaml.YAMLError:
        pass
    return None


def _index(node: yaml.Node, loc: Loc, lines: dict[Loc, int], path: Path) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        block = node.style in ("|", ">")  # the text starts on the line after the indicator
        lines[(*loc, TEXT)] = node.start_mark.line + (2 if block else 1)
    elif isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise SuiteError(
                    f"duplicate key '{key}' (first given on line {seen[key]}): keep only one",
                    path,
                    key_node.start_mark.line + 1,
                )
            seen[key] = key_node.start_mark.line + 1
            lines[(*loc, key)] = key_node.start_mark.line + 1
            _index(value_node, (*loc, key), lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*loc, i), lines, path)


def line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of ``loc``, or of its nearest ancestor that has one."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None
