"""The ``harness`` command (and ``python -m harness``).

Imports nothing before it can catch Ctrl-C, so an interrupt while the CLI is still
loading ends with a one-line message and exit 130, not a traceback.
"""

import sys


def main() -> int:
    try:
        from harness.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
