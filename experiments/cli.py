"""``polylab``: the lab's command line. Each subcommand lives in ``experiments.commands.<name>``.

A command module exposes ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
User errors (``experiments.user_errors.UserError``, and ``OSError``: a missing file, a full disk)
print one line and exit 2; ``POLYLAB_DEBUG=1`` shows the traceback instead. Any other exception is a
bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from approx.interrupts import interrupts_held
from experiments import output_paths
from experiments.user_errors import UserError

#: subcommand -> module, in the order ``--help`` lists them
COMMANDS = ("demo", "activations", "verify", "construct", "fit", "rates", "report", "bench", "lm")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="polylab", description="Approximation-theory lab for PolyCom activations (Zhuo et al., ICLR 2025)."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"experiments.commands.{name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


#: arguments that name a file the command writes, and the one that names its output folder
OUTPUT_FILES = ("json", "plot", "csv")
OUTPUT_FOLDER = "out"


def check_outputs(args: argparse.Namespace) -> None:
    """Every output path of the command, checked before any work (experiments/output_paths.py)."""
    for name in OUTPUT_FILES:
        if getattr(args, name, None) is not None:
            output_paths.file(getattr(args, name))
    if getattr(args, OUTPUT_FOLDER, None) is not None:
        output_paths.folder(getattr(args, OUTPUT_FOLDER))


def main(argv: list[str] | None = None) -> int:
    """Run one command; a Ctrl-C at any moment (imports included) ends it with one line and exit 130."""
    command = "polylab"
    try:
        with interrupts_held():  # the command modules import flint, sympy and torch
            args = build_parser().parse_args(argv)
            command = f"polylab {args.command}"
            from approx.kernels.cpu_memory import keep_freed_memory

        keep_freed_memory()  # tensors reuse freed pages instead of faulting in fresh ones
        check_outputs(args)
        return args.run(args) or 0
    except (UserError, OSError) as err:
        if os.environ.get("POLYLAB_DEBUG"):
            raise
        print(f"{command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The console script: :func:`main`, then Ctrl-C is ignored while the interpreter shuts down (a late one
    would otherwise print a traceback from threading's exit hooks)."""
    try:
        code = main()
    except KeyboardInterrupt:  # between main's own handler and here
        code = 130
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


if __name__ == "__main__":
    entry()
