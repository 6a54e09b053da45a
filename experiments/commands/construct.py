"""``polylab construct NAME ...``: build a theorem's network and print its sizes and errors.

The names and their modules live in ``experiments.constructions`` (one module per theorem).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util

from experiments.constructions import CONSTRUCTIONS

HELP = "build a theorem's network (lemma2, theorem2, ...) and print its sizes and certified errors"


def _module(name: str):
    spec = importlib.util.find_spec(f"experiments.constructions.{name}")
    return importlib.import_module(f"experiments.constructions.{name}") if spec else None


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="construction", metavar="NAME", required=True)
    for name, line in CONSTRUCTIONS.items():
        module = _module(name)
        if module is None:
            q = sub.add_parser(name, help=f"{line} (not built yet)")
            q.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            q.set_defaults(construct=None)
            continue
        q = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(q)
        q.set_defaults(construct=module.run)


def run(args: argparse.Namespace) -> int:
    if args.construct is None:
        raise ValueError(f"construction {args.construction!r} is not built yet")
    return args.construct(args)
