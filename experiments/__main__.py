"""``python -m experiments``: the polylab CLI; a Ctrl-C while the CLI itself imports also ends in one line."""

import signal
import sys

try:
    from experiments.cli import entry
except KeyboardInterrupt:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print("polylab: interrupted", file=sys.stderr)
    sys.exit(130)
entry()
