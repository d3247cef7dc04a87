"""RAG scorers judge an application on what it retrieved: a provider's returned ``contexts``
come before the dataset's column, and a case with neither is that case's scoring error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.api import prepare, run_suite
from harness.errors import SuiteError
from tests.fakeserver import FakeOpenAIServer
from tests.scorers.scripted_judge import any_judge

#: The app "retrieves" the row's ``app_passage`` and answers with the row's ``answer``; a row
#: without a passage gets the bare answer text back (an app that returned no contexts).
APP = """
import harness

def answer(messages, vars):
    if "app_passage" not in vars:
        return vars["answer"]
    return harness.ProviderResponse(output=vars["answer"], contexts=[vars["app_passage"]])
"""
DELHI = "The Oberoi Group head office is in Delhi."
ROWS = [
    {  # the app's passage supports the answer; the dataset's (ignored) does not
        "id": "app",
        "question": "Where is the Oberoi Group's head office?",
        "answer": DELHI,
        "ground_truth": "Delhi",
        "app_passage": "The Oberoi Group is a hotel company with its head office in Delhi.",
        "contexts": ["Arthur's Magazine was an American literary periodical."],
    },
    {  # no contexts from the app: the dataset's column is the fallback
        "id": "column",
        "question": "Where is the Oberoi Group's head office?",
        "answer": DELHI,
        "ground_truth": "Delhi",
        "contexts": ["Arthur's Magazine was an American literary periodical."],
    },
    {  # neither
        "id": "neither",
        "question": "Where is the Oberoi Group's head office?",
        "answer": DELHI,
        "ground_truth": "Delhi",
    },
]
SUITE = """name: rag-app
prompts: [{{id: p, template: "{{{{ question }}}}"}}]
providers:
{providers}
judges:
  - {{id: judge, type: openai, model: fake-judge, base_url: "{url}", api_key_env: null}}
cases:
  file: rows.jsonl
  id: id
  expected: ground_truth
  assert:
    - type: faithfulness
    - type: context_precision
    - type: context_recall
"""
APP_PROVIDER = "  - {id: app, type: python, function: app:answer}"


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RAGAS_DO_NOT_TRACK", "true")
    monkeypatch.chdir(tmp_path)


def write_suite(
    tmp_path: Path,
    rows: list[dict],
    providers: str = APP_PROVIDER,
    url: str = "http://127.0.0.1:9/v1",
) -> Path:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.format(providers=providers, url=url))
    return suite


def test_the_app_is_judged_on_what_it_retrieved_then_on_the_column(tmp_path: Path) -> None:
    with FakeOpenAIServer(responder=any_judge) as url:
        outcome = run_suite(write_suite(tmp_path, ROWS, url=url))
    results = {r.row_id: {s.scorer: s for s in r.scores} for r in outcome.results}
    assert results["app"]["faithfulness"].value == 1.0  # the dataset's passage would give 0
    assert results["app"]["context_recall"].value == 1.0
    assert results["column"]["faithfulness"].value == 0.0
    assert results["column"]["context_recall"].value == 0.0
    for metric in ("faithfulness", "context_precision", "context_recall"):
        assert results["app"][metric].metadata["contexts_source"] == "provider"
        assert results["column"][metric].metadata["contexts_source"] == "vars.contexts"
        neither = results["neither"][metric]
        assert neither.value is None and neither.passed is False
        assert f"{metric}: no contexts to judge against: the provider returned none" in (
            neither.error or ""
        )
    (app,) = [r for r in outcome.results if r.row_id == "app"]
    assert app.contexts == [ROWS[0]["app_passage"]]  # stored with the result


def test_an_empty_contexts_list_is_an_error_not_the_dataset_passages(tmp_path: Path) -> None:
    (tmp_path / "empty.py").write_text(
        "def answer(messages, vars):\n    return {'output': vars['answer'], 'contexts': []}\n"
    )
    providers = "  - {id: app, type: python, function: empty:answer}"
    with FakeOpenAIServer(responder=any_judge) as url:
        outcome = run_suite(write_suite(tmp_path, ROWS[1:2], providers, url))
    (result,) = outcome.results
    for score in result.scores:
        assert score.value is None
        assert "the contexts list the provider returned is empty" in (score.error or "")


@pytest.mark.parametrize(
    "providers",
    [
        # a model beside the app: its cases would have nothing to judge against
        APP_PROVIDER + "\n  - {id: given, type: outputs, column: answer}",
        # an http app whose response paths pick no contexts
        "  - {id: api, type: http, url: 'http://127.0.0.1:9/ask', response: {output: answer}}",
    ],
)
def test_the_column_stays_required_when_a_provider_cannot_return_contexts(
    tmp_path: Path, providers: str
) -> None:
    with pytest.raises(SuiteError) as caught:
        prepare(write_suite(tmp_path, ROWS, providers))
    assert caught.value.path.endswith("rows.jsonl") and caught.value.line == 3
    assert "scorer 'faithfulness' reads the case variable(s) 'contexts'" in caught.value.message


@pytest.mark.parametrize(
    "providers",
    [
        APP_PROVIDER,
        "  - {id: api, type: http, url: 'http://127.0.0.1:9/ask',"
        " response: {output: answer, contexts: 'docs[].text'}}",
        "  - {id: cli, type: exec, command: [cat], response: {output: a, contexts: docs}}",
    ],
)
def test_apps_that_return_contexts_need_no_column(tmp_path: Path, providers: str) -> None:
    prepared = prepare(write_suite(tmp_path, ROWS, providers))
    assert len(prepared.plan.cases) == 3
