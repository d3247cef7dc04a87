"""``harness view``: a local web app over the results store: the runs, a run as a prompt x case
grid, one case in full, human reviews, a suite's trend and a row's history across runs.

The names are imported on first use: the CLI imports :mod:`harness.view.command` to build
its parser, which must not pay for Starlette.
"""

import typing

from harness.lazy import lazy_exports as _lazy_exports

if typing.TYPE_CHECKING:
    from harness.view.app import create_app
    from harness.view.reviews import Review, marked_bad

__all__ = ["Review", "create_app", "marked_bad"]

__getattr__, __dir__ = _lazy_exports(
    __name__,
    globals(),
    {
        "create_app": "harness.view.app",
        "Review": "harness.view.reviews",
        "marked_bad": "harness.view.reviews",
    },
)
