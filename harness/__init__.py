"""harness: LLM evaluation and prompt-regression harness."""

__version__ = "0.1.0"
