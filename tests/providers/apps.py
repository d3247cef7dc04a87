"""Helpers for the application providers' tests: suites around a provider, call logs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest


@pytest.fixture
def app_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh results store and cache in ``tmp_path/home``, run from ``tmp_path``. A test
    module uses it with ``pytestmark = pytest.mark.usefixtures("app_home")``."""
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def write_suite(
    tmp_path: Path,
    provider: str,
    questions: list[str],
    *,
    asserts: str = "    - {type: contains, value: 'A:'}",
    name: str = "suite.yaml",
) -> Path:
    """A suite of one prompt (``Q: {{ q }}``), ``provider`` (YAML of one list item, indented
    as under ``providers:``) and one case per question, with ids q0, q1..."""
    cases = "".join(f"  - {{id: q{i}, vars: {{q: '{q}'}}}}\n" for i, q in enumerate(questions))
    suite = tmp_path / name
    suite.write_text(
        "name: app-test\n"
        "prompts:\n"
        "  - id: p\n"
        "    system: 'Be brief.'\n"
        "    template: 'Q: {{ q }}'\n"
        "providers:\n"
        f"{textwrap.indent(textwrap.dedent(provider).strip(), '  ')}\n"
        f"cases:\n{cases}"
        f"defaults:\n  assert:\n{asserts}\n"
    )
    return suite


def calls(log: Path) -> list[str]:
    """The lines an app appended to its call log (one per call)."""
    return log.read_text().splitlines() if log.exists() else []
