"""``results.csv`` of a rates run: its schema, and a reader that trusts nothing it reads.

Every row is checked on read: the header holds every column, each field has its column's type,
the error metrics of a fit whose status is ``ok`` are finite numbers, and no job id occurs twice.
The writer ends every row with a newline, so a last line without one was cut short (a file copied
mid-write, a full disk): :func:`read` drops it when asked to (``--resume`` then refits its job, and
says so) and refuses it otherwise. Every error names the file and the line.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from approx.fitting import metrics
from experiments import inputs
from experiments.atomic_io import write_text
from experiments.user_errors import UserError

INT = ("d", "size_target", "params", "weights", "biases", "coefficients", "neurons", "width", "depth", "seed", "steps")
FINITE_WHEN_OK = (*metrics.NAMES, "train_mse")
#: the VarPro floor (approx/fitting/varpro.py): absent from files written before it existed, read as NaN
FLOOR = ("floor_rmse", "floor_max_abs", "floor_train_rmse")
#: run options per row (absent from files written before they existed, read as empty); ``start``: the
#: portfolio's winner stage by stage, ``selection``: every candidate's validation score (last stage)
OPTIONS = ("lr", "stages", "init", "grid", "construction_max_abs", "start", "selection")
#: a fit's certified sup error (experiments/certify_fit.py): blank where not certified, absent from older files
CERTIFIED = ("certified_lower", "certified_upper")
STATUSES = ("ok", "diverged")
COLUMNS = (
    "job",
    "target",
    "d",
    "n",
    "activation",
    "size_target",
    "params",
    "weights",
    "biases",
    "coefficients",
    "neurons",
    "width",
    "depth",
    "seed",
    *metrics.NAMES,
    "train_mse",
    *FLOOR,
    "status",
    "stop",
    "steps",
    "seconds",
    "stack",
    "threads",
    "dtype",
    "device",
    *OPTIONS,
    *CERTIFIED,
)


class CorruptResults(UserError):
    """results.csv does not hold what the lab writes (a user error: it names file and line)."""


@dataclass(frozen=True)
class Table:
    rows: list[dict[str, str]]
    dropped_line: int | None  # the cut-short last line that was dropped, if any


def read(path: Path, *, drop_cut_line: bool) -> Table:
    """The validated rows of ``path`` (none if it does not exist)."""
    if not path.exists():
        return Table([], None)
    text = inputs.read_text(path, "results table", inputs.TABLE_BYTES)
    lines = text.splitlines(keepends=True)
    dropped = None
    if lines and not lines[-1].endswith("\n"):
        dropped = len(lines)
        if not drop_cut_line or dropped == 1:
            raise CorruptResults(
                f"{path}:{dropped}: the last line is cut short (an interrupted copy?); "
                "rerun `polylab rates CONFIG --out DIR --resume` to refit that job"
            )
        lines = lines[:-1]
    reader = csv.DictReader(io.StringIO("".join(lines)))
    try:
        return Table(_validated_rows(reader, path), dropped)
    except csv.Error as err:
        raise CorruptResults(f"{path}:{reader.line_num}: not a CSV row ({err})") from None


def _validated_rows(reader: csv.DictReader, path: Path) -> list[dict[str, str]]:
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or []) and c not in FLOOR + OPTIONS + CERTIFIED]
    if missing:
        raise CorruptResults(f"{path}:1: header lacks column(s) {', '.join(missing)}")
    rows: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        _check_row(path, line, row)
        if row["job"] in seen:
            raise CorruptResults(f"{path}:{line}: job {row['job']!r} already on line {seen[row['job']]}")
        seen[row["job"]] = line
        rows.append({c: row.get(c, "" if c in OPTIONS + CERTIFIED else "nan") for c in COLUMNS})
    return rows


def _check_row(path: Path, line: int, row: dict) -> None:
    where = f"{path}:{line}"
    if None in row or any(v is None for v in row.values()):
        raise CorruptResults(f"{where}: wrong number of fields")
    if not row["job"]:
        raise CorruptResults(f"{where}: empty job id")
    for c in INT:
        try:
            int(row[c])
        except ValueError:
            raise CorruptResults(f"{where}: {c} = {row[c]!r} is not an integer") from None
    if row["n"] != "analytic" and not row["n"].isdigit():
        raise CorruptResults(f"{where}: n = {row['n']!r} is neither an integer nor 'analytic'")
    if row["status"] not in STATUSES:
        raise CorruptResults(f"{where}: status = {row['status']!r}; valid: {', '.join(STATUSES)}")
    values = {}
    for c in (*FINITE_WHEN_OK, *(c for c in FLOOR if c in row), "seconds"):
        try:
            values[c] = float(row[c])
        except ValueError:
            raise CorruptResults(f"{where}: {c} = {row[c]!r} is not a number") from None
        if (row["status"] == "ok" and c not in FLOOR or c == "seconds") and not math.isfinite(values[c]):
            raise CorruptResults(f"{where}: {c} = {row[c]!r} is not finite in a fit with status ok")
        if math.isinf(values[c]):  # NaN marks a value that is absent (a diverged fit, an older file); inf none
            raise CorruptResults(f"{where}: {c} = {row[c]!r} is infinite")
        if values[c] < 0:  # errors, losses and seconds are never negative (NaN passes: a diverged fit)
            raise CorruptResults(f"{where}: {c} = {row[c]!r} is negative")
    for c in ("params", "width", "depth", "d", "size_target"):
        if int(row[c]) < 1:
            raise CorruptResults(f"{where}: {c} = {row[c]!r} must be at least 1")
    _check_certified(where, row, values)
    # a sup over the grid is at least the root mean square over it (to the rounding of 7 digits)
    for sup, rms in (("max_abs", "rmse"), ("floor_max_abs", "floor_rmse")):
        if sup in values and rms in values and values[sup] < values[rms] * (1 - 1e-6):
            raise CorruptResults(f"{where}: {sup} = {row[sup]} is below {rms} = {row[rms]}: not a sup and an RMS")
        if sup in values and rms in values and values[rms] == 0 < values[sup]:
            raise CorruptResults(f"{where}: {rms} = 0 but {sup} = {row[sup]}: an RMS of 0 means no error anywhere")


def _check_certified(where: str, row: dict, values: dict) -> None:
    """Both certified ends or neither; 0 ≤ lower ≤ upper, and the grid's sup (a sample) ≤ upper."""
    given = [row.get(c, "") for c in CERTIFIED]
    if given == ["", ""]:
        return
    try:
        lo, hi = map(float, given)
    except ValueError:
        raise CorruptResults(f"{where}: certified_lower, certified_upper = {given} are not two numbers") from None
    if not 0 <= lo <= hi < math.inf:
        raise CorruptResults(f"{where}: certified interval [{lo}, {hi}] is not 0 <= lower <= upper")
    if values["max_abs"] > hi * (1 + 1e-6):
        raise CorruptResults(f"{where}: max_abs = {row['max_abs']} exceeds certified_upper = {hi}")


