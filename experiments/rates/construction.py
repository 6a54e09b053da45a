"""Construction starts in a rates sweep (``init = "theorem3"`` / ``"theorem3-relu"``; docs/theory.md §7).

Each job trains Theorem 3's network (experiments/constructions/theorem3_start.py) inside its sparsity
pattern, one job at a time: the stacked pipeline is for dense networks of one architecture.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import torch

from approx.fitting import metrics, pattern, stack, targets
from approx.fitting.train import Fit
from experiments.constructions import theorem3_start
from experiments.rates import results_table
from experiments.rates.config import Config, Job, points_for


def row(cfg: Config, job: Job, test_sets: stack.TestSets) -> dict:
    """One construction start (``init = "theorem3"``/``"theorem3-relu"``), trained inside its pattern.

    The readout is solved by least squares, then the L-BFGS and LM phases' summed steps run as
    strong-Wolfe L-BFGS iterations (:func:`approx.fitting.pattern.train`); Adam phases are skipped,
    because their first steps move every weight by about the learning rate and throw the
    construction away (experiments/bench/theory_init.py). A VarPro phase solves the readout again
    at the end.
    """
    text, n = cfg.expressions[job.target.name]
    assert n is not None  # config.load refuses a construction start without n
    d = job.target.d
    N = theorem3_start.grid_for_size(text, d, n, job.size, cfg.init)
    begin = theorem3_start.start(text, d, n, N, cfg.init, job.target.scale)
    net = begin.net
    x = targets.sample(d, points_for(cfg, d, job.size), cfg.sampling, job.seed)
    y = job.target(x)
    x_test, y_test = test_sets[job.target.name]

    def errs(module: torch.nn.Module) -> dict:
        with torch.no_grad():
            return metrics.errors_of(module(x_test).reshape(1, -1), y_test, module(x).reshape(1, -1), y[None])[0]

    before = errs(net)["max_abs"]
    schedule = pattern.Schedule(adam=0, lbfgs=sum(p.steps for p in cfg.phases if p.optimizer in ("lbfgs", "lm")))
    varpro = any(p.optimizer == "varpro" for p in cfg.phases)
    pattern.solve_readout(net, x, y)
    seconds = pattern.train(net, x, y, schedule)
    floor = copy.deepcopy(net)
    pattern.solve_readout(floor, x, y)
    if varpro:
        net = floor
    err, best = errs(net), errs(floor)
    finite = all(math.isfinite(v) for k, v in err.items() if k != "gap")
    hidden = [layer.shape[0] for layer in net.layers[:-1]]
    count = {
        "total": net.count,
        "weights": sum(layer.values.numel() for layer in net.layers),
        "biases": sum(layer.bias.numel() for layer in net.layers),
        "coefficients": 0,
        "neurons": sum(hidden),
    }
    # a row reads one Fit record per stage; the pattern training is the one stage here
    done = Fit(
        torch.empty(0),
        ["ok" if finite else "diverged"],
        ["schedule"],
        [schedule.adam + schedule.lbfgs],
        [err["train_rmse"] ** 2],
        seconds,
        1,
    )
    arch = dataclasses.replace(job.arch, width=max(hidden), depth=len(hidden))
    fields = results_table.row(
        cfg,
        dataclasses.replace(job, arch=arch),
        count,
        err if finite else dict.fromkeys(metrics.NAMES, math.nan),
        {f"floor_{k}": best[k] for k in ("rmse", "max_abs", "train_rmse")},
        [done],
        0,
        "cpu",
        done.status[0],
        dict.fromkeys(results_table.CERTIFIED, ""),
    )
    return {**fields, "grid": N, "construction_max_abs": results_table.fmt(before)}
