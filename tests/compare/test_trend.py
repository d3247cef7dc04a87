"""`harness trend`: a metric over a suite's runs, each point's interval and each move's paired
test checked against scipy and the compare module's own functions, computed apart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from harness.cli import main
from harness.compare import compare, from_store, join_runs
from harness.compare.stats import bootstrap_ci, cluster_bootstrap_ci, paired_stats
from harness.compare.trend import PASS_RATE, Trend, suite_trend
from harness.errors import CompareError
from harness.providers.base import Message
from harness.report.trend_html import render_trend_html
from harness.results.models import CaseResult, RunRecord, Score
from harness.results.store import ResultStore

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def result(
    run_id: str,
    row: int,
    *,
    passed: bool = True,
    rouge: float = 0.5,
    toxicity: float = 0.1,
    prompt: str = "v1",
    provider: str = "gpt",
    case_set: str = "main",
    tags: tuple[str, ...] = (),
    repeat: int = 0,
    error: str | None = None,
) -> CaseResult:
    """A case with a 0/1 ``exact`` verdict, a continuous ``rougeL`` and a lower-is-better
    ``toxicity`` (no score at all when the call errored)."""
    scores = [
        Score(name="exact", scorer="exact", version="1", value=float(passed), threshold=1.0,
              passed=passed),
        Score(name="rougeL", scorer="rougeL", version="1", value=rouge, threshold=None,
              passed=True),
        Score(name="toxicity", scorer="toxicity", version="1", value=toxicity, threshold=None,
              passed=True, higher_is_better=False),
    ]  # fmt: skip
    key = f"{case_set}-{prompt}-{provider}-{row}-{repeat}"
    return CaseResult(
        run_id=run_id,
        case_id=f"id-{key}",
        request_key=f"req-{key}",
        prompt_id=prompt,
        provider_id=provider,
        model=f"{provider}-model",
        case_set=case_set,
        row_id=f"r{row}",
        tags=list(tags),
        messages=[Message(role="user", content=f"question {row}")],
        scores=[] if error else scores,
        passed=passed and error is None,
        error=error,
        repeat=repeat,
        finished_at=T0,
    )


def save(
    store: ResultStore,
    run_id: str,
    results: list[CaseResult],
    *,
    day: int,
    suite: str = "qa",
    providers: tuple[str, ...] = ("gpt",),
    prompts: tuple[str, ...] = ("v1",),
) -> RunRecord:
    run = RunRecord(
        run_id=run_id,
        suite_name=suite,
        suite_path="suite.yaml",
        suite_hash="h",
        created_at=T0 + timedelta(days=day),
        status="complete",
        harness_version="0",
        providers=[{"id": p, "type": "outputs"} for p in providers],
        prompts=list(prompts),
        n_cases=len(results),
    )
    store.save_run(run)
    store.add_results(results)
    return run


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ResultStore]:
    s = ResultStore(tmp_path / "results.db")
    yield s
    s.close()


def steady_then_drop(store: ResultStore) -> list[RunRecord]:
    """Three runs of 40 cases: all pass; one case flips each way (noise); 20 cases fail."""
    first = [result("r1", i) for i in range(40)]
    noise = [result("r2", i, passed=i != 0, rouge=0.5 + (0.01 if i % 2 else -0.01))
             for i in range(40)]  # fmt: skip
    drop = [result("r3", i, passed=i >= 20, rouge=0.3, toxicity=0.4) for i in range(40)]
    return [
        save(store, "r1", first, day=0),
        save(store, "r2", noise, day=1),
        save(store, "r3", drop, day=2),
    ]


def test_pass_rate_points_and_their_intervals(store: ResultStore) -> None:
    runs = steady_then_drop(store)
    trend = suite_trend(store, runs, PASS_RATE)
    (series,) = trend.series
    assert series.label == "v1 · gpt"
    assert [p.run.run_id for p in series.points] == ["r1", "r2", "r3"]
    assert [p.mean for p in series.points] == [1.0, 39 / 40, 0.5]
    assert [p.n for p in series.points] == [40, 40, 40]
    third = series.points[2]
    values = np.array([float(i >= 20) for i in range(40)])
    low, high = bootstrap_ci(values, rng=np.random.default_rng(0))
    assert (third.ci_low, third.ci_high) == pytest.approx((low, high))
    assert third.ci_low < 0.5 < third.ci_high


def test_a_planted_drop_is_marked_and_noise_is_not(store: ResultStore) -> None:
    runs = steady_then_drop(store)
    points = suite_trend(store, runs, PASS_RATE).series[0].points
    assert points[0].change is None
    noise, drop = points[1].change, points[2].change
    assert noise is not None and drop is not None
    assert not noise.worse and not noise.better
    assert noise.stats.p_value == pytest.approx(1.0)  # one discordant pair
    assert drop.worse and not drop.better
    assert drop.stats.test == "mcnemar"
    # r2 -> r3: rows 1..19 passed and now fail; row 0 failed in both
    assert (drop.stats.n_down, drop.stats.n_up) == (19, 0)
    assert drop.stats.p_value == pytest.approx(sps.binomtest(19, 19, 0.5).pvalue)
    assert drop.shared_note() is None


def test_the_move_is_the_number_harness_compare_gives(store: ResultStore) -> None:
    runs = steady_then_drop(store)
    change = suite_trend(store, runs, "rougeL").series[0].points[2].change
    assert change is not None
    a, b = from_store(store, "r2"), from_store(store, "r3")
    expected = compare(join_runs(a, b), a.higher_is_better, metrics=["rougeL"]).stats("rougeL")
    assert expected is not None
    assert change.stats == expected
    assert change.stats.test == "wilcoxon" and change.worse
    d = np.array([0.3 - (0.5 + (0.01 if i % 2 else -0.01)) for i in range(40)])
    assert change.stats.p_value == pytest.approx(sps.wilcoxon(d).pvalue)


def test_a_small_continuous_wobble_is_not_a_drop(store: ResultStore) -> None:
    rng = np.random.default_rng(7)
    base = rng.uniform(0.3, 0.7, 30)
    wobble = base + rng.normal(0, 0.01, 30)
    runs = [
        save(store, "a", [result("a", i, rouge=v) for i, v in enumerate(base)], day=0),
        save(store, "b", [result("b", i, rouge=v) for i, v in enumerate(wobble)], day=1),
    ]
    change = suite_trend(store, runs, "rougeL").series[0].points[1].change
    assert change is not None
    assert change.stats.p_value == pytest.approx(sps.wilcoxon(wobble - base).pvalue)
    assert change.stats.p_value > 0.05 and not change.worse


def test_lower_is_better_metrics_get_worse_upwards(store: ResultStore) -> None:
    runs = steady_then_drop(store)
    trend = suite_trend(store, runs, "toxicity")
    assert not trend.higher_is_better
    change = trend.series[0].points[2].change
    assert change is not None and change.stats.diff == pytest.approx(0.3)
    assert change.worse and not change.better  # toxicity went up
    assert [p for _, p in trend.worse_points()] == [trend.series[0].points[2]]


def test_runs_with_different_cases_compare_the_shared_ones(store: ResultStore) -> None:
    runs = [
        save(store, "a", [result("a", i) for i in range(40)], day=0),
        save(store, "b", [result("b", i, passed=i >= 25) for i in range(10, 50)], day=1),
    ]
    change = suite_trend(store, runs, PASS_RATE).series[0].points[1].change
    assert change is not None
    assert (change.stats.n, change.only_before, change.only_after) == (30, 10, 10)
    assert (change.stats.n_down, change.stats.n_up) == (15, 0)
    assert change.shared_note() == (
        "compared on 30 shared case(s) with run a (10 only in that run, 10 only in this one)"
    )


def test_only_the_suites_own_clean_cases_count_as_in_the_summary(store: ResultStore) -> None:
    results = [result("a", i) for i in range(10)]
    results += [result("a", i, passed=False, case_set="hard") for i in range(5)]
    results += [result("a", 100 + i, passed=False, tags=("perturbed:typo",)) for i in range(5)]
    results += [result("a", 200, error="timeout")]  # a failed call: a fail, no rougeL value
    run = save(store, "a", results, day=0)
    (point,) = suite_trend(store, [run], PASS_RATE).series[0].points
    assert (point.n, point.mean) == (11, 10 / 11)
    (scored,) = suite_trend(store, [run], "rougeL").series[0].points
    assert (scored.n, scored.mean) == (10, 0.5)


def test_repeated_cases_resample_whole_cases(store: ResultStore) -> None:
    def samples(run_id: str, fail_from: int) -> list[CaseResult]:
        return [
            result(run_id, i, passed=i < fail_from or k == 0, repeat=k)
            for i in range(12)
            for k in range(3)
        ]

    runs = [save(store, "a", samples("a", 12), day=0), save(store, "b", samples("b", 4), day=1)]
    point = suite_trend(store, runs, PASS_RATE).series[0].points[1]
    assert (point.n, point.n_clusters) == (36, 12)
    passed = np.array([[1.0 if i < 4 or k == 0 else 0.0 for k in range(3)] for i in range(12)])
    low, high = cluster_bootstrap_ci(
        passed.sum(axis=1), np.full(12, 3), 10_000, 0.95, np.random.default_rng(0)
    )
    assert (point.ci_low, point.ci_high) == pytest.approx((low, high))
    assert point.change is not None
    expected = paired_stats(
        np.ones(36), passed.ravel(), binary=True, clusters=np.repeat(np.arange(12), 3)
    )
    assert point.change.stats == expected
    assert point.change.stats.n_clusters == 12


def test_one_series_per_prompt_and_provider_and_the_filters(store: ResultStore) -> None:
    def cells(run_id: str) -> list[CaseResult]:
        return [
            result(run_id, i, prompt=p, provider=m)
            for p in ("v1", "v2")
            for m in ("gpt", "qwen")
            for i in range(5)
        ]

    kw = {"providers": ("gpt", "qwen"), "prompts": ("v1", "v2")}
    runs = [save(store, r, cells(r), day=d, **kw) for d, r in enumerate(("a", "b"))]  # type: ignore[arg-type]
    trend = suite_trend(store, runs, PASS_RATE)
    assert [s.label for s in trend.series] == [
        "v1 · gpt", "v1 · qwen", "v2 · gpt", "v2 · qwen"
    ]  # fmt: skip
    only = suite_trend(store, runs, PASS_RATE, prompt="v2", provider="qwen")
    assert [s.label for s in only.series] == ["v2 · qwen"]
    with pytest.raises(CompareError, match=r"no provider 'qwn'.*Did you mean 'qwen'\?.*gpt, qwen"):
        suite_trend(store, runs, PASS_RATE, provider="qwn")
    with pytest.raises(CompareError, match=r"no prompt 'v3'.*Prompts: v1, v2"):
        suite_trend(store, runs, PASS_RATE, prompt="v3")


def test_an_unknown_metric_lists_the_names(store: ResultStore) -> None:
    runs = steady_then_drop(store)
    with pytest.raises(CompareError) as e:
        suite_trend(store, runs, "rougel")
    assert "unknown metric 'rougel'. Did you mean 'rougeL'?" in str(e.value)
    assert "pass_rate, exact, rougeL, toxicity" in str(e.value)


def test_a_trend_reads_digests_never_full_results(
    store: ResultStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = steady_then_drop(store)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a trend must not build full results")

    monkeypatch.setattr(ResultStore, "iter_results", refuse)
    assert suite_trend(store, runs, "exact").series[0].points[2].change is not None


def test_the_page_escapes_hostile_names_and_draws_the_chart(store: ResultStore) -> None:
    hostile = "<script>alert(1)</script>"
    evil = '<img src=x onerror="alert(2)">'
    results = [[result(r, i, passed=passed(i), provider=evil) for i in range(30)]
               for r, passed in (("a", lambda i: True), ("b", lambda i: i >= 15))]  # fmt: skip
    runs = [
        save(store, r, rs, day=d, suite=hostile, providers=(evil,))
        for d, (r, rs) in enumerate(zip("ab", results, strict=True))
    ]
    trend = suite_trend(store, runs, PASS_RATE)
    html = render_trend_html(trend)
    assert hostile not in html and evil not in html and "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<svg") == 1 and "<polyline" in html
    assert 'class="ch-bad fill"' in html  # the drop's point
    assert "script-src 'none'" in html
    assert "http://" not in html and "https://" not in html  # nothing to fetch: works offline


def trend_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Trend:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    store = ResultStore(tmp_path / "home" / "results.db")
    runs = steady_then_drop(store)
    save(store, "other", [result("other", 0)], day=3, suite="chat")
    trend = suite_trend(store, runs, PASS_RATE)
    store.close()
    return trend


def test_the_command_prints_the_table_and_writes_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    trend_cli(tmp_path, monkeypatch)
    assert main(["trend", "qa", "--metric", "exact", "--last", "2", "-o", "t.html"]) == 0
    out = capsys.readouterr().out
    assert "qa: exact over 2 runs" in out and "r1 " not in out
    assert "r2" in out and "r3" in out and "▼ drop" in out and "1 significant drop(s)" in out
    assert "-0.475" in out  # 0.5 - 0.975
    page = (tmp_path / "t.html").read_text(encoding="utf-8")
    assert "<svg" in page and "significantly worse" in page
    assert main(["trend", "qa"]) == 0  # pass_rate by default, page under reports/
    assert (tmp_path / "reports" / "trend-qa-pass_rate.html").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["trend", "qaa"],
            "no run has the suite 'qaa'. Did you mean 'qa'? Suites stored: chat, qa",
        ),
        (["trend", "qa", "--metric", "f1"], "unknown metric 'f1'"),
        (["trend", "qa", "--provider", "claude"], "no run has the provider 'claude'"),
    ],
)
def test_command_errors_say_what_exists(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    trend_cli(tmp_path, monkeypatch)
    assert main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert message in err and "Traceback" not in err
