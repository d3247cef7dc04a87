"""Prompt templates render in Jinja2's sandbox with StrictUndefined.

Suite files and dataset rows are untrusted: attribute walks to ``__class__`` /
``__globals__`` are refused with a SuiteError that names the prompt and case (before
any model is called), a missing variable is an error rather than an empty string, and
text coming from the data is never itself evaluated as a template.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.api import prepare, run_suite
from harness.errors import SuiteError
from harness.providers.outputs import OutputsProvider
from harness.results.store import ResultStore
from harness.suite import sandbox


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


# --- the sandbox's limits: no template exhausts memory or time -----------------------------

#: Each builds (or would build) gigabytes, or runs for hours, in plain Jinja's sandbox.
EXPLOITS = {
    "str-times-huge": ("{{ 'a' * 10**9 }}", "1,000,000,000 characters"),
    "huge-times-list": ("{{ [question] * 1000000000 }}", "a repeated value"),
    "percent-width": ("{{ '%999999999d' % 1 }}", "format width of 999999999"),
    "percent-star-width": ("{{ '%*d' % (999999999, 1) }}", "width taken from the arguments"),
    "format-width": ("{{ '{:>999999999}'.format(1) }}", "format width of 999999999"),
    "format-nested-width": ("{{ '{:>{}}'.format(1, 999999999) }}", "from the arguments"),
    "format-filter-width": ("{{ '%999999999s'|format(question) }}", "format width"),
    "center": ("{{ question|center(10**9) }}", "center's width"),
    "str-center": ("{{ question.center(10**9) }}", "str.center()'s width"),
    "str-zfill": ("{{ question.zfill(10**9) }}", "str.zfill()'s width"),
    "indent": ("{{ question|indent(10**9) }}", "indent's text"),
    "power-tower": ("{{ 10 ** (10 ** 10) }}", "a power of more than 65536 bits"),
    "square-a-lot": (
        "{% set ns = namespace(x=3) %}{% for i in range(40) %}{% set ns.x = ns.x * ns.x %}"
        "{% endfor %}",
        "a product of more than 65536 bits",
    ),
    "replace-grows": ("{{ ('a' * 100000)|replace('a', 'b' * 100000) }}", "replace's text"),
    "list-of-repeats": ("{{ (['x' * 1000000] * 1000)|join }}", "a repeated value"),
    "join-separator": ("{{ range(100000)|join('-' * 100) }}", "join's text"),
    "str-join-separator": (
        "{{ ('-' * 100).join(range(100000)|map('string')) }}",
        "str.join()'s text",
    ),
    "tojson-indent": ("{{ range(100000)|list|tojson(indent=100) }}", "tojson's text"),
    "batch-fill": ("{{ [1]|batch(10**9, 'x')|list }}", "batch's linecount"),
    "slice-fill": ("{{ [1]|slice(10**9, 'x')|list }}", "slice's slices"),
    "wordwrap-string": ("{{ ('a ' * 100000)|wordwrap(1, wrapstring='-' * 100) }}", "wordwrap's"),
    "urlize-target": ("{{ ('a.com ' * 100000)|urlize(target='x' * 1000) }}", "urlize's text"),
    "sum-of-lists": ("{{ ([[1]] * 100000)|sum(start=[]) }}", "summing 100000 lists"),
    "lipsum": ("{{ lipsum(10**6) }}", "lipsum's text"),
    "doubling-concat": (
        "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}",
        "a value would be",
    ),
    "doubling-block-set": (
        "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s %}{{ ns.s }}"
        "{{ ns.s }}{% endset %}{% endfor %}",
        "the rendered text",
    ),
    "doubling-extend": (
        "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{{ ns.l.extend(ns.l) }}"
        "{% endfor %}",
        "a value would be",
    ),
    # shared sub-lists: cheap to build, exponential to print or compare
    "shared-lists-printed": (
        "{% set ns = namespace(l=[1]) %}{% for i in range(100) %}{% set ns.l = [ns.l, ns.l] %}"
        "{% endfor %}{{ ns.l }}",
        "a value would be",
    ),
    "shared-lists-compared": (
        "{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(100) %}"
        "{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}{{ ns.a == ns.b }}",
        "a value would be",
    ),
    "output-too-long": (
        "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
        "the rendered text would be",
    ),
}


@pytest.mark.parametrize(("expr", "words"), list(EXPLOITS.values()), ids=list(EXPLOITS))
def test_resource_exhaustion_is_refused(tmp_path: Path, expr: str, words: str) -> None:
    path = write_suite(tmp_path, f"Answer briefly.\n{expr}")
    with pytest.raises(SuiteError) as info:
        prepare(path)
    err = info.value
    assert "stopped by the template sandbox" in err.message, err.message
    assert words in err.message
    assert "suite 'tpl'" in err.message and "prompt 'p1'" in err.message
    assert f"case at {path}:{line_of(path, '- id: c1')}" in err.message
    assert err.line in (line_of(path, "Answer briefly."), line_of(path, expr))


@pytest.mark.parametrize(
    "expr",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "{% for a in range(100000) %}{% for b in question * 100000 %}{% endfor %}{% endfor %}",
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(60) }}",
    ],
    ids=["nested-ranges", "nested-ranges-output", "nested-over-text", "recursive-macro"],
)
def test_render_time_is_limited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expr: str) -> None:
    monkeypatch.setattr(sandbox, "RENDER_SECONDS", 0.2)
    path = write_suite(tmp_path, expr)
    start = time.monotonic()
    with pytest.raises(SuiteError, match=r"rendering took longer than 0\.2 s") as info:
        prepare(path)
    assert time.monotonic() - start < 5
    assert "prompt 'p1'" in info.value.message


def test_ordinary_templates_are_within_the_limits(tmp_path: Path) -> None:
    template = (
        "{{ '=' * 20 }}\n"
        "{% for x in items %}{{ '%3d' % x }}{{ ', ' if not loop.last }}{% endfor %}\n"
        "{{ '%5.2f|%-4s|' % (price, 'a') }}{{ '{:>6}|{:,}'.format('b', 1234567) }}\n"
        "{{ items|map('string')|join(',')|length }} {{ items|sum }} {{ 2 ** 64 }} "
        "{{ (doc ~ ' ') * 3 }}|{{ doc|center(11) }}|{{ doc|indent(2, first=true) }}\n"
        "{{ {'k': items[:3]}|tojson(indent=1) }}"
    )
    vars = "{question: q, out: x, items: " + str(list(range(1000))) + ", price: 3.14159, doc: ab}"
    (text,) = rendered(write_suite(tmp_path, template, vars))
    lines = text.split("\n")
    assert lines[0] == "=" * 20
    assert lines[1].startswith("  0,   1,   2,") and lines[1].endswith(" 999")
    assert lines[2] == " 3.14|a   |     b|1,234,567"
    assert lines[3] == f"3889 499500 {2**64} ab ab ab |{'ab'.center(11)}|  ab"
    assert lines[4:] == ["{", ' "k": [', "  0,", "  1,", "  2", " ]", "}"]


def test_a_long_document_renders(tmp_path: Path) -> None:
    """Big real inputs (a 3-million-character context) are well within the limits."""
    (tmp_path / "rows.jsonl").write_text(
        '{"doc": "' + "word " * 600_000 + '", "out": "x"}\n', encoding="utf-8"
    )
    (tmp_path / "suite.yaml").write_text(
        "name: t\nprompts: [{id: p, template: '{{ doc|trim|wordcount }} {{ doc }}'}]\n"
        "providers: [{id: o, type: outputs, column: out}]\n"
        "cases: {file: rows.jsonl, assert: [{type: contains, value: x}]}\n",
        encoding="utf-8",
    )
    (case,) = prepare(tmp_path / "suite.yaml").plan.cases
    assert case.request.messages[0].content.startswith("600000 word word")


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
