"""Where the tasks of a study run: in this process (``local``, the default) or as Ray tasks (docs/scaling.md).

A :class:`Task` is one unit of work the engine already batches (a rates stack, an lm (variant, seed)
run): a module-level function and its arguments, with the CPUs (torch threads) and GPUs it needs. A
task may come ``after`` another: it then starts once that one has finished and receives its result as
a last argument (a continuation chain: each size starts from the smaller size's fits). An executor
runs a list of them and hands each result to ``on_done`` *in this process*, in the order they finish;
the caller writes files there, so one writer holds the output folder whatever the executor, and
kill-and-resume keeps its guarantees.

- :class:`Local` calls the functions one after the other: today's path, unchanged.
- :class:`RayExecutor` submits every task to Ray (``ray.init(address)``: ``local`` starts a private
  one-machine cluster, ``auto`` or ``HOST:PORT`` joins a running one). A task ``after`` another waits
  in Ray for that one's result, so separate chains run side by side. A task whose worker dies is
  retried (``max_retries``); a task that raises is recorded as a :class:`Failure`, named, and the others
  go on. Each worker runs with exactly the task's torch threads, so results do not depend on where a
  task ran.
"""

from __future__ import annotations

import os
import platform
import re
import socket
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from approx.interrupts import interrupts_held
from experiments.user_errors import UserError

RAY_PIN = "ray==2.60.0"
MAX_RETRIES = 3  # a dead worker's task is resubmitted this many times


@dataclass(frozen=True)
class Task:
    key: str
    fn: Callable[..., Any]
    args: tuple = ()
    cpus: int = 1
    gpus: float = 0.0
    after: str | None = None  # the key of a task that runs first; its result is this one's last argument


@dataclass(frozen=True)
class Failure:
    key: str
    error: str


@dataclass
class Outcome:
    failures: list[Failure] = field(default_factory=list)
    nodes: dict[str, str] = field(default_factory=dict)  # task key -> node it ran on

    def per_node(self) -> Counter:
        return Counter(self.nodes.values())


def node_name() -> str:
    return platform.node() or "localhost"


def run_with_threads(fn: Callable[..., Any], args: tuple, threads: int, after: tuple | None = None) -> tuple[Any, str]:
    """``fn(*args)`` with exactly ``threads`` torch CPU threads; returns (result, node name). ``after``:
    the (result, node) of the task this one follows, whose result becomes the last argument."""
    import torch

    torch.set_num_threads(threads)
    return fn(*args, *([] if after is None else [after[0]])), node_name()


class Local:
    name = "local"

    def describe(self) -> dict:
        return {"executor": "local"}

    def run(self, tasks: Sequence[Task], on_done: Callable[[Task, Any, str], None], progress=None) -> Outcome:
        outcome, results = Outcome(), dict[str, Any]()
        followed = {task.after for task in tasks}  # only their results are kept
        for task in tasks:  # a task comes after the one it follows
            result = task.fn(*task.args, *([] if task.after is None else [results[task.after]]))
            if task.key in followed:
                results[task.key] = result
            outcome.nodes[task.key] = node_name()
            on_done(task, result, outcome.nodes[task.key])
            if progress:
                progress(outcome)
        return outcome


def redact(address: str | None) -> str | None:
    """host:port only: no scheme, user, password or path."""
    if address is None or address in ("local", "auto"):
        return address
    m = re.match(r"^(?:[a-z]+://)?(?:[^@/]*@)?([^/:?#]+)(?::(\d+))?", address)
    return f"{m.group(1)}:{m.group(2)}" if m and m.group(2) else (m.group(1) if m else "?")


