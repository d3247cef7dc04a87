"""Malformed suites and data files: each one must fail in ``prepare()`` with a SuiteError
that names the right file and line and says what was expected.

Every case writes its files to ``tmp_path``. The expected line is given as a piece of text
(``at``): the test finds the line holding it, so the assertion is about where the problem
really is, not about a number copied from the current output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.api import prepare
from harness.cli import main
from harness.errors import HarnessError, SuiteError

PROMPT = """\
name: demo
prompts:
  - id: p1
    template: "Q: {{ question }}"
providers:
  - type: outputs
    id: stored
    column: out
"""

CASES = """\
cases:
  - id: c1
    vars: {question: "2+2?", out: "4"}
    expected: "4"
    assert:
      - type: exact
"""

BASE = PROMPT + CASES


def edit(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` (which must be there) replaced once by ``new``."""
    assert old in text, f"{old!r} not in the base text"
    return text.replace(old, new, 1)


def dataset(spec: str) -> str:
    """The prompt part of the suite plus a dataset ``cases:`` mapping."""
    return PROMPT + "cases:\n" + spec


CSV = "question,out,answer\nWhat is 2+2?,4,4\nCapital of France?,Paris,Paris\n"
DATASET_OK = "  file: data.csv\n  expected: answer\n  assert:\n    - type: exact\n"


@dataclass
class Bad:
    """One malformed input: the files, where the error must point, what it must say."""

    id: str
    files: dict[str, str | bytes]
    at: str | int
    words: list[str]
    file: str = "suite.yaml"


def suite_only(id: str, text: str, at: str | int, words: list[str]) -> Bad:
    return Bad(id, {"suite.yaml": text}, at, words)


def template(expr: str) -> str:
    """The base suite with ``expr`` as its prompt template (on the ``template:`` line)."""
    return edit(BASE, '"Q: {{ question }}"', f'"{expr}"')


def openai_provider(*settings: str) -> str:
    """The base suite with an OpenAI provider carrying ``settings`` (``key: value`` lines)."""
    lines = "".join(f"    {s}\n" for s in settings)
    return edit(
        BASE,
        "  - type: outputs\n    id: stored\n    column: out\n",
        f"  - type: openai\n    id: gpt\n    model: gpt-4o-mini\n{lines}",
    )


def threshold(value: str) -> str:
    """The base suite with ``threshold: value`` on its case's assertion."""
    return edit(BASE, "      - type: exact\n", f"      - type: exact\n        threshold: {value}\n")


def alias_bomb(indent: str = "") -> str:
    """YAML "billion laughs": each level nine aliases of the one before (9**9 leaves)."""
    text = f"{indent}a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for level in range(1, 9):
        text += f"{indent}a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]\n"
    return text


DEEP_LIST = "[" * 5000 + "]" * 5000


