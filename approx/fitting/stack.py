"""The one stacked pipeline: fit a stack of models and measure each (docs/theory.md §7).

A :class:`Request` names one architecture and, per model, a target and a seed. :func:`fit` then

1. samples each model's training points (seeded; :func:`training_points` says how many);
2. for each stage k: trains the candidate starts (approx/fitting/portfolio.py; seed + 10⁴k) on the
   normalised residual r_k = (f − F_{k−1})/s_k of the stages before, keeps each model's best on a
   validation split, and solves each readout exactly (the VarPro floor);
3. measures every model in float64 on its target's dense held-out grid.

``approx.fit``, ``approx.fit_stages`` and ``polylab rates`` all come through here, so a rule (the
number of points, a start, a schedule, a metric) exists once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from approx import devices
from approx.fitting import metrics, portfolio, targets
from approx.fitting.models import Architecture
from approx.fitting.optim.state import Progress
from approx.fitting.schedule import Phase
from approx.fitting.targets import DEFAULT_SAMPLING, Target
from approx.fitting.train import Fit
from approx.fitting.varpro import solve_readout

#: training dtypes; bfloat16 is mixed precision (float32 parameters and optimiser, bf16 forward pass);
#: tf32 is float32 with TensorFloat-32 matmuls, which the caller switches on (CUDA only)
DTYPES = {"float64": torch.float64, "float32": torch.float32, "tf32": torch.float32, "bfloat16": torch.bfloat16}
#: the held-out grid of a fit when none is given: points in 1-D, and above
TEST_POINTS = {1: 8192, "more": 40_000}
#: stage k starts model m from seed m + STAGE_SEED_STRIDE·k: a fresh start per stage
STAGE_SEED_STRIDE = 10_000
TestSets = Mapping[str, tuple[Tensor, Tensor]]


def training_points(d: int, params: int, base: int | None = None, per_parameter: float = 0.0) -> int:
    """Training points for a network of ``params`` parameters in ``d`` dimensions.

    Without ``base``: max(256·d, min(2·params, 1024·d)), approx.fit's default. With it (a rates
    config's ``train_points``): max(base, ⌈per_parameter · params⌉).
    """
    if base is None:
        return max(256 * d, min(2 * params, 1024 * d))
    return max(base, math.ceil(per_parameter * params))


def default_test_points(d: int) -> int:
    return TEST_POINTS[1] if d == 1 else TEST_POINTS["more"]


def held_out(target: Target, points: int) -> tuple[Tensor, Tensor]:
    """The dense held-out grid of ``target`` (about ``points`` cell midpoints) and its values there."""
    x = targets.dense_grid(target.d, points)
    return x, target(x)


@dataclass(frozen=True)
class Request:
    """One stack: an architecture, and per model a target and a seed; everything else has a default."""

    arch: Architecture
    targets: tuple[Target, ...]
    seeds: tuple[int, ...]
    points: int
    phases: tuple[Phase, ...] | None = None  # the uniform start's schedule (None: UNIFORM_SCHEDULE)
    init: str = "auto"  # auto: the portfolio of starts; uniform | kinks: that start alone
    stages: int = 1
    sampling: str = DEFAULT_SAMPLING
    varpro: bool = False  # report each stage with its readout solved exactly, not as trained
    dtype: str = "float64"
    device: str = "cpu"
    explode: float = 1e6
    lr: float | None = None  # every Adam phase at this learning rate (a config's lrs axis)
    test_points: int | None = None  # None: default_test_points(d)
    kinks_phases: tuple[Phase, ...] | None = None  # the kinks start's schedule (None: KINKS_SCHEDULE)
    smaller: portfolio.Smaller | None = None  # a smaller fit of the same models: the "widened" candidate
    chunk: int | None = None  # models per chunk (1: each alone, whatever the timing); None: by timing

    def __post_init__(self):
        if len(self.targets) != len(self.seeds) or not self.seeds:
            raise ValueError(f"a stack needs one target per seed, got {len(self.targets)} and {len(self.seeds)}")
        wrong = [t.name for t in self.targets if t.d != self.arch.d_in]
        if wrong:
            raise ValueError(f"target(s) {wrong} do not have d = {self.arch.d_in}, the network's input dimension")
        if isinstance(self.stages, bool) or not isinstance(self.stages, int) or self.stages < 1:
            raise ValueError(f"stages must be an integer >= 1, got {self.stages!r}")
        if self.chunk is not None and (
            isinstance(self.chunk, bool) or not isinstance(self.chunk, int) or self.chunk < 1
        ):
            raise ValueError(f"chunk must be an integer >= 1 or None, got {self.chunk!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; valid: {', '.join(DTYPES)}")
        devices.resolve(self.device)
        if self.smaller is not None:
            if self.init != "auto" or self.stages != 1:
                raise ValueError("continuing from a smaller fit needs init = 'auto' and one stage")
            if self.smaller.theta.shape[0] != len(self.seeds):
                raise ValueError(f"the smaller fit has {self.smaller.theta.shape[0]} rows for {len(self.seeds)} models")

    @property
    def candidates(self) -> tuple[portfolio.Start, ...]:
        """The starts every model tries (approx/fitting/portfolio.py), with Adam at ``lr`` if given."""
        found = portfolio.starts(self.arch, self.init, self.phases, self.kinks_phases, self.smaller)
        if self.lr is None:
            return found
        return tuple(dataclasses.replace(s, phases=with_lr(s.phases, self.lr)) for s in found)


def with_lr(phases: tuple[Phase, ...], lr: float) -> tuple[Phase, ...]:
    """The schedule with every Adam phase at learning rate ``lr``."""
    return tuple(dataclasses.replace(p, lr=lr) if p.optimizer == "adam" else p for p in phases)


@dataclass(frozen=True)
class Result:
    """Every stage of every model of a stack, with its training data and float64 errors."""

    request: Request
    x_train: Tensor  # (M, N, d)
    y_train: Tensor  # (M, N), normalised targets
    thetas: tuple[Tensor, ...]  # per stage, (M, P) as reported (trained, or readout-solved with ``varpro``)
    floors: tuple[Tensor, ...]  # per stage, the readout solved exactly
    scales: tuple[Tensor, ...]  # per stage, (M,)
    fits: tuple[Fit, ...]
    starts: tuple[tuple[str, ...], ...] = ()  # per stage, per model: the start chosen
    validation: tuple[tuple[dict[str, float], ...], ...] = ()  # per stage, per model: start -> validation error
    errors: tuple[dict[str, float], ...] = field(default=())  # per model: metrics.NAMES (NaN if diverged)
    floor_errors: tuple[dict[str, float], ...] = field(default=())  # the same with the last readout solved

    @property
    def arch(self) -> Architecture:
        return self.request.arch

    def status(self, m: int) -> str:
        """``ok`` when every stage of model m is."""
        return "ok" if all(f.status[m] == "ok" for f in self.fits) else "diverged"

    @property
    def count(self) -> dict[str, int]:
        """Sizes summed over the stages (docs/theory.md §2)."""
        c, k = self.arch.count(), len(self.fits)
        return {name: k * getattr(c, name) for name in ("total", "weights", "biases", "coefficients", "neurons")}

    def predict(self, x: Tensor, rows: slice, floor: bool = False) -> Tensor:
        """Σ_k s_k g_k(x) for the models in ``rows`` (x shared (N, d) or per model (M, N, d)); the floor
        uses every stage as reported except the last, whose readout is solved exactly."""
        last = len(self.thetas) - 1
        out: Tensor | float = 0.0
        for k, (theta, scale) in enumerate(zip(self.thetas, self.scales, strict=True)):
            theta = self.floors[k] if floor and k == last else theta
            out = out + scale[rows, None] * metrics.predict(self.arch, theta[rows], x)
        assert isinstance(out, Tensor)
        return out

    def module(self, m: int) -> nn.Module:
        """Model m as a plain torch module (a :class:`StagedModule` when there are several stages)."""
        modules = [self.arch.to_module(theta[m]) for theta in self.thetas]
        if len(modules) == 1:
            return modules[0]
        return StagedModule(modules, [float(s[m]) for s in self.scales])

    def history(self, m: int) -> list[float]:
        """Model m's training loss after every optimiser step, stage after stage (each on its own residual)."""
        return [v for f in self.fits for v in (f.history[m] if f.history else [])]


