"""Fine-tuning: the bundled MiniLM with a one-logit head, BCE loss, seeded; on the GPU when there is one."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

from assistant.training.pairs import Pair


def fine_tune(
    pairs: list[Pair], base: Path, seed: int, epochs: float, batch_size: int, max_length: int, learning_rate: float, log
):
    """A one-logit cross-encoder from the base weights, trained with BCE; returns (model, tokenizer).

    A plain torch loop rather than sentence-transformers' CrossEncoderTrainer: that one needs the
    `datasets` and `accelerate` packages, and bf16 autocast on the CPU is one line here.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=1).to(device)
    steps = max(1, math.ceil(len(pairs) * epochs / batch_size))
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min((step + 1) / warmup, max(0.0, (steps - step) / max(1, steps - warmup)))
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    order_rng = random.Random(seed)
    order: list[int] = []
    model.train()
    started = time.perf_counter()
    for step in range(steps):
        while len(order) < batch_size:
            epoch_order = list(range(len(pairs)))
            order_rng.shuffle(epoch_order)
            order += epoch_order
        batch, order = [pairs[i] for i in order[:batch_size]], order[batch_size:]
        features = tokenizer(
            [p.question for p in batch],
            [p.sentence for p in batch],
            truncation="longest_first",
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        ).to(device)
        labels = torch.tensor([float(p.label) for p in batch], device=device)
        with torch.autocast(device_type=device, dtype=torch.bfloat16):
            logits = model(**features).logits.squeeze(-1)
        loss = loss_fn(logits.float(), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        if step % 50 == 0 or step == steps - 1:
            rate = (step + 1) * batch_size / (time.perf_counter() - started)
            log(f"step {step + 1}/{steps}  loss {loss.item():.4f}  {rate:.0f} pairs/s")
    model.eval()
    return model.cpu().float(), tokenizer