MALFORMED = [
    # --- YAML syntax -------------------------------------------------------------------
    suite_only(
        "yaml-bad-indentation",
        edit(BASE, '    template: "Q: {{ question }}"\n', '    template: "Q"\n   description: x\n'),
        "   description: x",
        ["YAML syntax error", "indentation"],
    ),
    suite_only(
        "yaml-unclosed-quote",
        edit(BASE, "name: demo", 'name: "demo'),
        'name: "demo',
        ["YAML syntax error", "starts on line 1 runs on to line 4", "closing quote missing"],
    ),
    suite_only(
        "yaml-unclosed-quote-at-end",
        BASE + "description: 'a suite\n",
        "description: 'a suite",
        ["YAML syntax error", "never closed", "closing quote"],
    ),
    suite_only(
        "yaml-tab-indent",
        edit(BASE, "    id: stored", "\tid: stored"),
        "\tid: stored",
        ["YAML syntax error", "tab", "spaces"],
    ),
    suite_only(
        "yaml-unquoted-template",
        edit(BASE, '"Q: {{ question }}"', "{{ question }}"),
        "template: {{ question }}",
        ["YAML syntax error", "quote the template"],
    ),
    suite_only(
        "yaml-unclosed-flow-mapping",
        edit(BASE, 'vars: {question: "2+2?", out: "4"}', 'vars: {question: "2+2?", out: "4"'),
        'vars: {question: "2+2?", out: "4"',
        ["YAML syntax error", "not closed"],
    ),
    suite_only("empty-file", "", 1, ["suite file is empty"]),
    suite_only("comments-only", "# a suite, some day\n\n", 1, ["suite file is empty"]),
    suite_only(
        "top-level-list",
        "- name: demo\n- prompts: []\n",
        1,
        ["must be a mapping", "name, prompts, providers", "got a list"],
    ),
    # --- unknown keys ------------------------------------------------------------------
    suite_only(
        "unknown-top-level-key",
        edit(BASE, "prompts:", "promts:"),
        "promts:",
        ["unknown key 'promts'", "Did you mean 'prompts'?", "Expected one of: name,"],
    ),
    suite_only(
        "unknown-prompt-key",
        edit(BASE, "  - id: p1\n", "  - id: p1\n    sytem: be brief\n"),
        "sytem:",
        ["unknown key 'sytem' in prompts[0]", "Did you mean 'system'?"],
    ),
    suite_only(
        "unknown-provider-key",
        edit(BASE, "    column: out\n", "    column: out\n    colum: x\n"),
        "colum: x",
        ["unknown key 'colum' in providers[0]", "Did you mean 'column'?"],
    ),
    suite_only(
        "unknown-openai-provider-key",
        edit(
            BASE,
            "  - type: outputs\n    id: stored\n    column: out\n",
            "  - type: openai\n    id: gpt\n    model: gpt-4o-mini\n    base_ur1: http://x\n",
        ),
        "base_ur1:",
        ["unknown key 'base_ur1' in providers[0]", "Did you mean 'base_url'?", "api_key_env"],
    ),
    suite_only(
        "unknown-case-key",
        edit(BASE, '    expected: "4"', '    expect: "4"'),
        "expect:",
        ["unknown key 'expect' in cases[0]", "Did you mean 'expected'?"],
    ),
    suite_only(
        "unknown-defaults-key",
        BASE + "defaults:\n  asserts:\n    - type: exact\n",
        "asserts:",
        ["unknown key 'asserts' in defaults", "Did you mean 'assert'?"],
    ),
    Bad(
        "unknown-dataset-key",
        {"suite.yaml": dataset(edit(DATASET_OK, "expected:", "expect:")), "data.csv": CSV},
        "expect: answer",
        ["unknown key 'expect' in cases", "Did you mean 'expected'?", "tags_column"],
    ),
    suite_only(
        "unknown-params-key",
        BASE + "defaults:\n  params:\n    temprature: 0\n",
        "temprature:",
        ["unknown key 'temprature' in defaults.params", "Did you mean 'temperature'?"],
    ),
    suite_only(
        "duplicate-yaml-key",
        edit(BASE, "providers:", "name: again\nproviders:"),
        "name: again",
        ["duplicate key 'name'", "first given on line 1"],
    ),
    # --- wrong types and values ----------------------------------------------------------
    suite_only(
        "concurrency-not-a-number",
        BASE + "concurrency: many\n",
        "concurrency: many",
        ["concurrency", "valid integer", "'many'"],
    ),
    suite_only(
        "tags-a-string",
        edit(BASE, '    expected: "4"\n', '    expected: "4"\n    tags: smoke\n'),
        "tags: smoke",
        ["cases[0].tags", "valid list", "'smoke'", "[a, b]"],
    ),
    suite_only(
        "temperature-negative",
        BASE + "defaults:\n  params:\n    temperature: -1\n",
        "temperature: -1",
        ["defaults.params.temperature", "greater than or equal to 0", "-1"],
    ),
    suite_only(
        "max-tokens-zero",
        BASE + "defaults:\n  params:\n    max_tokens: 0\n",
        "max_tokens: 0",
        ["defaults.params.max_tokens", "greater than 0", "(got 0)"],
    ),
    suite_only(
        "expected-yaml-boolean",
        edit(BASE, 'expected: "4"', "expected: yes"),
        "expected: yes",
        ["cases[0].expected", "YAML boolean", "quote it"],
    ),
    suite_only(
        "prompts-a-mapping",
        edit(BASE, '  - id: p1\n    template: "Q: {{ question }}"', '  id: p1\n  template: "Q"'),
        "prompts:",
        ["prompts", "valid list", "'- item'"],
    ),
    suite_only(
        "threshold-not-a-number",
        edit(BASE, "      - type: exact\n", "      - type: exact\n        threshold: high\n"),
        "threshold: high",
        ["cases[0].assert[0].threshold", "valid number", "'high'"],
    ),
    # --- missing required keys -----------------------------------------------------------
    suite_only(
        "missing-prompts",
        "name: demo\nproviders:\n  - type: outputs\n    id: stored\n    column: out\n" + CASES,
        1,
        ["missing required key 'prompts' in top level"],
    ),
    suite_only(
        "missing-providers",
        "name: demo\nprompts:\n  - id: p1\n    template: x\n" + CASES,
        1,
        ["missing required key 'providers' in top level"],
    ),
    suite_only(
        "missing-provider-model",
        edit(
            BASE,
            "  - type: outputs\n    id: stored\n    column: out\n",
            "  - type: openai\n    id: gpt\n",
        ),
        "- type: openai",
        ["missing required key 'model' in providers[0]"],
    ),
    suite_only(
        "missing-prompt-id",
        edit(BASE, "  - id: p1\n    template:", "  - template:"),
        "  - template:",
        ["missing required key 'id' in prompts[0]"],
    ),
    suite_only(
        "missing-assert-type",
        edit(BASE, "- type: exact", "- threshold: 1"),
        "- threshold: 1",
        ["missing required key 'type' in cases[0].assert[0]"],
    ),
    suite_only(
        "no-cases",
        edit(BASE, CASES, "cases: []\n"),
        1,
        ["has no cases", "'cases'", "'bad_cases'"],
    ),
    # --- providers -------------------------------------------------------------------------
    suite_only(
        "unknown-provider-type",
        edit(BASE, "type: outputs", "type: openia"),
        "type: openia",
        ["unknown type 'openia'", "Did you mean 'openai'?", "openai, hf, outputs"],
    ),
    suite_only(
        "provider-without-type",
        edit(BASE, "  - type: outputs\n    id: stored", "  - id: stored"),
        "- id: stored",
        ["missing 'type'", "openai, hf, outputs"],
    ),
    suite_only(
        "outputs-provider-column-and-file",
        edit(BASE, "    column: out\n", "    column: out\n    file: outputs.jsonl\n"),
        "- type: outputs",
        ["providers[0]", "exactly one of 'column'", "'file'", "has both"],
    ),
    suite_only(
        "duplicate-provider-id",
        edit(BASE, "cases:", "  - id: stored  # again\n    type: outputs\n    column: out\ncases:"),
        "- id: stored  # again",
        ["duplicate provider id 'stored'", "first used on line 7"],
    ),
    # --- prompts and templates -------------------------------------------------------------
    suite_only(
        "template-and-file",
        edit(BASE, "    template:", "    file: prompt.j2\n    template:"),
        "- id: p1",
        ["prompts[0]", "exactly one of 'template'", "'file'", "has both"],
    ),
    suite_only(
        "neither-template-nor-file",
        edit(BASE, '    template: "Q: {{ question }}"\n', "    system: be brief\n"),
        "- id: p1",
        ["prompts[0]", "exactly one of 'template'", "has neither"],
    ),
    suite_only(
        "template-file-missing",
        edit(BASE, 'template: "Q: {{ question }}"', "file: prompts/missing.j2"),
        "file: prompts/missing.j2",
        ["template file not found", "missing.j2"],
    ),
    suite_only(
        "template-syntax-error-inline",
        edit(
            BASE,
            'template: "Q: {{ question }}"',
            "template: |\n      Answer briefly.\n      Q: {{ question }\n      A:",
        ),
        "Q: {{ question }\n",
        ["template syntax error", "unexpected '}'"],
    ),
    Bad(
        "template-syntax-error-in-file",
        {
            "suite.yaml": edit(BASE, 'template: "Q: {{ question }}"', "file: prompt.j2"),
            "prompt.j2": "Answer briefly.\n\n{% for x in question %}\n{{ x }\n{% endfor %}\n",
        },
        "{{ x }\n",
        ["template syntax error"],
        file="prompt.j2",
    ),
    suite_only(
        "undefined-template-variable",
        edit(
            BASE,
            'template: "Q: {{ question }}"',
            "template: |\n      Answer briefly.\n      Q: {{ questoin }}",
        ),
        "Q: {{ questoin }}",
        [
            "suite 'demo'",
            "prompt 'p1'",
            "suite.yaml:12",
            "'questoin' is undefined",
            "out, question",
        ],
    ),
    Bad(
        "undefined-variable-in-template-file",
        {
            "suite.yaml": edit(BASE, 'template: "Q: {{ question }}"', "file: prompt.j2"),
            "prompt.j2": "Answer briefly.\n{% if question %}\n"
            "Context: {{ context }}\n{% endif %}\n",
        },
        "Context: {{ context }}",
        ["prompt 'p1'", "'context' is undefined", "suite.yaml:10"],
        file="prompt.j2",
    ),
    suite_only(
        "undefined-variable-in-system",
        edit(BASE, "    template:", '    system: "You are {{ persona }}."\n    template:'),
        "system:",
        ["prompt 'p1' (system template)", "'persona' is undefined"],
    ),
    suite_only(
        "template-sandbox-escape",
        edit(BASE, '"Q: {{ question }}"', "\"{{ ''.__class__.__mro__ }}\""),
        "template:",
        ["prompt 'p1'", "refused by the template sandbox", "__class__"],
    ),
    suite_only(
        "template-runtime-error",
        edit(BASE, '"Q: {{ question }}"', "|\n      {{ question }}\n      {{ 1 / 0 }}"),
        "{{ 1 / 0 }}",
        ["prompt 'p1'", "ZeroDivisionError"],
    ),
    suite_only(
        "duplicate-prompt-id",
        edit(BASE, "providers:", "  - id: p1  # again\n    template: other\nproviders:"),
        "- id: p1  # again",
        ["duplicate prompt id 'p1'", "first used on line 3"],
    ),
    # --- datasets ------------------------------------------------------------------------
    suite_only(
        "dataset-file-missing",
        dataset(edit(DATASET_OK, "data.csv", "nope.csv")),
        "file: nope.csv",
        ["dataset file not found", "nope.csv"],
    ),
    Bad(
        "dataset-unsupported-suffix",
        {"suite.yaml": dataset(edit(DATASET_OK, "data.csv", "data.txt")), "data.txt": CSV},
        "file: data.txt",
        ["unsupported dataset file type '.txt'", ".csv, .jsonl, .yaml, .yml"],
    ),
    Bad(
        "csv-expected-column-missing",
        {
            "suite.yaml": dataset(edit(DATASET_OK, "expected: answer", "expected: answr")),
            "data.csv": CSV,
        },
        "expected: answr",
        ["column 'answr' not found in data.csv", "Did you mean 'answer'?", "answer, out, question"],
    ),
    Bad(
        "csv-vars-column-missing",
        {
            "suite.yaml": dataset(DATASET_OK + "  vars:\n    question: prompt_text\n"),
            "data.csv": CSV,
        },
        "question: prompt_text",
        ["column 'prompt_text' not found", "Columns: answer, out, question"],
    ),
    Bad(
        "csv-ragged-row",
        {
            "suite.yaml": dataset(DATASET_OK),
            "data.csv": 'question,out,answer\n"Two\nlines",4,4\nWhat, now?,x,x\n',
        },
        "What, now?",
        ["row has 4 fields, the header has 3", "question, out, answer", "quote"],
        file="data.csv",
    ),
    Bad(
        "csv-empty",
        {"suite.yaml": dataset(DATASET_OK), "data.csv": ""},
        1,
        ["CSV file is empty", "header"],
        file="data.csv",
    ),
    Bad(
        "csv-unclosed-quote",
        {
            "suite.yaml": dataset(DATASET_OK),
            "data.csv": 'question,out,answer\nq,a,a\n"open,b,b\nq,c,c\n',
        },
        '"open',
        ["CSV error", "never closed"],
        file="data.csv",
    ),
    Bad(
        "jsonl-invalid-json",
        {
            "suite.yaml": dataset(edit(DATASET_OK, "data.csv", "data.jsonl")),
            "data.jsonl": '{"question": "a", "out": "b", "answer": "b"}\n'
            '\n{"question": "a" "out": "b"}\n',
        },
        '{"question": "a" "out"',
        ["invalid JSON", "Expecting ','"],
        file="data.jsonl",
    ),
    Bad(
        "jsonl-line-not-an-object",
        {
            "suite.yaml": dataset(edit(DATASET_OK, "data.csv", "data.jsonl")),
            "data.jsonl": '{"question": "a", "out": "b", "answer": "b"}\n["a", "b"]\n',
        },
        '["a", "b"]',
        ["each line must be a JSON object", "got list"],
        file="data.jsonl",
    ),
    Bad(
        "jsonl-row-without-id",
        {
            "suite.yaml": dataset(edit(DATASET_OK, "data.csv", "data.jsonl") + "  id: key\n"),
            "data.jsonl": '{"key": "k1", "question": "a", "out": "b", "answer": "b"}\n'
            '{"question": "c", "out": "d", "answer": "d"}\n',
        },
        '{"question": "c"',
        ["no value in the id column 'key'"],
        file="data.jsonl",
    ),
    Bad(
        "yaml-cases-file-not-a-list",
        {
            "suite.yaml": dataset(edit(DATASET_OK, "data.csv", "data.yaml")),
            "data.yaml": "question: a\nout: b\n",
        },
        1,
        ["expected a list of cases", "'cases' list"],
        file="data.yaml",
    ),
    Bad(
        "yaml-cases-item-not-a-mapping",
        {
            "suite.yaml": dataset(edit(DATASET_OK, "data.csv", "data.yaml")),
            "data.yaml": "- {question: a, out: b, answer: b}\n- just a string\n",
        },
        "- just a string",
        ["each case must be a mapping", "got str"],
        file="data.yaml",
    ),
    Bad(
        "non-utf8-csv",
        {
            "suite.yaml": dataset(DATASET_OK),
            "data.csv": "question,out,answer\nq,a,a\ncaf\xe9,b,b\n".encode("latin-1"),
        },
        "caf",
        ["CSV file is not valid UTF-8", "0xe9", "save it with UTF-8"],
        file="data.csv",
    ),
    suite_only(
        "non-utf8-suite",
        edit(BASE, "2+2?", "caf\udce9").encode("utf-8", "surrogateescape"),
        "vars:",
        ["suite file is not valid UTF-8", "0xe9"],
    ),
    # --- bad cases -----------------------------------------------------------------------
    suite_only(
        "bad-case-file-missing",
        BASE + "bad_cases:\n  - name: prod\n    file: bad/prod.yaml\n",
        "file: bad/prod.yaml",
        ["bad-case file not found", "prod.yaml"],
    ),
    Bad(
        "bad-case-row-unknown-key",
        {
            "suite.yaml": BASE + "bad_cases:\n  - name: prod\n    file: bad.yaml\n",
            "bad.yaml": "- vars: {question: a, out: b}\n  expected: b\n  assert: [{type: exact}]\n"
            "- vars: {question: c, out: d}\n  expeted: d\n  assert: [{type: exact}]\n",
        },
        "expeted:",
        ["unknown key 'expeted' in this case", "Did you mean 'expected'?"],
        file="bad.yaml",
    ),
    Bad(
        "bad-case-jsonl-unknown-key",
        {
            "suite.yaml": BASE + "defaults:\n  assert: [{type: f1}]\n"
            "bad_cases:\n  - name: prod\n    file: bad.jsonl\n",
            "bad.jsonl": '{"vars": {"question": "a", "out": "b"}, "expected": "b"}\n'
            '{"vars": {"question": "a", "out": "b"}, "answer": "b"}\n',
        },
        '"answer": "b"',
        ["unknown key 'answer' in this case", "Expected one of: id, description, vars"],
        file="bad.jsonl",
    ),
    suite_only(
        "duplicate-bad-case-set",
        BASE + "bad_cases:\n  - name: prod\n    file: a.yaml\n"
        "  - name: prod  # again\n    file: b.yaml\n",
        "name: prod  # again",
        ["duplicate bad-case set name 'prod'"],
    ),
    # --- scorers and assertions ----------------------------------------------------------
    suite_only(
        "unknown-scorer",
        edit(BASE, "- type: exact", "- type: exakt"),
        "- type: exakt",
        ["Unknown scorer 'exakt'", "Did you mean 'exact'?", "contains"],
    ),
    suite_only(
        "unknown-scorer-in-defaults",
        edit(BASE, "    assert:\n      - type: exact\n", "")
        + "defaults:\n  assert:\n    - type: exact\n    - type: contians\n",
        "- type: contians",
        ["Unknown scorer 'contians'", "Did you mean 'contains'?"],
    ),
    suite_only(
        "unknown-scorer-parameter",
        edit(BASE, "      - type: exact\n", "      - type: exact\n        normalise: lower\n"),
        "- type: exact",
        ["no parameter 'normalise'", "Did you mean 'normalize'?"],
    ),
    suite_only(
        "bad-scorer-parameter-value",
        edit(BASE, "      - type: exact\n", "      - type: exact\n        normalize: upper\n"),
        "- type: exact",
        ["parameter 'normalize' must be one of", "'upper'"],
    ),
    suite_only(
        "scorer-needs-expected",
        edit(BASE, '    expected: "4"\n', ""),
        "- id: c1",
        ["scorer 'exact' needs an expected answer", "give it 'expected'"],
    ),
    Bad(
        "dataset-scorer-needs-expected",
        {"suite.yaml": dataset(edit(DATASET_OK, "  expected: answer\n", "")), "data.csv": CSV},
        "What is 2+2?",
        ["scorer 'exact' needs an expected answer", "answer column"],
        file="data.csv",
    ),
    # --- limits of the template sandbox (more in test_templates.py) ---------------------
    suite_only(
        "template-huge-repeat",
        template("{{ 'a' * 10**9 }}"),
        "template:",
        ["prompt 'p1'", "case at", "stopped by the template sandbox", "1,000,000,000 characters"],
    ),
    suite_only(
        "template-huge-percent-width",
        template("{{ '%999999999d' % 1 }}"),
        "template:",
        ["prompt 'p1'", "stopped by the template sandbox", "format width of 999999999"],
    ),
    suite_only(
        "template-huge-format-width",
        template("{{ '{:>999999999}'.format(1) }}"),
        "template:",
        ["prompt 'p1'", "stopped by the template sandbox", "format width of 999999999"],
    ),
    suite_only(
        "template-huge-center",
        template("{{ question|center(10**9) }}"),
        "template:",
        ["prompt 'p1'", "stopped by the template sandbox", "center's width"],
    ),
    suite_only(
        "template-huge-indent",
        template("{{ question|indent(10**9) }}"),
        "template:",
        ["prompt 'p1'", "stopped by the template sandbox", "indent's text"],
    ),
    suite_only(
        "template-power-tower",
        template("{{ 10 ** (10 ** 10) }}"),
        "template:",
        ["prompt 'p1'", "stopped by the template sandbox", "a power of more than 65536 bits"],
    ),
    suite_only(
        "template-output-too-long",
        edit(
            BASE,
            '"Q: {{ question }}"',
            "|\n      {% for i in range(100000) %}{{ question * 1000 }}{% endfor %}",
        ),
        "{% for i in range(100000) %}",
        ["prompt 'p1'", "the rendered text would be", "over the limit of 4,000,000"],
    ),
    # --- YAML that multiplies or nests without end -----------------------------------------
    suite_only(
        "yaml-alias-bomb",
        BASE + alias_bomb(),
        "a5: &a5",
        ["YAML aliases expand to more than 100,000 nodes", "alias *a4", "billion laughs"],
    ),
    suite_only(
        "yaml-deep-nesting",
        edit(BASE, 'out: "4"}', f'out: "4", deep: {DEEP_LIST}}}'),
        "deep: [[[",
        ["YAML nested more than 200 levels deep", "flatten"],
    ),
    suite_only(
        "yaml-deep-nested-mappings",
        BASE + "description:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(300)),
        "k198:",  # the key whose value is the 201st level
        ["YAML nested more than 200 levels deep"],
    ),
    suite_only(
        "yaml-alias-inside-itself",
        BASE + "x-loop: &loop\n  - *loop\n",
        "- *loop",
        ["alias *loop is inside the node it names", "copy the values"],
    ),
    Bad(
        "dataset-yaml-alias-bomb",
        {
            "suite.yaml": dataset(edit(DATASET_OK, "data.csv", "data.yaml")),
            "data.yaml": "- question: q\n  out: o\n  answer: o\n" + alias_bomb("  "),
        },
        "a5: &a5",
        ["YAML aliases expand to more than 100,000 nodes"],
        file="data.yaml",
    ),
    Bad(
        "bad-case-yaml-deep-nesting",
        {
            "suite.yaml": BASE + "bad_cases:\n  - name: prod\n    file: bad.yaml\n",
            "bad.yaml": "- vars: {question: a, out: b}\n  expected: b\n"
            f"- vars: {{question: c, out: {DEEP_LIST}}}\n  expected: d\n",
        },
        "out: [[[",
        ["YAML nested more than 200 levels deep"],
        file="bad.yaml",
    ),
    Bad(
        "jsonl-deep-nesting",
        {
            "suite.yaml": dataset(edit(DATASET_OK, "data.csv", "data.jsonl")),
            "data.jsonl": '{"question": "a", "out": "b", "answer": "b"}\n'
            f'{{"question": "c", "out": "d", "answer": {DEEP_LIST}}}\n',
        },
        '"answer": [[[',
        ["JSON nested more than 200 levels deep"],
        file="data.jsonl",
    ),
    Bad(
        "jsonl-nesting-past-jsons-own-limit",
        {
            "suite.yaml": dataset(edit(DATASET_OK, "data.csv", "data.jsonl")),
            "data.jsonl": f'{{"question": "c", "out": "d", "answer": {DEEP_LIST * 20}}}\n',
        },
        1,
        ["JSON nested more than 200 levels deep"],
        file="data.jsonl",
    ),
    # --- numbers that are not numbers: non-finite, booleans, out of range -------------------
    suite_only(
        "threshold-nan",
        threshold(".nan"),
        "threshold: .nan",
        ["cases[0].assert[0].threshold", "finite number"],
    ),
    suite_only(
        "threshold-inf",
        threshold(".inf"),
        "threshold: .inf",
        ["cases[0].assert[0].threshold", "finite number"],
    ),
    suite_only(
        "threshold-a-boolean",
        threshold("yes"),
        "threshold: yes",
        ["cases[0].assert[0].threshold", "valid number", "True"],
    ),
    suite_only(
        "threshold-above-one",
        threshold("1.5"),
        "threshold: 1.5",
        ["threshold 1.5 is outside the range of 'exact' scores (0 to 1)"],
    ),
    suite_only(
        "threshold-negative-in-defaults",
        BASE + "defaults:\n  assert:\n    - type: f1\n      threshold: -0.5\n",
        "threshold: -0.5",
        ["threshold -0.5 is outside the range of 'f1' scores (0 to 1)"],
    ),
    Bad(
        "dataset-threshold-out-of-range",
        {
            "suite.yaml": dataset(
                edit(DATASET_OK, "- type: exact", "- {type: exact, threshold: 2}")
            ),
            "data.csv": CSV,
        },
        "threshold: 2",
        ["threshold 2 is outside the range of 'exact' scores"],
    ),
    suite_only(
        "timeout-inf",
        openai_provider("timeout: .inf"),
        "timeout: .inf",
        ["providers[0].timeout", "finite number"],
    ),
    suite_only(
        "timeout-nan",
        openai_provider("timeout: .nan"),
        "timeout: .nan",
        ["providers[0].timeout", "finite number"],
    ),
    suite_only(
        "timeout-negative",
        openai_provider("timeout: -5"),
        "timeout: -5",
        ["providers[0].timeout", "greater than 0"],
    ),
    suite_only(
        "concurrency-a-boolean",
        BASE + "concurrency: true\n",
        "concurrency: true",
        ["concurrency", "valid integer", "True"],
    ),
    suite_only(
        "max-retries-a-boolean",
        openai_provider("max_retries: yes"),
        "max_retries: yes",
        ["providers[0].max_retries", "valid integer", "True"],
    ),
    suite_only(
        "rpm-a-boolean",
        openai_provider("rpm: true"),
        "rpm: true",
        ["providers[0].rpm", "valid integer"],
    ),
    suite_only(
        "hf-batch-size-a-boolean",
        edit(
            BASE,
            "  - type: outputs\n    id: stored\n    column: out\n",
            "  - type: hf\n    id: local\n    model: ./model\n    batch_size: true\n",
        ),
        "batch_size: true",
        ["providers[0].batch_size", "valid integer"],
    ),
    suite_only(
        "max-tokens-a-boolean",
        BASE + "defaults:\n  params:\n    max_tokens: true\n",
        "max_tokens: true",
        ["defaults.params.max_tokens", "valid integer"],
    ),
    suite_only(
        "temperature-inf",
        BASE + "defaults:\n  params:\n    temperature: .inf\n",
        "temperature: .inf",
        ["defaults.params.temperature", "finite number"],
    ),
    Bad(
        "dataset-limit-a-boolean",
        {"suite.yaml": dataset(DATASET_OK + "  limit: true\n"), "data.csv": CSV},
        "limit: true",
        ["cases.limit", "valid integer"],
    ),
    # --- repeated case ids -----------------------------------------------------------------
    suite_only(
        "duplicate-inline-case-id",
        BASE
        + '  - id: c1  # again\n    vars: {question: "3+3?", out: "6"}\n    expected: "6"\n'
        + '  - id: c1-2\n    vars: {question: "4+4?", out: "8"}\n    expected: "8"\n',
        "- id: c1  # again",
        ["duplicate case id 'c1' in cases[1]", "first used on line 10"],
    ),
    Bad(
        "duplicate-bad-case-id",
        {
            "suite.yaml": BASE + "bad_cases:\n  - name: prod\n    file: bad.yaml\n",
            "bad.yaml": "- id: b1\n  vars: {question: a, out: b}\n  expected: b\n"
            "  assert: [{type: exact}]\n"
            "- id: b1  # again\n  vars: {question: c, out: d}\n  expected: d\n"
            "  assert: [{type: exact}]\n",
        },
        "- id: b1  # again",
        ["duplicate case id 'b1'", "bad.yaml:1"],
        file="bad.yaml",
    ),
    Bad(
        "identical-rows-without-ids",
        {"suite.yaml": dataset(DATASET_OK), "data.csv": CSV + "What is 2+2?,4,4\n"},
        4,
        ["asks and expects the same as the case at", "data.csv:2", "give the cases ids"],
        file="data.csv",
    ),
    suite_only(
        "case-id-of-a-perturbed-copy",
        BASE
        + '  - id: c1~case\n    vars: {question: "3+3?", out: "6"}\n    expected: "6"\n'
        + "    assert: [{type: exact}]\n"
        + "perturbations:\n  - type: case\n    vars: [question]\n",
        "- id: c1~case",
        ["case id 'c1~case' is also the id of the perturbed copy", "rename this case"],
    ),
    suite_only(
        "case-without-assertions",
        edit(BASE, "    assert:\n      - type: exact\n", ""),
        "- id: c1",
        ["case has no assertions", "'assert'", "'defaults'"],
    ),
    # --- authoring conveniences: defaults.vars, several sources, row assertions, answers
    suite_only(
        "defaults-vars-not-a-mapping",
        BASE + "defaults:\n  vars: [product]\n",
        "vars: [product]",
        ["defaults.vars", "dictionary"],
    ),
    Bad(
        "dataset-expected-columns-unknown-one",
        {
            "suite.yaml": dataset("  file: data.csv\n  expected:\n    - answer\n    - answr2\n")
            + "  assert: [{type: exact}]\n",
            "data.csv": CSV,
        },
        "- answr2",
        ["column 'answr2' not found in data.csv", "Did you mean 'answer'?"],
    ),
    Bad(
        "dataset-expected-columns-empty",
        {"suite.yaml": dataset("  file: data.csv\n  expected: []\n"), "data.csv": CSV},
        "expected: []",
        ["expected is empty", "[answer, alias]"],
    ),
    Bad(
        "assert-column-unknown",
        {"suite.yaml": dataset(DATASET_OK + "  assert_column: chekcs\n"), "data.csv": CSV},
        "assert_column: chekcs",
        ["column 'chekcs' not found in data.csv", "Columns: answer, out, question"],
    ),
    Bad(
        "assert-column-invalid-json",
        {
            "suite.yaml": dataset(DATASET_OK + "  assert_column: checks\n"),
            "data.csv": "question,out,answer,checks\n"
            'a,4,4,"[{""type"": ""contains"", ""value"": ""4""}]"\n'
            'b,5,5,"[{""type"": ""contains"", ""value"": ""5""]"\n',
        },
        3,
        ["the assertions column 'checks' is not JSON", "invalid JSON"],
        file="data.csv",
    ),
    Bad(
        "assert-column-not-a-list",
        {
            "suite.yaml": dataset(
                "  file: data.jsonl\n  expected: answer\n  assert_column: checks\n"
            ),
            "data.jsonl": '{"question": "a", "out": "4", "answer": "4", "checks": "contains"}\n',
        },
        1,
        ["the assertions column 'checks' is not JSON"],
        file="data.jsonl",
    ),
    Bad(
        "assert-column-a-mapping",
        {
            "suite.yaml": dataset(
                "  file: data.jsonl\n  expected: answer\n  assert_column: checks\n"
            ),
            "data.jsonl": '{"question": "a", "out": "4", "answer": "4"}\n'
            '{"question": "b", "out": "5", "answer": "5", "checks": {"type": "exact"}}\n',
        },
        2,
        ["'checks' must hold a list of assertions", "got dict"],
        file="data.jsonl",
    ),
    Bad(
        "assert-column-item-without-type",
        {
            "suite.yaml": dataset(
                "  file: data.jsonl\n  expected: answer\n  assert_column: checks\n"
            ),
            "data.jsonl": '{"question": "a", "out": "4", "answer": "4", '
            '"checks": [{"type": "exact"}, {"value": "4"}]}\n',
        },
        1,
        ["missing required key 'type' in checks[1]"],
        file="data.jsonl",
    ),
    Bad(
        "assert-column-threshold-nan",
        {
            "suite.yaml": dataset(
                "  file: data.jsonl\n  expected: answer\n  assert_column: checks\n"
            ),
            "data.jsonl": '{"question": "a", "out": "4", "answer": "4", '
            '"checks": [{"type": "f1", "threshold": NaN}]}\n',
        },
        1,
        ["checks[0].threshold", "finite"],
        file="data.jsonl",
    ),
    Bad(
        "assert-column-unknown-scorer-in-yaml",
        {
            "suite.yaml": dataset(
                "  file: data.yaml\n  expected: answer\n  assert_column: checks\n"
            ),
            "data.yaml": "- question: a\n  out: '4'\n  answer: '4'\n  checks:\n"
            "    - type: exact\n    - type: containz\n      value: '4'\n",
        },
        "- type: containz",
        ["Unknown scorer 'containz'", "Did you mean 'contains'?"],
        file="data.yaml",
    ),
    Bad(
        "assert-column-name-clashes-with-the-datasets",
        {
            "suite.yaml": dataset(DATASET_OK + "  assert_column: checks\n"),
            "data.csv": 'question,out,answer,checks\na,4,4,"[{""type"": ""exact""}]"\n',
        },
        2,
        ["two assertions of one case are named 'exact'", "suite.yaml:13", "'name:'"],
        file="data.csv",
    ),
    Bad(
        "case-id-repeated-across-sources",
        {
            "suite.yaml": BASE + "  - file: data.csv\n    id: qid\n    expected: answer\n"
            "    assert: [{type: exact}]\n",
            "data.csv": "qid,question,out,answer\nc0,a,1,1\nc1,b,2,2\n",
        },
        3,
        ["duplicate case id 'c1'", "suite.yaml:10"],
        file="data.csv",
    ),
    Bad(
        "rows-without-ids-repeated-across-two-datasets",
        {
            "suite.yaml": PROMPT + "cases:\n  - file: data.csv\n    expected: answer\n"
            "  - file: more.jsonl\n    expected: answer\n"
            "defaults: {assert: [{type: exact}]}\n",
            "data.csv": CSV,
            "more.jsonl": '{"question": "Capital of France?", "out": "Paris", "answer": "Paris"}\n',
        },
        1,
        ["asks and expects the same as the case at", "data.csv:3"],
        file="more.jsonl",
    ),
    suite_only(
        "dataset-item-not-found",
        BASE + "  - file: missing.csv\n    expected: answer\n",
        "- file: missing.csv",
        ["dataset file not found", "missing.csv"],
    ),
    suite_only(
        "dataset-item-unknown-key",
        BASE + "  - file: data.csv\n    expcted: answer\n",
        "expcted: answer",
        ["unknown key 'expcted' in cases[1]", "Did you mean 'expected'?", "assert_column"],
    ),
]

