"""The resumable training loop both trained models share (span.py, verifier.py).

A run outlives a sitting on a 2-core CPU, so every ``checkpoint_every`` steps the weights, the optimiser,
the schedule and the RNG state are written atomically into the checkpoint folder (outside git), and the
data order is a function of the seed and the step: a run started again with the same folder and recipe
continues from its last checkpoint and ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=2)
def _permutation(n: int, seed: int, epoch: int) -> tuple[int, ...]:
    order = list(range(n))
    random.Random(f"{seed}-{epoch}").shuffle(order)
    return tuple(order)


def batch_order(n: int, seed: int, step: int, batch_size: int) -> list[int]:
    """The examples of a step: epoch e is a permutation seeded by (seed, e), so a resumed run needs only the step."""
    epoch, offset = divmod(step * batch_size, n)
    batch: list[int] = []
    while len(batch) < batch_size:
        batch += _permutation(n, seed, epoch)[offset : offset + batch_size - len(batch)]
        epoch, offset = epoch + 1, 0
    return batch


def train_resumable(
    model,
    examples: list,
    folder: Path,
    identity: dict,
    loss_of: Callable,
    *,
    seed: int,
    epochs: float,
    batch_size: int,
    learning_rate: float,
    checkpoint_every: int,
    bf16: bool = False,
    unit: str = "examples",
    log=print,
):
    """Train ``model`` on ``examples`` (``loss_of(model, batch)`` gives a batch's loss) with AdamW, a linear
    warm-up and decay; continue from ``folder/checkpoint.pt`` when its identity matches; returns the model."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    steps = max(1, math.ceil(len(examples) * epochs / batch_size))
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    checkpoint = folder / "checkpoint.pt"
    step = 0
    if checkpoint.is_file():
        saved = torch.load(checkpoint, weights_only=False)
        if saved["identity"] != identity:
            raise ValueError(f"{checkpoint} belongs to another run ({saved['identity']}); use another folder")
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        schedule.load_state_dict(saved["schedule"])
        torch.set_rng_state(saved["rng"])
        step = saved["step"]
        log(f"continuing from step {step} of {steps} ({checkpoint})")
    model.train()
    started, first_step = time.perf_counter(), step
    while step < steps:
        batch = [examples[i] for i in batch_order(len(examples), seed, step, batch_size)]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = loss_of(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        step += 1
        if step % checkpoint_every == 0 or step == steps:
            state = {"identity": identity, "step": step, "model": model.state_dict(), "optimiser": optimiser.state_dict(),
                     "schedule": schedule.state_dict(), "rng": torch.get_rng_state()}  # fmt: skip
            partial = checkpoint.with_suffix(f".{os.getpid()}.partial")
            torch.save(state, partial)
            partial.replace(checkpoint)  # atomic: a kill never leaves half a checkpoint
            rate = (step - first_step) * batch_size / (time.perf_counter() - started)
            eta = (steps - step) * batch_size / max(rate, 1e-9)
            log(f"step {step}/{steps}  loss {loss.item():.3f}  {rate:.1f} {unit}/s  ETA {eta / 60:.0f} min")
    model.eval()
    return model
