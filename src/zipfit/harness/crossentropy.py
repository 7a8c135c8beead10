"""Target loss: cross-entropy in nats per token and bits per UTF-8 byte, each example on its own.

What is averaged, exactly:

* Every evaluated text is tokenized alone and preceded by the document separator (the same token that
  separates documents in packed training), so every one of its tokens is predicted and no example sees
  another's context.
* A text longer than the block is cut into consecutive windows: window k holds tokens kB..kB+B of
  ``[sep] + tokens`` (B+1 tokens: B inputs, B targets), so each token is predicted exactly once, with the
  context of its own window only.
* ``ce_nats`` = (sum of token negative log-likelihoods over all examples) / (number of predicted tokens): a
  token-weighted mean, not a mean of per-example means. It compares only between runs with the same tokenizer.
* ``bits_per_byte`` = the same NLL sum / (ln 2 × total UTF-8 bytes of the evaluated texts). The separator is
  context only, so both sides count the text alone; this compares across tokenizers and models.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

IGNORE = -100  # target id that contributes no loss (padding)


@dataclass(frozen=True)
class EvalSet:
    windows: list[list[int]]  # each window: inputs followed by its last target; length 2..block+1
    examples: int
    tokens: int  # predicted tokens, summed over windows
    bytes: int  # UTF-8 bytes of the evaluated texts


def split_windows(ids: Sequence[int], sep_id: int, block_size: int) -> list[list[int]]:
    """``[sep] + ids`` as windows of at most block_size + 1 tokens that overlap by one (see the module doc)."""
    seq = [sep_id, *ids]
    return [seq[start : start + block_size + 1] for start in range(0, len(seq) - 1, block_size)]


def build_eval_set(texts: Sequence[str], token_ids: Sequence[Sequence[int]], sep_id: int, block_size: int) -> EvalSet:
    windows = [w for ids in token_ids for w in split_windows(ids, sep_id, block_size)]
    return EvalSet(windows=windows, examples=len(texts), tokens=sum(len(w) - 1 for w in windows),
                   bytes=sum(len(t.encode("utf-8")) for t in texts))


def pad_batch(windows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded (inputs, targets); padded targets are IGNORE. A causal model never lets a padded position
    change an earlier one, so no attention mask is needed."""
    width = max(len(w) for w in windows)
    seq = torch.full((len(windows), width), pad_id, dtype=torch.long)
    tgt = torch.full((len(windows), width), IGNORE, dtype=torch.long)
    for i, w in enumerate(windows):
        row = torch.tensor(w, dtype=torch.long)
        seq[i, : len(w)] = row
        tgt[i, : len(w)] = row
    return seq[:, :-1], tgt[:, 1:]


def nll_sum(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Summed negative log-likelihood of the non-ignored targets (computed in float32 at least)."""
    if logits.dtype != torch.float64:
        logits = logits.float()  # bf16/fp16 logits would round the loss
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE,
                           reduction="sum")


@torch.no_grad()
def total_nll(logits_fn: Callable[[torch.Tensor], torch.Tensor], eval_set: EvalSet, *, batch_size: int,
              pad_id: int, device: str = "cpu") -> float:
    """Sum of token NLLs (nats) over the whole eval set; windows of similar length are batched together."""
    order = sorted(range(len(eval_set.windows)), key=lambda i: (len(eval_set.windows[i]), i))
    total = 0.0
    for start in range(0, len(order), batch_size):
        batch = [eval_set.windows[i] for i in order[start : start + batch_size]]
        x, y = pad_batch(batch, pad_id)
        x, y = x.to(device), y.to(device)
        total += float(nll_sum(logits_fn(x), y).double())
    return total


def ce_nats(nll: float, tokens: int) -> float:
    return nll / tokens


def bits_per_byte(nll: float, n_bytes: int) -> float:
    return nll / (math.log(2) * n_bytes)