#: Cases also run through ``harness validate`` (exit 2, ``error: file:line``, no traceback).
CLI_IDS = {
    "yaml-unclosed-quote",
    "unknown-top-level-key",
    "undefined-template-variable",
    "csv-ragged-row",
    "unknown-scorer",
    "non-utf8-suite",
    "template-huge-repeat",
    "template-output-too-long",
    "yaml-alias-bomb",
    "yaml-deep-nesting",
    "jsonl-deep-nesting",
    "threshold-nan",
    "threshold-above-one",
    "concurrency-a-boolean",
    "duplicate-inline-case-id",
    "identical-rows-without-ids",
    "dataset-expected-columns-unknown-one",
    "assert-column-unknown",
    "assert-column-invalid-json",
    "assert-column-unknown-scorer-in-yaml",
    "case-id-repeated-across-sources",
}


def _write(tmp_path: Path, bad: Bad) -> Path:
    for name, content in bad.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
    return tmp_path / "suite.yaml"


def _expected_line(tmp_path: Path, bad: Bad) -> int:
    if isinstance(bad.at, int):
        return bad.at
    text = (tmp_path / bad.file).read_bytes().decode("utf-8", errors="replace")
    hits = [n for n, line in enumerate(text.split("\n"), start=1) if bad.at in line + "\n"]
    assert hits, f"{bad.at!r} is not in {bad.file}"
    assert len(hits) == 1, f"{bad.at!r} is on several lines of {bad.file}: {hits}"
    return hits[0]


