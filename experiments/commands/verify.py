"""``polylab verify``: run the certificate groups (docs/theory.md §3-5), print a table, exit 1 if one fails.

Groups come from ``theory.certificate.GROUPS`` (lemma1, theorem1, lemma2, theorem2, theorem3, ...);
without ``--only`` every group whose module exists runs. ``--json FILE`` writes every certificate
(statement, params, sizes, method, verdict, errors, seconds) with provenance, atomically.
"""

from __future__ import annotations

import argparse
import time

from experiments.atomic_io import write_json
from experiments.provenance import provenance
from experiments.user_errors import UserError
from theory import certificate

HELP = "certify the paper's statements (Lemma 1, Theorems 1-3): table, --json, exit 1 on a failure"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--only", default=None, help="comma-separated groups, e.g. lemma1,theorem1 (default: all)")
    p.add_argument("--json", default=None, metavar="FILE", help="write every certificate and provenance here")
    p.add_argument("--list", action="store_true", help="list the groups and where they live, then exit")
    p.add_argument("-v", "--verbose", action="store_true", help="print each certificate's statement and details")


def parse_groups(only: str | None) -> list[str] | None:
    if only is None:
        return None
    names = [g.strip() for g in only.split(",") if g.strip()]
    if not names:
        raise UserError("--only needs at least one group name")
    unknown = [g for g in names if g not in certificate.GROUPS]
    if unknown:
        raise UserError(f"unknown certificate group {unknown[0]!r}; valid: {', '.join(certificate.GROUPS)}")
    return list(dict.fromkeys(names))


def _size_summary(sizes: dict) -> str:
    """'neurons/width/depth', and 'source -> target' for conversions."""

    def one(s: dict) -> str | None:
        if all(k in s for k in ("neurons", "width", "depth")):
            return f"{s['neurons']}/{s['width']}/{s['depth']}"
        return None

    if isinstance(sizes.get("source"), dict) and isinstance(sizes.get("target"), dict):
        a, b = one(sizes["source"]), one(sizes["target"])
        if a and b:
            return f"{a} -> {b}"
    return one(sizes) or "-"


def _error(c: certificate.Certificate) -> str:
    if c.error_bound is None and c.measured_error is None:
        return "-"
    bound = "-" if c.error_bound is None else _short(str(c.error_bound))
    return f"{_short(c.measured_error)} <= {bound}"


def _short(v: str | None) -> str:
    if v is None:
        return "-"
    if v.startswith("[") and v.endswith("]"):  # a certified enclosure [lower, upper]
        lo, hi = v[1:-1].split(",")
        return f"[{_short(lo.strip())}, {_short(hi.strip())}]"
    return v if len(v) <= 14 else f"{eval_fraction(v):.3e}"


def eval_fraction(text: str) -> float:
    """A printed exact number ('3/4096', '1.5e-3', '0') as a float, for the table only."""
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            return int(num) / int(den)
        return float(text)
    except (ValueError, ZeroDivisionError):
        return float("nan")


def table(certs: list[certificate.Certificate]) -> str:
    header = ("certificate", "holds", "neurons/width/depth", "measured <= bound", "seconds")
    rows = [(c.name, "yes" if c.holds else "NO", _size_summary(c.sizes), _error(c), f"{c.seconds:.2f}") for c in certs]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [header, ["-" * w for w in widths], *rows]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in lines)


def run(args: argparse.Namespace) -> int:
    if args.list:
        for g, target in certificate.GROUPS.items():
            print(f"{g:12s} {target}")
        return 0
    groups = parse_groups(args.only)
    start = time.perf_counter()
    certs = certificate.gather(groups)
    seconds = time.perf_counter() - start
    print(table(certs))
    failed = [c for c in certs if not c.holds]
    for c in certs if args.verbose else failed:
        print(f"\n{c.name}: {'holds' if c.holds else 'FAILS'}\n  statement: {c.statement}\n  method: {c.method}")
        if c.details:
            print(f"  details: {c.details.strip()}")
    print(f"\n{len(certs) - len(failed)}/{len(certs)} certificates hold ({seconds:.1f} s)")
    if args.json:
        ran = groups if groups is not None else certificate.group_names()
        write_json(
            args.json,
            {
                "provenance": provenance(config={"only": ran}),
                "summary": {"certificates": len(certs), "failed": len(failed), "seconds": seconds, "groups": ran},
                "certificates": [c.as_dict() for c in certs],
            },
        )
        print(f"json: {args.json}")
    return 1 if failed else 0
