"""The ``harness view`` web app: Starlette routes over the results store.

Pages are rendered on the server by Jinja2 with autoescaping and carry no script at all
(``script-src 'none'``): a model's output, however hostile, arrives as text. Every request
takes its own connection from the store's pool (requests run on a thread pool), so a run
being written meanwhile is read as it stands; the store is a SQLite file or PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, PackageLoader
from sqlalchemy.engine import Connection
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from harness.report.page import MISSING, num, pct, usd
from harness.results.store import ResultStore
from harness.view import criteria, queries, search
from harness.view.reviews import VERDICTS, Review, clear_review, reviews_of, save_review

#: What a review form may post as ``verdict``: a mark, ``save`` (keep the mark, save the
#: grades and the answer) or ``clear`` (drop the review).
POSTED = (*VERDICTS, "save", "clear")

#: The pages' policy: their own stylesheet, forms posting back here, nothing else.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'none'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
#: The comparison report brings its own policy (a hashed inline script) in a meta element.
REPORT_CSP = "frame-ancestors 'none'"
TOKEN_COOKIE = "harness_view_token"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
RUNS_PER_PAGE = 25
ROWS_PER_PAGE = 50
MAX_PER_PAGE = 500
#: Characters of an output a grid cell shows (the case page shows all of it).
CELL_CHARS = 400


def create_app(
    store: str | os.PathLike[str],
    *,
    reviewer: str,
    token: str | None = None,
    allowed_hosts: Sequence[str] = LOOPBACK_HOSTS,
) -> Starlette:
    """The app over the results store ``store`` (a SQLite file's path or a database URL, as
    :class:`ResultStore` takes); ``token``: required on every request (off
    loopback); ``allowed_hosts``: the Host headers served (on loopback, so that no other site
    can reach it through DNS rebinding)."""
    opened = ResultStore(store)
    with opened.engine.connect() as db:
        queries.prepare(db)
    app = Starlette(
        routes=[
            Route("/", runs_page),
            Route("/runs/{run_id}", grid_page),
            Route("/runs/{run_id}/cases/{case_id}", case_page),
            Route("/runs/{run_id}/cases/{case_id}/review", review_post, methods=["POST"]),
            Route("/runs/{run_id}/history", history_page),
            Route("/runs/{run_id}/agreement", agreement_page),
            Route("/suites/{suite}", trend_page),
            Route("/compare", compare_page),
            Mount("/static", StaticFiles(packages=[("harness.view", "static")]), name="static"),
        ],
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)),
            Middleware(BaseHTTPMiddleware, dispatch=_guard(token)),
        ],
        exception_handlers={HTTPException: _error_page},
    )
    app.state.store = opened
    app.state.reviewer = reviewer
    return app


_Next = Callable[[Request], Awaitable[Response]]


def _guard(token: str | None) -> Callable[[Request, _Next], Awaitable[Response]]:
    """The token check (when there is a token) and the security headers of every response."""

    async def dispatch(request: Request, call_next: _Next) -> Response:
        if token is not None:
            given = request.query_params.get("token")
            if given is not None and secrets.compare_digest(given, token):
                # first visit from the printed link: keep the token in a cookie, out of the URL
                query = urlencode([(k, v) for k, v in request.query_params.multi_items()
                                   if k != "token"])  # fmt: skip
                back = RedirectResponse(request.url.path + (f"?{query}" if query else ""), 303)
                back.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
                return back
            sent = request.headers.get("x-harness-token") or request.cookies.get(TOKEN_COOKIE)
            if sent is None or not secrets.compare_digest(sent, token):
                return PlainTextResponse(
                    "401: this server needs its token: open the link `harness view` printed",
                    401,
                )
        response = await call_next(request)
        report = request.url.path == "/compare" and response.status_code == 200
        response.headers["Content-Security-Policy"] = REPORT_CSP if report else CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"  # "no-referrer" makes Origin null
        return response

    return dispatch


_env = Environment(
    loader=PackageLoader("harness.view", "templates"), autoescape=True, trim_blocks=True,
    lstrip_blocks=True,
)  # fmt: skip
_env.filters.update(
    pct=lambda x: pct(x) or MISSING,
    usd=lambda x: usd(x) or MISSING,
    num=lambda x: num(x) or MISSING,
    when=lambda d: MISSING if d is None else f"{d:%Y-%m-%d %H:%M}",
    clip=lambda s, n=CELL_CHARS: s if s is None or len(s) <= n else s[:n] + " …",
)


def _render(request: Request, template: str, code: int = 200, **context: Any) -> HTMLResponse:
    def link(path: str, **params: Any) -> str:
        """``path`` with the current query string changed by ``params`` (None drops one)."""
        query = dict(request.query_params) | {k: str(v) for k, v in params.items()}
        query = {k: v for k, v in query.items() if v not in ("None", "") and k != "token"}
        return path + (f"?{urlencode(query)}" if query else "")

    html = _env.get_template(template).render(request=request, link=link, **context)
    return HTMLResponse(html, code)


async def _error_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _render(request, "error.html.j2", exc.status_code, message=exc.detail)


@contextmanager
def _db(request: Request) -> Iterator[Connection]:
    """A connection for one request (what it did not commit is rolled back)."""
    with request.app.state.store.engine.connect() as db:
        yield db


def _int(request: Request, name: str, default: int, high: int | None = None) -> int:
    """A whole-number query parameter from 1 (to ``high``), or a 400 that says what was wrong."""
    raw = request.query_params.get(name) or str(default)
    if not raw.isdigit() or int(raw) < 1 or (high is not None and int(raw) > high):
        upto = f" to {high}" if high else ""
        raise HTTPException(400, f"`{name}`: expected a whole number from 1{upto}, got {raw!r}")
    return int(raw)


def _date(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise HTTPException(400, f"`{name}`: expected a date YYYY-MM-DD, got {raw!r}") from None


def _choice(request: Request, name: str, choices: Sequence[str]) -> str:
    raw = request.query_params.get(name) or choices[0]
    if raw not in choices:
        raise HTTPException(400, f"`{name}`: expected one of {', '.join(choices)}; got {raw!r}")
    return raw


def _run(db: Connection, run_id: str) -> queries.RunRecord:
    run = queries.get_run(db, run_id)
    if run is None:
        raise HTTPException(404, f"no run {run_id!r} in this store")
    return run


def _pages(total: int, per: int) -> int:
    return max(1, -(-total // per))


def runs_page(request: Request) -> Response:
    where = queries.RunFilter(
        suite=request.query_params.get("suite") or None,
        provider=request.query_params.get("provider") or None,
        since=_date(request, "since"),
        until=_date(request, "until"),
    )
    page = _int(request, "page", 1)
    with _db(request) as db:
        rows, total = queries.list_runs(db, where, RUNS_PER_PAGE, (page - 1) * RUNS_PER_PAGE)
        suites, providers = queries.filter_choices(db)
    return _render(
        request, "runs.html.j2", rows=rows, total=total, page=page,
        pages=_pages(total, RUNS_PER_PAGE), where=where, suites=suites, providers=providers,
    )  # fmt: skip


def grid_page(request: Request) -> Response:
    run_id = request.path_params["run_id"]
    page = _int(request, "page", 1)
    per = _int(request, "per", ROWS_PER_PAGE, MAX_PER_PAGE)
    status = _choice(request, "status", list(queries.STATUSES))
    q = request.query_params.get("q", "")
    field = request.query_params.get("in") or "all"
    try:
        query = search.parse(q, field)
    except search.SearchError as e:
        raise HTTPException(400, str(e)) from None
    with _db(request) as db:
        run = _run(db, run_id)
        sets = queries.case_sets(db, run.run_id) or ["main"]
        case_set = _choice(request, "set", sets)
        if query is not None:  # the run's search index is built on its first search
            search.ensure_index(db, run.run_id)
        grid = queries.grid(
            db, run, case_set=case_set, status=status, limit=per, offset=(page - 1) * per,
            query=query,
        )  # fmt: skip
        stats = queries.run_stats(db, run.run_id)
        runs = queries.suite_runs(db, run.suite_name)
    return _render(
        request, "grid.html.j2", run=run, grid=grid, stats=stats, page=page,
        pages=_pages(grid.total, per), status=status, statuses=list(queries.STATUSES),
        case_set=case_set, sets=sets, others=[r for r in runs if r.run_id != run.run_id],
        q=q, field=field, fields=search.FIELDS,
    )  # fmt: skip


def case_page(request: Request) -> Response:
    run_id, case_id = request.path_params["run_id"], request.path_params["case_id"]
    with _db(request) as db:
        run = _run(db, run_id)
        result = queries.case_result(db, run.run_id, case_id)
        if result is None:
            raise HTTPException(404, f"no case {case_id!r} in run {run.run_id}")
        review = reviews_of(db, run.run_id, [case_id]).get(case_id)
        graded = criteria.run_criteria(db, run.run_id)
    return _render(
        request, "case.html.j2", run=run, r=result, review=review,
        reviewer=request.app.state.reviewer, criteria=graded,
    )  # fmt: skip


async def review_post(request: Request) -> Response:
    """Store (or clear) a person's review of one case (a good/bad mark, a grade on each
    rubric criterion, the correct answer), then show the case again."""
    _same_origin(request)
    run_id, case_id = request.path_params["run_id"], request.path_params["case_id"]
    form = await request.form()
    verdict = str(form.get("verdict", ""))
    answer = str(form.get("correct_answer", "")).strip() or None
    if verdict not in POSTED:
        raise HTTPException(400, f"`verdict`: expected {', '.join(POSTED)}; got {verdict!r}")
    with _db(request) as db:
        run = _run(db, run_id)
        if queries.case_result(db, run.run_id, case_id) is None:
            raise HTTPException(404, f"no case {case_id!r} in run {run.run_id}")
        if verdict == "clear":
            clear_review(db, run.run_id, case_id)
        else:
            known = criteria.run_criteria(db, run.run_id)
            grades = _grades(form.multi_items(), known)
            if verdict == "save":
                earlier = reviews_of(db, run.run_id, [case_id]).get(case_id)
                verdict = earlier.verdict if earlier and earlier.verdict else ""
            if not (verdict or grades or answer):
                raise HTTPException(
                    400, "nothing to save: mark the case good or bad, grade a criterion or "
                    "write the correct answer",
                )  # fmt: skip
            who, when = request.app.state.reviewer, datetime.now(UTC)
            mark = verdict or None
            save_review(db, Review(run.run_id, case_id, mark, who, when, answer, grades))  # type: ignore[arg-type]
    return RedirectResponse(request.url.path.removesuffix("/review"), 303)


def _grades(items: Sequence[tuple[str, Any]], known: list[criteria.Criterion]) -> dict[str, int]:
    """The posted ``grade.NAME`` fields (an empty one: not graded), each checked against its
    criterion's scale; a 400 for a criterion the run has not or a grade off its scale."""
    by_name = {c.name: c for c in known}
    grades = {}
    for field, raw in items:
        name = field.removeprefix("grade.")
        if name == field or not str(raw):
            continue
        if name not in by_name:
            have = ", ".join(by_name) or "none"
            raise HTTPException(400, f"`{field}`: this run grades no criterion {name!r} ({have})")
        try:
            grades[name] = by_name[name].grade(str(raw))
        except ValueError as e:
            raise HTTPException(400, str(e)) from None
    return grades