class StagedModule(nn.Module):
    """x ↦ Σ_k s_k g_k(x): a multi-stage fit (docs/theory.md §7)."""

    scales: Tensor

    def __init__(self, modules: Sequence[nn.Module], scales: Sequence[float]):
        super().__init__()
        self.stages = nn.ModuleList(modules)
        self.register_buffer("scales", torch.tensor(list(scales), dtype=torch.float64))

    def forward(self, x: Tensor) -> Tensor:
        out = self.scales[0] * self.stages[0](x)
        for s, g in zip(self.scales[1:], self.stages[1:], strict=True):
            out = out + s * g(x)
        return out


def sample_points(request: Request) -> tuple[Tensor, Tensor]:
    """Each model's training points (seeded by its seed) and its target's values there: (M, N, d), (M, N)."""
    d = request.arch.d_in
    xs = torch.stack([targets.sample(d, request.points, request.sampling, s) for s in request.seeds])
    ys = torch.stack([t(x) for t, x in zip(request.targets, xs, strict=True)])
    return xs, ys


def fit(request: Request, test_sets: TestSets | None = None, progress: Progress | None = None) -> Result:
    """Train every stage of the stack and measure each model; ``test_sets`` maps a target name to its
    held-out (x, y) (default: :func:`held_out` at the request's test points)."""
    xs, ys = sample_points(request)
    result = train_stages(request, xs, ys, progress)
    return measure(result, test_sets or _test_sets(request))


