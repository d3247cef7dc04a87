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


def read_text(path: Path, what: str = "file") -> str:
    """Read a UTF-8 file, turning OS and encoding errors into SuiteErrors."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError(f"{what} not found", path) from None
    except IsADirectoryError:
        raise SuiteError(f"expected a {what}, found a directory", path) from None
    except UnicodeDecodeError as e:
        raise SuiteError(f"{what} is not valid UTF-8 (byte {e.start})", path) from None
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
        mark = e.problem_mark or e.context_mark
        problem = e.problem or e.context or "invalid YAML"
        raise SuiteError(
            f"YAML syntax error: {problem}", path, mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as e:
        raise SuiteError(f"YAML error: {e}", path) from None
    finally:
        loader.dispose()
    lines: dict[Loc, int] = {}
    _index(node, (), lines, path)
    return data, lines


def _index(node: yaml.Node, loc: Loc, lines: dict[Loc, int], path: Path) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise SuiteError(f"duplicate key '{key}'", path, key_node.start_mark.line + 1)
            seen.add(key)
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
