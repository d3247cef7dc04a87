"""The ``harness`` command (and ``python -m harness``).

Imports nothing before it can catch Ctrl-C, so an interrupt while the CLI is still
loading ends with a one-line message and exit 130, not a traceback. A command that only
shows a replay again answers before the CLI is loaded (:mod:`harness.quick_replay`). The
garbage collector stays off while the CLI loads (:mod:`harness.heap`).
"""

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        from contextlib import nullcontext

        from harness.heap import loading_modules
        from harness.quick_replay import invoked, replayed

        # The command's own process (argv from the command line) loads with the collector
        # off; a caller passing argv (a test) keeps its collector as it was.
        loading = loading_modules() if from_command_line else nullcontext()
        with loading, invoked(argv) as invocation:
            code = replayed(invocation)
            if code is not None:
                return code
            from harness.cli import main as cli_main

            return cli_main(argv)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
