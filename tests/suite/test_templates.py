"""Prompt templates render in Jinja2's sandbox with StrictUndefined.

Suite files and dataset rows are untrusted: attribute walks to ``__class__`` /
``__globals__`` are refused with a SuiteError that names the prompt and case (before
any model is called), a missing variable is an error rather than an empty string, and
text coming from the data is never itself evaluated as a template.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api import prepare, run_suite
from harness.errors import SuiteError
from harness.providers.outputs import OutputsProvider
from harness.results.store import ResultStore


def write_suite(
    tmp_path: Path,
    template: str,
    vars: str = '{question: "2+2?", out: "4"}',
    system: str | None = None,
) -> Path:
    """A one-prompt, one-case suite; ``template`` is written as a literal block (line 5 on)."""
    body = "\n".join("      " + line for line in template.split("\n"))
    system_line = f"    system: {system}\n" if system is not None else ""
    text = (
        "name: tpl\n"
        "prompts:\n"
        "  - id: p1\n"
        f"{system_line}"
        "    template: |-\n"
        f"{body}\n"
        "providers:\n"
        "  - type: outputs\n"
        "    id: stored\n"
        "    column: out\n"
        "cases:\n"
        "  - id: c1\n"
        f"    vars: {vars}\n"
        "    assert: [{type: contains, value: '4'}]\n"
    )
    path = tmp_path / "suite.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def rendered(path: Path) -> list[str]:
    """The rendered messages of the suite's only case."""
    (case,) = prepare(path).plan.cases
    return [m.content for m in case.request.messages]


def line_of(path: Path, text: str) -> int:
    lines = path.read_text(encoding="utf-8").split("\n")
    return next(n for n, line in enumerate(lines, start=1) if text in line)


# --- the sandbox -----------------------------------------------------------------------

ESCAPES = {
    "str-class-mro": "{{ ''.__class__.__mro__ }}",
    "object-subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "cycler-globals": "{{ cycler.__init__.__globals__ }}",
    "joiner-globals-os": "{{ joiner.__init__.__globals__.os.popen('id').read() }}",
    "lipsum-globals": "{{ lipsum.__globals__ }}",
    "attr-filter": "{{ question|attr('__class__') }}",
    "str-format": "{{ '{0.__class__}'.format(question) }}",
    "data-var-class": "{{ question.__class__.__base__ }}",
}


@pytest.mark.parametrize("expr", list(ESCAPES.values()), ids=list(ESCAPES))
def test_sandbox_escape_is_refused_with_prompt_and_case(tmp_path: Path, expr: str) -> None:
    path = write_suite(tmp_path, f"Answer briefly.\n{expr}")
    with pytest.raises(SuiteError) as info:
        prepare(path)
    err = info.value
    assert "refused by the template sandbox" in err.message
    assert "unsafe" in err.message
    assert "suite 'tpl'" in err.message
    assert "prompt 'p1'" in err.message
    assert f"case at {path}:{line_of(path, '- id: c1')}" in err.message
    assert err.path == str(path)
    assert err.line == line_of(path, expr)  # the template line, not just the prompt


def test_sandbox_error_comes_before_any_model_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []

    async def spy(self: OutputsProvider, request: object) -> None:
        calls.append(request)
        raise AssertionError("a model was called")

    monkeypatch.setattr(OutputsProvider, "generate", spy)
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    path = write_suite(tmp_path, "{{ cycler.__init__.__globals__ }}")
    store = ResultStore(tmp_path / "results.db")
    with pytest.raises(SuiteError, match="refused by the template sandbox"):
        run_suite(path, store=store, use_cache=False)
    assert calls == []
    assert store.list_runs() == []


def test_sandbox_escape_in_system_prompt(tmp_path: Path) -> None:
    path = write_suite(tmp_path, "Q: {{ question }}", system="\"{{ ''.__class__ }}\"")
    with pytest.raises(SuiteError) as info:
        prepare(path)
    assert "prompt 'p1' (system template)" in info.value.message
    assert "refused by the template sandbox" in info.value.message
    assert info.value.line == line_of(path, "system:")


# --- ordinary Jinja still works ------------------------------------------------------------


