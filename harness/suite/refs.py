"""Which judge or embedder a scorer means, checked when the suite loads and when it runs."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from harness.errors import ScorerError

if TYPE_CHECKING:
    from harness.suite.loader import LoadedSuite


def pick_model(
    name: str | None, declared: Collection[str], what: str = "judge", section: str = "judges"
) -> str:
    """The id a scorer means by ``name`` (None: the only one declared), or a ScorerError."""
    if name is not None:
        if name not in declared:
            known = ", ".join(declared) or "none"
            raise ScorerError(f"unknown {what} {name!r}; the suite's {section}: {known}")
        return name
    if len(declared) == 1:
        return next(iter(declared))
    if not declared:
        raise ScorerError(
            f"this scorer needs a {what}: declare one under '{section}:' in the suite"
        )
    raise ScorerError(
        f"the suite declares several {section} ({', '.join(declared)}): name one with "
        f"'{what}: ID' in the assertion"
    )


#: The embedder a suite gets when it declares none (the bundled local model).
DEFAULT_EMBEDDER = "default"


def declared_models(loaded: LoadedSuite) -> tuple[list[str], list[str]]:
    """The suite's judge ids and embedder ids (the default embedder when none is declared)."""
    suite = loaded.suite
    return [j.id for j in suite.judges], [e.id for e in suite.embeddings] or [DEFAULT_EMBEDDER]


def check_models(
    declared: tuple[list[str], list[str]],
    judges: Sequence[str | None],
    embedders: Sequence[str | None],
) -> None:
    """Raise ScorerError unless every judge and embedder named is declared (None: the only one)."""
    for judge in judges:
        pick_model(judge, declared[0])
    for embedder in embedders:
        pick_model(embedder, declared[1], "embedder", "embeddings")
