"""Read the content keys of a bad-case file and append cases to it, keeping what is there.

YAML files get the new cases appended as text when the file ends with a block list of
cases (so comments and formatting stay as written); otherwise the document is rewritten
with ``yaml.safe_dump``, keeping the comment lines at its top. Either way the result is
read back and compared before anything is written. JSONL files get one line per case.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from harness.data.tables import read_rows
from harness.errors import HarnessError
from harness.suite.yaml_lines import read_text

WRITABLE = (".yaml", ".yml", ".jsonl")

_NEW_FILE_HEADER = """\
# Bad cases: failures kept as tests so they never come back unnoticed.
# Appended by `harness badcases harvest`; each case keeps its provenance.
"""
_COMMENT_OR_BLANK = re.compile(r"^\s*(#.*)?$")


def content_key(variables: dict[str, Any], expected: Any) -> str:
    """The identity of a case's content: its variables and expected answers (not its id)."""
    data = json.dumps(
        {"vars": variables or {}, "expected": _expected_list(expected)},
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def _expected_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def existing_keys(path: Path) -> set[str]:
    """Content keys of the cases already in ``path`` (none when it does not exist yet)."""
    if not path.is_file() or not read_text(path, "bad-case file").strip():
        return set()
    keys = set()
    for row in read_rows(path):
        variables = row.data.get("vars")
        keys.add(
            content_key(variables if isinstance(variables, dict) else {}, row.data.get("expected"))
        )
    return keys


def append_cases(path: Path, cases: Sequence[dict[str, Any]]) -> None:
    """Append ``cases`` (CaseSpec-shaped dicts) to the bad-case file ``path``."""
    suffix = path.suffix.lower()
    if suffix not in WRITABLE:
        raise HarnessError(
            f"cannot append bad cases to {path}: harvest writes YAML or JSONL bad-case files "
            f"({', '.join(WRITABLE)}); give another file with --into"
        )
    if not cases:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    exists = path.is_file()
    text = read_text(path, "bad-case file") if exists else ""
    if suffix == ".jsonl":
        lines = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases)
        if text and not text.endswith("\n"):
            lines = "\n" + lines
        with path.open("a", encoding="utf-8") as f:
            f.write(lines)
        return
    path.write_text(_appended_yaml(path, text, list(cases)), encoding="utf-8")


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _appended_yaml(path: Path, text: str, cases: list[dict[str, Any]]) -> str:
    if not text.strip():
        return _NEW_FILE_HEADER + _dump({"cases": cases})
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise HarnessError(f"cannot append to {path}: it is not valid YAML ({e})") from None
    new_items = yaml.safe_load(_dump(cases))
    if isinstance(doc, list):
        wanted: Any = [*doc, *new_items]
    elif isinstance(doc, dict) and isinstance(doc.get("cases", []), list):
        wanted = copy.deepcopy(doc)
        wanted["cases"] = [*doc.get("cases", []), *new_items]
    else:
        raise HarnessError(
            f"cannot append to {path}: expected a list of cases or a mapping with a 'cases' list"
        )
    appended = _append_as_text(text, cases)
    if appended is not None and yaml.safe_load(appended) == wanted:
        return appended
    rewritten = _header(text) + _dump(wanted)
    if yaml.safe_load(rewritten) != wanted:  # pragma: no cover - safe_dump round-trips
        raise HarnessError(f"cannot append to {path} without changing its cases")
    return rewritten


def _append_as_text(text: str, cases: list[dict[str, Any]]) -> str | None:
    """``text`` with ``cases`` added to its final block list of cases, or None when the file
    does not end with one (then it is rewritten instead)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    seq = root
    if isinstance(root, yaml.MappingNode):
        values = [v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "cases"]
        seq = values[0] if len(values) == 1 else None
    if not isinstance(seq, yaml.SequenceNode) or seq.flow_style or not seq.value:
        return None
    if not all(_COMMENT_OR_BLANK.match(line) for line in text[seq.end_mark.index :].splitlines()):
        return None
    first = seq.value[0].start_mark
    line = text.splitlines()[first.line]
    dash = line.rfind("-", 0, first.column)
    if dash < 0 or line[:dash].strip():
        return None
    pad = " " * dash
    block = "".join(pad + ln + "\n" if ln else "\n" for ln in _dump(cases).splitlines())
    return (text if text.endswith("\n") else text + "\n") + block


def _header(text: str) -> str:
    """The comment (and blank) lines at the top of a file."""
    lines = []
    for line in text.splitlines():
        if not _COMMENT_OR_BLANK.match(line):
            break
        lines.append(line + "\n")
    return "".join(lines)
