"""The example's own assertion (``type: python``): does the answer come from a passage the app
retrieved? A cheap, judge-free check next to ragas' faithfulness."""

from __future__ import annotations

import re
from typing import Any

#: Words of 4+ letters: "the", "was", "in" would match any passage.
_WORD = re.compile(r"\w{4,}")


def grounded(output: str, case: Any) -> dict[str, Any]:
    """The largest share of the answer's words that one retrieved passage holds; the answer is
    that passage's rank (1 = the top passage)."""
    words = set(_WORD.findall(output.casefold()))
    passages = case.contexts or ()
    if not words or not passages:
        missing = "words of 4+ letters" if not words else "retrieved passages"
        return {"value": 0.0, "reason": f"no {missing} to compare"}
    held = [len(words & set(_WORD.findall(p.casefold()))) for p in passages]
    best = max(range(len(held)), key=held.__getitem__)
    return {
        "value": held[best] / len(words),
        "answer": str(best + 1),
        "reason": f"passage {best + 1} holds {held[best]} of the answer's {len(words)} words",
    }
