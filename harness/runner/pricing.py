"""Cost per call from a price table (USD per 1M tokens), overridable per provider in the suite.

Prices change: the built-in table is a convenience, checked on the date below; a suite's
``prices:`` always wins. Unknown API models get no cost (None), never a guessed one.
"""

from __future__ import annotations

from typing import Any

from harness.suite.schema import Prices

PRICES_CHECKED = "2026-11"

#: Longest matching prefix wins.
_TABLE: dict[str, Prices] = {
    "gpt-4o-mini": Prices(input_per_1m=0.15, output_per_1m=0.60),
    "gpt-4o": Prices(input_per_1m=2.50, output_per_1m=10.00),
    "gpt-4.1-mini": Prices(input_per_1m=0.40, output_per_1m=1.60),
    "gpt-4.1-nano": Prices(input_per_1m=0.10, output_per_1m=0.40),
    "gpt-4.1": Prices(input_per_1m=2.00, output_per_1m=8.00),
    "deepseek-chat": Prices(input_per_1m=0.27, output_per_1m=1.10),
    "deepseek-reasoner": Prices(input_per_1m=0.55, output_per_1m=2.19),
    "qwen-plus": Prices(input_per_1m=0.40, output_per_1m=1.20),
    "qwen-turbo": Prices(input_per_1m=0.05, output_per_1m=0.20),
}


_LOCAL = Prices(input_per_1m=0.0, output_per_1m=0.0)


def price_for(config: Any) -> Prices | None:
    """The prices of a provider config: the suite's, the table's, zero for local models."""
    if config.type in ("hf", "vllm"):
        return _LOCAL
    if config.type != "openai":
        return None
    if config.prices is not None:
        return config.prices
    matches = [k for k in _TABLE if config.model.startswith(k)]
    return _TABLE[max(matches, key=len)] if matches else None


def cost(
    prices: Prices | None, prompt_tokens: int | None, completion_tokens: int | None
) -> float | None:
    if prices is None or prompt_tokens is None or completion_tokens is None:
        return None
    return (prompt_tokens * prices.input_per_1m + completion_tokens * prices.output_per_1m) / 1e6
