"""Pairing cases across runs and inside one run, and reading them from the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.compare import (
    CompareError,
    from_results,
    from_store,
    join,
    join_prompts,
    join_providers,
    join_runs,
)
from harness.compare.join import RUN_KEY
from harness.compare.records import load_texts, read_runs
from harness.results.store import ResultStore
from tests.compare.helpers import case, run_record


def test_runs_pair_on_row_prompt_and_provider_even_when_the_prompt_text_changed() -> None:
    a = from_results([case(i) for i in range(5)], "run-a")
    b = from_results([case(i, run_id="run-b", text="reworded") for i in range(5)], "run-b")
    assert {r.case_id for r in a.records}.isdisjoint(r.case_id for r in b.records)
    joined = join_runs(a, b)
    assert len(joined.pairs) == 5
    assert all(p.a.row_id == p.b.row_id for p in joined.pairs)
    assert joined.unmatched_note() is None


def test_unmatched_and_duplicate_cases_are_counted() -> None:
    a = from_results([case(i) for i in range(5)] + [case(0, output="again")], "A")
    b = from_results([case(i) for i in range(2, 8)], "B")
    joined = join_runs(a, b)
    assert [p.a.row_id for p in joined.pairs] == ["2", "3", "4"]
    assert joined.only_a == [("main", "0", "v1", "gpt", 0), ("main", "1", "v1", "gpt", 0)]
    assert len(joined.only_b) == 3
    assert joined.duplicates == 1
    assert joined.pairs[0].a.output == "ok"  # the first of a repeated key wins
    note = joined.unmatched_note() or ""
    assert "2 case(s) only in A" in note and "3 case(s) only in B" in note and "1 duplicate" in note


def test_case_sets_and_providers_keep_cases_apart() -> None:
    a = [case(1), case(1, case_set="hard"), case(1, provider="qwen")]
    joined = join(a, list(a), RUN_KEY)
    assert len(joined.pairs) == 3
    assert {(p.a.case_set, p.a.provider_id) for p in joined.pairs} == {
        ("main", "gpt"), ("hard", "gpt"), ("main", "qwen")
    }  # fmt: skip


def test_runs_with_nothing_in_common() -> None:
    a = from_results([case(1)], "A")
    b = from_results([case(2)], "B")
    with pytest.raises(CompareError, match="no case of B matches a case of A"):
        join_runs(a, b)


def test_prompt_versions_against_a_reference() -> None:
    results = [
        case(i, prompt=p, provider=m)
        for p in ("v1", "v2", "v3")
        for m in ("gpt", "qwen")
        for i in range(4)
        if not (p == "v3" and i == 3)
    ]
    joined = join_prompts(from_results(results, "run"), "v2")
    assert [(j.label_a, j.label_b) for j in joined] == [("v2", "v1"), ("v2", "v3")]
    assert len(joined[0].pairs) == 8
    assert all(p.a.prompt_id == "v2" and p.a.provider_id == p.b.provider_id
               for p in joined[0].pairs)  # fmt: skip
    assert len(joined[1].pairs) == 6 and len(joined[1].only_a) == 2


def test_providers_against_a_reference() -> None:
    results = [case(i, prompt=p, provider=m) for p in ("v1", "v2") for m in ("gpt", "qwen")
               for i in range(3)]  # fmt: skip
    (joined,) = join_providers(from_results(results, "run"), "qwen")
    assert (joined.label_a, joined.label_b, len(joined.pairs)) == ("qwen", "gpt", 6)
    assert all(p.a.prompt_id == p.b.prompt_id for p in joined.pairs)


def test_unknown_or_lonely_reference() -> None:
    records = from_results([case(1, prompt="v1"), case(1, prompt="v2")], "run")
    with pytest.raises(CompareError, match=r"no prompt version 'V2'\. Did you mean 'v2'\?"):
        join_prompts(records, "V2")
    with pytest.raises(CompareError, match="only one provider"):
        join_providers(records, "gpt")


def test_store_records_equal_in_memory_records(tmp_path: Path) -> None:
    results = [case(i, run_id="run-a") for i in range(6)]
    results.append(case(6, run_id="run-a", error="timeout <60 s>"))
    results.append(case(7, run_id="run-a", rouge=None, tags=["中文"]))
    crowded = case(8, run_id="run-a", output="a <b> & 'quote' 中文")
    extra = [crowded.scores[1].model_copy(update={"name": f"extra{i}"}) for i in range(4)]
    crowded.scores += extra
    results.append(crowded)  # more scores than read slot by slot
    store = ResultStore(tmp_path / "results.db")
    store.save_run(run_record("run-a"))
    for r in results:
        store.add_result(r)
    loaded = from_store(store, "run-")
    assert all(r.output is None and r.texts is not None for r in loaded.records)
    load_texts(loaded.records)
    memory = from_results(results, "run-a")
    assert loaded.label == "run-a" and loaded.run is not None
    key = lambda r: r.case_id  # noqa: E731
    assert sorted(loaded.records, key=key) == sorted(memory.records, key=key)
    assert loaded.higher_is_better == {
        "exact": True, "rougeL": True, "toxicity": False,
        "extra0": True, "extra1": True, "extra2": True, "extra3": True,
    }  # fmt: skip


def test_a_run_without_results(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results.db")
    store.save_run(run_record("empty"))
    with pytest.raises(CompareError, match="no case results"):
        from_store(store, "empty")


def test_runs_read_side_by_side_equal_runs_read_one_by_one(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results.db")
    for run_id in ("run-a", "run-b"):
        store.save_run(run_record(run_id))
        for i in range(30):
            store.add_result(case(i, run_id=run_id, output=f"{run_id} {i}"))
    together = read_runs(store, ["run-a", "run-b"])
    alone = [from_store(store, "run-a"), from_store(store, "run-b")]
    for x, y in zip(together, alone, strict=True):
        load_texts(x.records)
        load_texts(y.records)
        assert (x.label, x.records, x.higher_is_better) == (y.label, y.records, y.higher_is_better)
    assert {r.row_id: r.output for r in together[1].records}["3"] == "run-b 3"