def row(
    cfg, job, count: dict, err: dict, floor_err: dict, fits: list, m: int, device: str, status: str, certified: dict
) -> dict:
    """The CSV row of job ``job`` (model m of its stack) of a rates config ``cfg`` (experiments/rates/config.py);
    ``certified``: its :data:`CERTIFIED` columns."""
    fields = {
        "job": job.id,
        "target": job.target.name,
        "d": job.arch.d_in,
        "n": "analytic" if job.target.n is None else job.target.n,
        "activation": job.activation.label,
        "size_target": job.size,
        "params": count["total"],
        "weights": count["weights"],
        "biases": count["biases"],
        "coefficients": count["coefficients"],
        "neurons": count["neurons"],
        "width": job.arch.width,
        "depth": job.arch.depth,
        "seed": job.seed,
        **err,
        "train_mse": fits[0].train_loss[m] if len(fits) == 1 or status != "ok" else err["train_rmse"] ** 2,
        **floor_err,
        "status": status,
        "stop": fits[-1].stop[m],
        "steps": sum(f.steps[m] for f in fits),
        "seconds": sum(f.seconds / len(f.status) for f in fits),
        "stack": fits[0].chunk,
        "threads": fits[0].threads,
        "dtype": cfg.dtype,
        "device": device,
        "lr": "" if job.lr is None else job.lr,
        "stages": len(fits),
        "init": cfg.init,
        "grid": "",
        "construction_max_abs": "",
        "start": "",
        "selection": "",
        **certified,
    }
    return {k: fmt(v) for k, v in fields.items()}


def fmt(v: object) -> object:
    """A float as the CSV holds it (7 significant digits); anything else as it is."""
    return f"{v:.6e}" if isinstance(v, float) and math.isfinite(v) else v


def write(path: Path, rows: list[dict]) -> None:
    """All ``rows`` (dicts with :data:`COLUMNS`), atomically; each line ends with a newline."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buf.getvalue())