def train_stages(request: Request, xs: Tensor, ys: Tensor, progress: Progress | None = None) -> Result:
    """``request.stages`` fits of the stack, each on the residual of those before, normalised to max 1."""
    arch, dtype, device = request.arch, DTYPES[request.dtype], request.device
    master = torch.float32 if dtype == torch.bfloat16 else dtype
    engine = portfolio.Engine(
        master, dtype if dtype != master else None, device, request.explode, progress, request.chunk
    )
    residual = ys.double()
    thetas, floors, scales, fits, starts, validation = [], [], [], [], [], []
    for k in range(request.stages):
        scale = torch.ones(len(xs), dtype=torch.float64) if k == 0 else residual.abs().amax(1).clamp_min(1e-300)
        goal = residual / scale[:, None]
        seeds = [s + STAGE_SEED_STRIDE * k for s in request.seeds]  # a fresh start per stage
        chosen = portfolio.fit(arch, seeds, xs, goal, request.candidates, engine)
        floor = solve_readout(arch, chosen.theta.double(), xs.to(device), goal.to(device)).cpu()
        reported = floor if request.varpro else chosen.theta.double().cpu()
        thetas.append(reported)
        floors.append(floor)
        scales.append(scale)
        fits.append(chosen.fit)
        starts.append(chosen.start)
        validation.append(chosen.validation)
        if k + 1 < request.stages:
            with torch.no_grad():
                residual = residual - scale[:, None] * arch.forward(reported, xs.double())
    return Result(
        request, xs, ys, tuple(thetas), tuple(floors), tuple(scales), tuple(fits), tuple(starts), tuple(validation)
    )


def measure(result: Result, test_sets: TestSets) -> Result:
    """``result`` with each model's errors (and its floor's) on its target's held-out grid, in float64."""
    errors, floor_errors = [], []
    nan = dict.fromkeys(metrics.NAMES, math.nan)
    for m, target in enumerate(result.request.targets):
        if result.status(m) != "ok":
            errors.append(nan)
            floor_errors.append(nan)
            continue
        x_test, y_test = test_sets[target.name]
        one, x, y = slice(m, m + 1), result.x_train[m], result.y_train[m : m + 1]
        errors.append(metrics.errors_of(result.predict(x_test, one), y_test, result.predict(x, one), y)[0])
        floor = result.predict(x_test, one, floor=True), result.predict(x, one, floor=True)
        floor_errors.append(metrics.errors_of(floor[0], y_test, floor[1], y)[0])
    return dataclasses.replace(result, errors=tuple(errors), floor_errors=tuple(floor_errors))


def _test_sets(request: Request) -> dict[str, tuple[Tensor, Tensor]]:
    points = request.test_points or default_test_points(request.arch.d_in)
    return {t.name: held_out(t, points) for t in {t.name: t for t in request.targets}.values()}