class RayExecutor:
    name = "ray"

    def __init__(self, address: str = "local", num_cpus: int | None = None):
        try:
            with interrupts_held():  # Ray's core is a Cython module
                import ray
        except ImportError:
            raise UserError(f"--executor ray needs Ray: pip install -e '.[distributed]' (it pins {RAY_PIN})") from None
        self.ray = ray
        self.address = address
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no telemetry calls from a lab run
        env = {k: v for k, v in os.environ.items() if k.startswith("POLYLAB_")}  # fault injection reaches workers
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "ignore_reinit_error": True,
            "runtime_env": {"env_vars": env} if env else None,
        }
        if address == "local":
            kwargs["num_cpus"] = num_cpus
        else:
            probe(address)  # Ray itself retries an unreachable address for minutes
            kwargs["address"] = address
        self.started = not ray.is_initialized()  # a cluster this process started is shut down by close()
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise UserError(f"cannot reach a Ray cluster at {redact(address)}: {err}") from None

    def describe(self) -> dict:
        return {
            "executor": "ray",
            "address": redact(self.address),
            "ray_version": self.ray.__version__,
            "cluster_cpus": self.ray.cluster_resources().get("CPU"),
        }

    def run(self, tasks: Sequence[Task], on_done: Callable[[Task, Any, str], None], progress=None) -> Outcome:
        ray = self.ray
        remote = ray.remote(run_with_threads)
        pending: dict[Any, Task] = {}
        refs: dict[str, Any] = {}
        for task in tasks:  # a task comes after the one it follows; Ray resolves that ref before it starts
            after = None if task.after is None else refs[task.after]
            ref = remote.options(num_cpus=task.cpus, num_gpus=task.gpus, max_retries=MAX_RETRIES).remote(
                task.fn, task.args, task.cpus, after
            )
            pending[ref], refs[task.key] = task, ref
        outcome = Outcome()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            task = pending.pop(ready[0])
            try:
                result, node = ray.get(ready[0])
            except ray.exceptions.RayTaskError as err:  # the task itself raised: record it, go on
                outcome.failures.append(Failure(task.key, f"{type(err.cause).__name__}: {err.cause}"))
                continue
            except ray.exceptions.RayError as err:  # a worker that died more than MAX_RETRIES times
                outcome.failures.append(Failure(task.key, f"{type(err).__name__}: {str(err).splitlines()[0]}"))
                continue
            outcome.nodes[task.key] = node
            on_done(task, result, node)
            if progress:
                progress(outcome)
        return outcome

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def add_arguments(p, unit: str) -> None:
    """``--executor`` and ``--address`` for a command whose tasks are ``unit`` (e.g. "each stack")."""
    where = "local (default: this process) or ray"
    p.add_argument("--executor", choices=("local", "ray"), default="local", help=f"{where} ({unit} a Ray task)")
    p.add_argument("--address", help="with --executor ray: local (the default, a one-machine Ray), auto, or HEAD:6379")


#: how long a cluster address may take to accept a connection before the run is refused
CONNECT_SECONDS = 10.0


def probe(address: str, seconds: float = CONNECT_SECONDS) -> None:
    """Refuse (one line) a HOST:PORT that accepts no TCP connection within ``seconds``; ``auto`` is Ray's."""
    if address == "auto":
        return
    m = re.match(r"^(?:[a-z]+://)?(?:[^@/]*@)?(\[[^\]]+\]|[^/:?#]+)(?::(\d+))?", address)
    if m is None or m.group(2) is None:
        raise UserError(f"--address must be auto or HOST:PORT, got {redact(address)!r}")
    host, port = m.group(1).strip("[]"), int(m.group(2))
    try:
        socket.create_connection((host, port), timeout=seconds).close()
    except OSError as err:
        timed_out = isinstance(err, TimeoutError)
        reason = f"no answer in {seconds:g} s" if timed_out else (err.strerror or type(err).__name__)
        raise UserError(f"cannot reach a Ray cluster at {redact(address)}: {reason}") from None


def make(name: str, address: str | None = None, num_cpus: int | None = None):
    """The executor for ``--executor NAME [--address ADDR]``."""
    if name == "local":
        if address is not None:
            raise UserError("--address needs --executor ray")
        return Local()
    if name == "ray":
        return RayExecutor(address or "local", num_cpus)
    raise UserError(f"unknown executor {name!r}; valid: local, ray")