def _same_origin(request: Request) -> None:
    """Refuse a form posted from another site (the browser names it in ``Origin``): a page
    elsewhere must not be able to mark cases on a server running on this machine."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, f"a review must be posted from this server, not {origin}")


def history_page(request: Request) -> Response:
    row_id = request.query_params.get("row")
    if not row_id:
        raise HTTPException(400, "`row`: expected the row id whose history to show")
    case_set = request.query_params.get("set") or "main"
    with _db(request) as db:
        run = _run(db, request.path_params["run_id"])
        entries = queries.row_history(db, run.suite_name, case_set, row_id)
    return _render(
        request, "history.html.j2", run=run, row_id=row_id, case_set=case_set, entries=entries
    )


def trend_page(request: Request) -> Response:
    suite = request.path_params["suite"]
    with _db(request) as db:
        runs = queries.suite_runs(db, suite)
        if not runs:
            raise HTTPException(404, f"no run of suite {suite!r} in this store")
        points = [(r, queries.run_stats(db, r.run_id)) for r in runs]
    return _render(request, "trend.html.j2", suite=suite, points=points, chart=_chart(points))


def _chart(points: list[tuple[queries.RunRecord, queries.RunStats]]) -> list[dict[str, Any]]:
    """The trend's pass rates as SVG coordinates (a 600 x 160 box, pass rate 1 at the top)."""
    step = 600 / max(1, len(points) - 1)
    return [
        {"x": round(i * step, 1), "y": round(160 * (1 - s.pass_rate), 1), "run": r, "stats": s}
        for i, (r, s) in enumerate(points)
        if s.pass_rate is not None
    ]


