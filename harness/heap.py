"""The CLI process's garbage collector: off while modules load, then what loaded is frozen.

Loading the CLI and what a run needs makes ~80k long-lived objects (modules, classes,
pydantic schemas, SQLAlchemy's constructs) and next to no cyclic garbage, yet the
collector walked them ~180 times as they loaded (~0.07 s, a tenth of start-up) and again
in every full collection of the run after (~0.05 s at 2000 cases). So the ``harness``
command loads with the collector off (:func:`loading_modules`); once a command's modules are in,
:func:`settle_heap` moves every object made so far to the permanent generation, which no
collection walks, and turns the collector back on: cycles made from then on are
collected as usual.

Only the command does this, never the library: a process that imports harness or calls
``harness.cli.main`` (pytest, a notebook) keeps its collector as it was (freezing would
keep its garbage for ever). Settle before anything big is loaded: a model's weights
frozen could never be freed.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_loading = False


@contextmanager
def loading_modules() -> Iterator[None]:
    """No collections inside until :func:`settle_heap`; the collector is on again after it."""
    global _loading
    was_on = gc.isenabled()
    gc.disable()
    _loading = True
    try:
        yield
    finally:
        _loading = False
        if was_on:
            gc.enable()


def settle_heap() -> None:
    """Within :func:`loading_modules`: freeze what is loaded and collect from here on (a no-op
    elsewhere, and the second time)."""
    global _loading
    if _loading:
        _loading = False
        gc.freeze()
        gc.enable()