def test_filters_loops_and_conditionals_render(tmp_path: Path) -> None:
    template = (
        "{{ name|upper }} / {{ name|title }} / {{ items|join(', ') }} / {{ items|length }}\n"
        "{% for item in items %}{{ loop.index }}. {{ item|e }}\n{% endfor %}"
        "{% if strict %}Answer with one word.{% else %}Explain.{% endif %}\n"
        "{% set total = items|length * 2 %}total={{ total }}\n"
        "{{ '%.2f'|format(price) }} {{ missing|default('n/a') }} "
        "{{ 'yes' if missing is defined else 'no' }}\n"
        "{% for k, v in meta|dictsort %}{{ k }}={{ v }};{% endfor %}"
    )
    vars = (
        '{name: "ada lovelace", items: [a, "b<c"], strict: true, price: 3.14159, '
        'meta: {z: 1, a: 2}, out: "4"}'
    )
    (text,) = rendered(write_suite(tmp_path, template, vars))
    assert text == (
        "ADA LOVELACE / Ada Lovelace / a, b<c / 2\n"
        "1. a\n2. b&lt;c\n"
        "Answer with one word.\n"
        "total=4\n"
        "3.14 n/a no\n"
        "a=2;z=1;"
    )


def test_system_and_user_messages(tmp_path: Path) -> None:
    path = write_suite(tmp_path, "Q: {{ question }}", system='"You answer {{ out|length }}x."')
    (case,) = prepare(path).plan.cases
    assert [(m.role, m.content) for m in case.request.messages] == [
        ("system", "You answer 1x."),
        ("user", "Q: 2+2?"),
    ]


def test_no_autoescape_and_trailing_newline_kept(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(
        "name: tpl\nprompts:\n  - id: p1\n    template: |\n      <b>{{ question }}</b>\n"
        "providers:\n  - {type: outputs, id: s, column: out}\n"
        "cases:\n  - vars: {question: 'a & b', out: x}\n    assert: [{type: contains, value: x}]\n",
        encoding="utf-8",
    )
    assert rendered(path) == ["<b>a & b</b>\n"]


# --- StrictUndefined -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("{{ missing }}", ["'missing' is undefined"]),
        ("{{ row.missing }}", ["'row' is undefined"]),
        ("{{ meta.missing }}", ["has no attribute 'missing'"]),
        ("{{ meta['missing'] }}", ["has no attribute 'missing'"]),
        ("{% if missing %}x{% endif %}", ["'missing' is undefined"]),
        ("{% for x in missing %}{{ x }}{% endfor %}", ["'missing' is undefined"]),
        ("{{ missing|upper }}", ["'missing' is undefined"]),
    ],
    ids=["name", "row-attr", "dict-attr", "dict-item", "if", "for", "filter"],
)
def test_undefined_is_an_error(tmp_path: Path, expr: str, words: list[str]) -> None:
    path = write_suite(
        tmp_path, f"Answer briefly.\n{expr}", vars='{question: q, out: "4", meta: {a: 1}}'
    )
    with pytest.raises(SuiteError) as info:
        prepare(path)
    err = info.value
    for word in words:
        assert word in err.message
    assert "prompt 'p1'" in err.message
    assert "Variables of this case: meta, out, question" in err.message
    assert err.line == line_of(path, expr)


# --- data is data, not a template ------------------------------------------------------------


def test_inline_var_with_template_syntax_is_literal(tmp_path: Path) -> None:
    path = write_suite(
        tmp_path,
        "Q: {{ question }}",
        vars="{question: \"What is {{ 7*7 }}? {% if 1 %}x{% endif %} {{ ''.__class__ }}\", out: a}",
    )
    assert rendered(path) == ["Q: What is {{ 7*7 }}? {% if 1 %}x{% endif %} {{ ''.__class__ }}"]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".yaml"])
def test_dataset_text_with_template_syntax_is_literal(tmp_path: Path, suffix: str) -> None:
    question = "What is {{ 7*7 }}? {{ missing }} {% raw %}"
    data = {
        ".csv": f'question,out,answer\n"{question}",49,{{{{ 7*7 }}}}\n',
        ".jsonl": f'{{"question": "{question}", "out": "49", "answer": "{{{{ 7*7 }}}}"}}\n',
        ".yaml": f"- question: '{question}'\n  out: '49'\n  answer: '{{{{ 7*7 }}}}'\n",
    }[suffix]
    (tmp_path / f"data{suffix}").write_text(data, encoding="utf-8")
    (tmp_path / "suite.yaml").write_text(
        "name: tpl\nprompts:\n  - id: p1\n    template: 'Q: {{ question }}'\n"
        "providers:\n  - {type: outputs, id: s, column: out}\n"
        f"cases:\n  file: data{suffix}\n  expected: answer\n  assert: [{{type: exact}}]\n",
        encoding="utf-8",
    )
    (case,) = prepare(tmp_path / "suite.yaml").plan.cases
    assert [m.content for m in case.request.messages] == [f"Q: {question}"]
    assert case.row.expected == ["{{ 7*7 }}"]
    assert "49" not in case.request.messages[0].content
