"""``harness view [--port 8765] [--host 127.0.0.1] [--db URL] [--reviewer NAME]``, and
``harness agreement RUN_ID [--db URL]``: the judge against the reviews written there. The
store is a SQLite file or a PostgreSQL database (``--db``, added by :mod:`harness.cli` as for
every command, or ``$HARNESS_DB_URL``).

Bound to loopback by default. Any other address needs a token: a random one is printed once,
in the link to open; the first visit trades it for a cookie, and every request must carry it.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import ipaddress
import os
import secrets
import socket
from pathlib import Path

from harness.errors import HarnessError


def add_view_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    view = sub.add_parser(
        "view",
        help="browse the stored runs in a local web app (grid, reviews, trends)",
        description="Serve a local web app over the results store: the runs, each run as a "
        "case x (prompt version, provider) grid, every case in full, human good/bad reviews "
        "(stored in the results store), a suite's trend and a case's history across runs.",
    )
    view.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
    view.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; any other needs the printed token)",
    )
    view.add_argument("--reviewer", metavar="NAME", help="who the reviews are by (default $USER)")
    view.set_defaults(func=_cmd_view)
    return view


def add_agreement_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    agree = sub.add_parser(
        "agreement",
        help="how a run's judge agrees with the people who reviewed it in `harness view`",
        description="judge_agreement with the reviews as the human side: each reviewer's "
        "good/bad against the assertion's pass/fail, and each grade on a rubric criterion "
        "against the judge's grade (accuracy, Cohen's kappa, Spearman's rho, confusion "
        "matrix). Exit code 1 when kappa is below --min-kappa.",
    )
    agree.add_argument("run_id", metavar="RUN_ID", help="the run (a unique prefix is enough)")
    agree.add_argument(
        "--scorer",
        action="append",
        default=[],
        metavar="NAME",
        help="an assertion to compare (repeatable; default: every rubric criterion of the run)",
    )
    agree.add_argument(
        "--weights",
        choices=["linear", "quadratic"],
        help="Cohen's kappa weighting for the grades (ordinal)",
    )
    agree.add_argument(
        "--min-kappa", type=float, metavar="K", help="exit 1 when a kappa is below K (or undefined)"
    )
    agree.set_defaults(func=_cmd_agreement)
    return agree


def _store_target() -> str | Path:
    """The store ``--db`` or ``$HARNESS_DB_URL`` names, else ``$HARNESS_HOME``'s, which must
    exist already when it is a SQLite file (the view has nothing to show in a new one)."""
    from harness.locations import store_target
    from harness.results.db import database_url

    target = store_target()
    url = database_url(target)
    path = Path(url.database or "") if url.get_backend_name() == "sqlite" else None
    if path is not None and not path.is_file():
        raise HarnessError(
            f"no results store at {path}: run a suite first (`harness run SUITE`) or pass "
            "--db PATH_OR_URL"
        )
    return target


def _cmd_agreement(args: argparse.Namespace) -> int:
    from rich.table import Table

    from harness.console import EXIT_GATE, EXIT_OK, escape, out
    from harness.results.store import ResultStore
    from harness.view import queries
    from harness.view.agreement import review_agreement

    if args.min_kappa is not None and not -1 <= args.min_kappa <= 1:
        raise HarnessError(f"--min-kappa: expected -1 to 1, got {args.min_kappa}")
    store = ResultStore(_store_target())
    try:
        run_id = store.get_run(args.run_id).run_id
        with store.engine.connect() as db:
            queries.prepare(db)
            found = review_agreement(
                db, run_id, scorers=args.scorer, weights=args.weights, min_kappa=args.min_kappa
            )
    finally:
        store.close()
    for a in found:
        out.print(f"[bold]{escape(a.title)}[/]: {escape(a.summary or '')}")
        (matrix,) = a.charts
        table = Table(f"{matrix.row_title} \\ {matrix.col_title}", *map(escape, matrix.col_labels))
        for label, row in zip(matrix.row_labels, matrix.values, strict=True):
            table.add_row(escape(label), *(f"{v:g}" for v in row))
        out.print(table)
        for flag in a.flags:
            out.print(f"[bold red]flag:[/] {escape(flag)}")
    return EXIT_GATE if any(a.flags for a in found) else EXIT_OK


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _cmd_view(args: argparse.Namespace) -> int:
    import uvicorn

    from harness.view.app import LOOPBACK_HOSTS, create_app

    target = _store_target()
    if not 0 < args.port < 65536:
        raise HarnessError(f"--port: expected 1 to 65535, got {args.port}")
    local = is_loopback(args.host)
    token = None if local else secrets.token_urlsafe(24)
    reviewer = args.reviewer or os.environ.get("USER") or getpass.getuser()
    app = create_app(
        target, reviewer=reviewer, token=token, allowed_hosts=LOOPBACK_HOSTS if local else ["*"]
    )
    sock = _listen(args.host, args.port)
    shown = "127.0.0.1" if args.host == "localhost" else args.host
    url = f"http://{f'[{shown}]' if ':' in shown else shown}:{sock.getsockname()[1]}/"
    print(f"harness view: {url}{f'?token={token}' if token else ''}  (Ctrl-C stops it)", flush=True)
    if token:
        print("The token is shown once; anyone with the link can read and review.", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    # uvicorn stops cleanly on Ctrl-C / SIGTERM, then passes the signal on: nothing to add
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    print("harness view: stopped", flush=True)
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, opened here so that a busy port is a one-line error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as e:
        raise HarnessError(
            f"cannot listen on {host}:{port}: {e.strerror or e}; choose another --port or --host"
        ) from None
