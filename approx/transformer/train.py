"""Training loop for the transformer study: AdamW, linear warmup then cosine decay, clipping.

Every activation is trained with the same ``seed``: the same initial weights wherever the shapes
agree, and the same batches in the same order (``approx.transformer.data.random_batches`` depends on the seed only).
On CUDA the forward runs under bf16 autocast. An MoE model also minimises its auxiliary losses;
the logged losses are the cross-entropy alone. Logged: the loss, learning rate and gradient norm of
every step; validation loss and perplexity every ``eval_interval`` steps on a fixed validation set;
the learned PolyCom coefficients at each evaluation; tokens per second of the training steps alone.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from approx.transformer import analysis as lm_analysis
from approx.transformer import memory as lm_memory
from approx.transformer.data import Corpus, fixed_batches, random_batches
from approx.transformer.transformer import Transformer


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 200
    batch_size: int = 16
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup: int = 20
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_interval: int = 50
    eval_batches: int = 8
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self):
        for name in ("steps", "batch_size", "eval_interval", "eval_batches"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"train.{name} must be a positive integer, got {v!r}")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or not 0 <= self.warmup < self.steps:
            raise ValueError(f"train.warmup must be an integer in 0..steps-1, got {self.warmup!r}")
        if not (isinstance(self.lr, int | float) and self.lr > 0) or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"train.lr must be > 0 and min_lr_ratio in [0, 1], got {self.lr!r}, {self.min_lr_ratio!r}")
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be cpu or cuda, got {self.device!r}")

    @property
    def bf16(self) -> bool:
        return self.device.startswith("cuda")


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup over ``warmup`` steps to ``lr``, then cosine decay to ``min_lr_ratio · lr`` at the end."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - 1 - cfg.warmup)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + 0.5 * (cfg.lr - floor) * (1 + math.cos(math.pi * progress))


def make_optimizer(model: Transformer, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices only (not on norms' gains or PolyCom coefficients)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95))


def _autocast(cfg: TrainConfig):
    return torch.autocast("cuda", dtype=torch.bfloat16) if cfg.bf16 else contextlib.nullcontext()


@torch.no_grad()
def evaluate(model: Transformer, batches: list[tuple[Tensor, Tensor]], cfg: TrainConfig) -> float:
    """Mean next-byte cross-entropy (nats) over fixed batches."""
    model.eval()
    losses = []
    for x, y in batches:
        with _autocast(cfg):
            losses.append(float(model(x.to(cfg.device), y.to(cfg.device))[1]))
    model.train()
    return sum(losses) / len(losses)


@dataclass
class TrainLog:
    steps: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    coefficients: list[dict] = field(default_factory=list)
    tokens_per_second: float = 0.0
    train_seconds: float = 0.0
    saved_bytes_per_step: int = 0
    cuda_peak_bytes: int | None = None


def train(model: Transformer, corpus: Corpus, cfg: TrainConfig, log: Callable[[str], None] = print) -> TrainLog:
    """Train ``model`` in place on ``corpus.train``; evaluate on a fixed slice of ``corpus.val``."""
    context = model.cfg.context
    model.to(cfg.device).train()
    opt = make_optimizer(model, cfg)
    batches = random_batches(corpus.train, cfg.batch_size, context, cfg.seed)
    val = fixed_batches(corpus.val, cfg.eval_batches, cfg.batch_size, context)
    out = TrainLog()
    x, y = next(random_batches(corpus.train, cfg.batch_size, context, cfg.seed))
    out.saved_bytes_per_step = lm_memory.training_step_saved_bytes(model, x.to(cfg.device), y.to(cfg.device))

    def record(step: int, train_loss: float) -> None:
        val_loss = evaluate(model, val, cfg)
        out.evals.append({"step": step, "train_loss": train_loss, "val_loss": val_loss, "val_ppl": math.exp(val_loss)})
        out.coefficients.append({"step": step, "layers": lm_analysis.coefficients(model)})
        log(f"  step {step:5d}  train {train_loss:.4f}  val {val_loss:.4f}  ppl {math.exp(val_loss):.3f}")

    record(0, float("nan"))
    if cfg.bf16:
        torch.cuda.reset_peak_memory_stats(cfg.device)
    recent: list[float] = []
    for step in range(1, cfg.steps + 1):
        t0 = time.perf_counter()
        lr = lr_at(step - 1, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        x, y = next(batches)
        x, y = x.to(cfg.device, non_blocking=True), y.to(cfg.device, non_blocking=True)
        with _autocast(cfg):
            _, loss = model(x, y)
            objective = loss + model.aux_loss()  # MoE load-balance and z-losses; 0 for a dense model
        opt.zero_grad(set_to_none=True)
        objective.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        loss_value = float(loss.detach())  # syncs on CUDA, so the timing below is honest
        if not math.isfinite(loss_value):
            raise FloatingPointError(f"loss became {loss_value} at step {step}")
        out.train_seconds += time.perf_counter() - t0
        out.steps.append({"step": step, "loss": loss_value, "lr": lr, "grad_norm": float(grad_norm)})
        recent = (recent + [loss_value])[-cfg.eval_interval :]
        if step % cfg.eval_interval == 0 or step == cfg.steps:
            record(step, sum(recent) / len(recent))
    out.tokens_per_second = cfg.steps * cfg.batch_size * context / out.train_seconds
    if cfg.bf16:
        out.cuda_peak_bytes = int(torch.cuda.max_memory_allocated(cfg.device))
    return out
