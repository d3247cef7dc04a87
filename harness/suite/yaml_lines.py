"""Safe YAML loading that remembers the line of every key and list item.

pydantic reports errors by location (``("providers", 0, "model")``); the line map
turns that into ``suite.yaml:12`` so a user can jump straight to the problem. The
source text of every number and date is kept too (``expected: 0.10`` means "0.10",
not the float's "0.1"), and documents nested deeper than :data:`MAX_DEPTH` or whose
aliases expand past :data:`MAX_ALIAS_NODES` nodes (a "billion laughs") are refused
while they are composed, before anything walks them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from harness.errors import SuiteError

Loc = tuple[str | int, ...]

#: Appended to a scalar's loc: the line its text starts on (the line after ``key: |``).
TEXT = "<text>"
#: Nesting of lists and mappings a suite, case or data file may have (YAML and JSON).
MAX_DEPTH = 200
#: Nodes that aliases (``*name``) may add to a document, in all.
MAX_ALIAS_NODES = 100_000

#: Scalars whose source text is kept: what YAML reads as a number or a date.
_TEXT_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("int", "float", "timestamp")}


class YamlDoc(NamedTuple):
    """A parsed YAML file: the data, the line of each loc, the source text of each number."""

    data: Any
    lines: dict[Loc, int]
    texts: dict[Loc, str]


#: Called with each file :func:`read_text` reads: its path, its ``stat`` from just before
#: the read, and the bytes read (:mod:`harness.replay` keeps what a run's cases came from).
ReadHook = Callable[[Path, os.stat_result, bytes], None]
_READ_HOOKS: list[ReadHook] = []


@contextmanager
def watching_reads(hook: ReadHook) -> Iterator[None]:
    """Call ``hook`` for every file :func:`read_text` reads meanwhile (suite, datasets,
    templates, outputs, bad cases)."""
    _READ_HOOKS.append(hook)
    try:
        yield
    finally:
        _READ_HOOKS.remove(hook)


def read_watched(path: Path) -> bytes:
    """A file's bytes, shown to the hooks of :func:`watching_reads`."""
    before = path.stat()
    data = path.read_bytes()
    for hook in tuple(_READ_HOOKS):  # another thread may add or drop one meanwhile
        hook(path, before, data)
    return data


def read_text(path: Path, what: str = "file") -> str:
    """Read a UTF-8 file (a leading BOM dropped), turning OS and encoding errors into
    SuiteErrors."""
    try:
        data = read_watched(path)
        # Text mode's universal newlines, as Path.read_text reads: \r\n and \r are \n.
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
        return text.removeprefix("\ufeff")
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


def load_yaml(path: Path, what: str = "YAML file") -> YamlDoc:
    """Parse ``path`` with PyYAML's safe loader (bounded: see :class:`_BoundedLoader`)."""
    text = read_text(path, what)
    loader = _BoundedLoader(text, path)
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
    doc = YamlDoc(data, {}, {})
    _index(node, (), doc, path)
    return doc


class _BoundedLoader(yaml.SafeLoader):
    """A SafeLoader that refuses, at the line where it happens, nesting deeper than
    MAX_DEPTH, aliases adding more than MAX_ALIAS_NODES nodes, and an alias inside the
    node it names (data that holds itself)."""

    def __init__(self, text: str, path: Path) -> None:
        super().__init__(text)
        self._path = path
        self._depth = 0
        self._open: set[str] = set()  # anchors of the nodes being composed
        self._sizes: dict[int, int] = {}
        self._added = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open:
                raise SuiteError(
                    f"alias *{event.anchor} is inside the node it names: data that contains "
                    "itself cannot be read; copy the values instead",
                    self._path,
                    line,
                )
            if event.anchor in self.anchors:
                self._added += _expanded(self.anchors[event.anchor], self._sizes)
                if self._added > MAX_ALIAS_NODES:
                    raise SuiteError(
                        f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} nodes by alias "
                        f"*{event.anchor} (a 'billion laughs' document?): write the data out, "
                        "or use fewer aliases",
                        self._path,
                        line,
                    )
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:
            raise SuiteError(
                f"YAML nested more than {MAX_DEPTH} levels deep: flatten the data",
                self._path,
                line,
            )
        anchor = event.anchor
        if anchor is not None:
            self._open.add(anchor)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._open.discard(anchor)


def _expanded(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many nodes ``node`` stands for with every alias in it written out (memoised:
    linear in the distinct nodes, however often they are shared)."""
    if id(node) not in sizes:
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        sizes[id(node)] = 1 + sum(_expanded(child, sizes) for child in children)
    return sizes[id(node)]


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


def _index(node: yaml.Node, loc: Loc, doc: YamlDoc, path: Path) -> None:
    lines = doc.lines
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        block = node.style in ("|", ">")  # the text starts on the line after the indicator
        lines[(*loc, TEXT)] = node.start_mark.line + (2 if block else 1)
        if node.tag in _TEXT_TAGS:
            doc.texts[loc] = node.value
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
            _index(value_node, (*loc, key), doc, path)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*loc, i), doc, path)


def line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of ``loc``, or of its nearest ancestor that has one."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def as_written(value: Any, texts: dict[Loc, str], loc: Loc) -> Any:
    """``value`` (at ``loc``) with each number or date in it as its source text: an answer
    written ``0.10`` or ``007`` is compared as "0.10" or "007", not as "0.1" or "7"."""
    if isinstance(value, list):
        return [as_written(v, texts, (*loc, i)) for i, v in enumerate(value)]
    if isinstance(value, bool | str) or value is None:
        return value
    return texts.get(loc, value)
