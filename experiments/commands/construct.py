"""``polylab construct NAME ...``: build a theorem's network and print its sizes and errors.

The names and their modules live in ``experiments.constructions`` (one module per theorem).
"""

from __future__ import annotations

import argparse
import importlib

from experiments.constructions import CONSTRUCTIONS

HELP = "build a theorem's network (lemma2, theorem2, ...) and print its sizes and certified errors"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="construction", metavar="NAME", required=True)
    for name in CONSTRUCTIONS:
        module = importlib.import_module(f"experiments.constructions.{name}")
        q = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(q)
        q.set_defaults(construct=module.run)


def run(args: argparse.Namespace) -> int:
    return args.construct(args)
