"""What every command shares on the terminal: the exit codes, the two consoles, printing
untrusted text (model output, dataset rows, file names) literally, and argument types.

Its own module so that command modules (``harness.bench.command``) use them without
importing :mod:`harness.cli`, which imports them.
"""

from __future__ import annotations

import argparse
import re
import sys

from rich.console import Console
from rich.markup import escape as _escape_markup

EXIT_OK, EXIT_GATE, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143

#: Progress, notes and errors.
console = Console(stderr=True, highlight=False, soft_wrap=True)
#: Results. Piped output (CI logs, files) is not cut to 80 columns.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)

#: Terminal control characters (ESC starts colour, title and cursor sequences); newline and
#: tab are kept.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def escape(text: str) -> str:
    """Model, dataset and suite text printed literally: rich markup is escaped, and control
    characters (and lone surrogates, which no terminal encoding takes) become visible
    ``\\x1b`` escapes instead of moving the cursor or recolouring the terminal."""
    return _escape_markup(_CONTROL.sub(_visible, text))


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (``--limit``, ``--repeat``, ``--last``)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)