def test_enough_distinct_cases() -> None:
    ids = [b.id for b in MALFORMED]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 30


@pytest.mark.parametrize("bad", MALFORMED, ids=[b.id for b in MALFORMED])
def test_malformed_suite(tmp_path: Path, bad: Bad) -> None:
    suite = _write(tmp_path, bad)
    with pytest.raises(HarnessError) as info:
        prepare(suite)
    err = info.value
    assert isinstance(err, SuiteError), f"{type(err).__name__}: {err}"
    assert err.path is not None
    assert Path(err.path).resolve() == (tmp_path / bad.file).resolve(), str(err)
    assert err.line == _expected_line(tmp_path, bad), str(err)
    for word in bad.words:
        assert word in err.message, f"{word!r} not in: {err.message}"
    # The first line of str(err) is what an editor or a terminal jumps to.
    assert str(err).startswith(f"{err.path}:{err.line}: ")


@pytest.mark.parametrize("bad", [b for b in MALFORMED if b.id in CLI_IDS], ids=lambda b: b.id)
def test_cli_validate_reports_file_and_line(
    tmp_path: Path, bad: Bad, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = _write(tmp_path, bad)
    assert main(["validate", str(suite)]) == 2
    captured = capsys.readouterr()
    # rich wraps long lines for a non-terminal (at a space, or inside a long path):
    # compare with all whitespace removed.
    stderr = "".join(captured.err.split())
    assert stderr.startswith("error:")
    line = _expected_line(tmp_path, bad)
    assert f"{(tmp_path / bad.file).resolve()}:{line}:" in stderr or (
        f"{tmp_path / bad.file}:{line}:" in stderr
    ), stderr
    assert "".join(bad.words[0].split()) in stderr
    assert "Traceback" not in captured.err + captured.out
    assert "ok:" not in captured.out