def agreement_page(request: Request) -> Response:
    """How the run's judge agrees with the people who reviewed it (``harness agreement``)."""
    from harness.errors import HarnessError
    from harness.view.agreement import review_agreement

    weights = _choice(request, "weights", ["none", "linear", "quadratic"])
    with _db(request) as db:
        run = _run(db, request.path_params["run_id"])
        try:
            found = review_agreement(
                db,
                run.run_id,
                weights=None if weights == "none" else weights,  # type: ignore[arg-type]
            )
            missing = None
        except HarnessError as e:
            found, missing = [], str(e)
    return _render(
        request, "agreement.html.j2", run=run, found=found, missing=missing, weights=weights
    )


def compare_page(request: Request) -> Response:
    """Two runs through ``harness compare``'s statistics, as its HTML report."""
    from harness.compare import compare, join_runs, read_runs
    from harness.errors import HarnessError
    from harness.report.compare_html import render_compare_html

    a_id, b_id = request.query_params.get("a"), request.query_params.get("b")
    if not a_id or not b_id:
        raise HTTPException(400, "`a` and `b`: expected the two run ids to compare")
    try:
        a, b = read_runs(request.app.state.store, [a_id, b_id])
        c = compare(join_runs(a, b), a.higher_is_better | b.higher_is_better)
        runs = [r.run for r in (a, b) if r.run is not None]
        html = render_compare_html([c], title=f"{b.label} vs {a.label}", runs=runs)
    except HarnessError as e:
        raise HTTPException(400, str(e)) from None
    return HTMLResponse(html)
