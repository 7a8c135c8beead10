"""Train a causal LM on selected documents and record its target cross-entropy as training tokens accrue.

``train_eval`` is the one call: it builds the model (a from-scratch tiny GPT or a local pretrained model),
packs the training texts into blocks in a seeded order, trains with AdamW, and evaluates the target texts at
0 tokens and every ``eval_every`` training tokens (see ``zipfit.harness.crossentropy`` for exactly what is
averaged). ``write_curve`` writes the curve as CSV, JSON and a PNG plot.

Only this module's functions import torch, so the dataclasses load without the ``train`` extra.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import os
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from zipfit.errors import ZipfitError
from zipfit.harness.extras import need
from zipfit.harness.tokenizer import TextTokenizer, load_tokenizer, train_tokenizer
from zipfit.io import atomic_output, check_output, write_json

__all__ = ["EvalPoint", "TrainConfig", "TrainResult", "check_device", "curve_paths", "train_eval", "train_tokenizer",
           "write_curve"]

log = logging.getLogger("zipfit")

TINY_GPT = "tiny-gpt"
TINY_LR = 1e-3  # from scratch: high, with warmup and cosine decay
PRETRAINED_LR = 5e-6  # fine-tuning, within the paper's 1e-6..7.5e-6
PRECISIONS = ("fp32", "bf16")
DEFAULT_EVAL_POINTS = 10
CURVE_SUFFIXES = (".csv", ".json", ".png")


@dataclass
class TrainConfig:
    model: str = TINY_GPT  # or a path to a Hugging Face model directory or a .gguf file
    tokenizer: str | None = None  # tiny-gpt only: None = train a BPE on the train texts; "bytes"; or a tokenizer.json
    vocab_size: int = 8192  # for the BPE trained when tokenizer is None
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 256
    block_size: int = 256  # tokens per training block and evaluation window (capped by a pretrained model's)
    max_tokens: int | None = None  # training tokens; None = one epoch
    batch_size: int = 8  # blocks per optimizer step
    lr: float | None = None  # peak learning rate; None = 1e-3 for tiny-gpt, 5e-6 for a pretrained model
    weight_decay: float = 0.01  # on matrices and embeddings only, not on biases and norms
    grad_clip: float = 1.0  # max gradient norm; 0 = no clipping
    warmup: float = 0.05  # fraction of the steps with a linear warm-up (at least one step)
    min_lr_ratio: float = 0.1  # cosine decay ends at this fraction of the peak
    eval_every: int | None = None  # training tokens between evaluations; None = ~10 points
    eval_max_examples: int | None = None  # evaluate on the first N examples only
    eval_batch_size: int = 8  # windows per evaluation forward pass
    device: str = "cpu"  # or cuda, cuda:N
    precision: str = "fp32"  # or "bf16": forward passes under bfloat16 autocast (losses still summed in float32)
    seed: int = 0  # model initialisation (tiny-gpt) and the order of training blocks
    threads: int | None = None  # torch CPU threads during the run (None = torch's default)


@dataclass
class EvalPoint:
    tokens: int  # training tokens seen before this evaluation
    step: int  # optimizer steps taken
    ce_nats: float  # mean NLL per predicted target token (nats)
    bits_per_byte: float  # summed NLL / (ln 2 × UTF-8 bytes of the evaluated texts)
    seconds: float  # training time so far, evaluations excluded


@dataclass
class TrainResult:
    curve: list[EvalPoint]
    model: str
    parameters: int
    train_tokens: int  # tokens actually trained on
    eval_tokens: int  # predicted tokens per evaluation
    eval_bytes: int  # UTF-8 bytes per evaluation
    seconds: float  # wall time of the whole call: loading, tokenizing, training and evaluating
    config: dict  # TrainConfig as given, plus the values resolved from it (lr, eval_every, block_size, ...)
    tokenizer: str = ""
    train_documents: int = 0
    eval_examples: int = 0
    epoch_tokens: int = 0  # tokens in one pass over the training texts
    train_seconds: float = 0.0  # optimizer steps only
    eval_seconds: float = 0.0  # all evaluations
    load_seconds: float = 0.0  # model and tokenizer loading or training, tokenizing

    @property
    def final(self) -> EvalPoint:
        return self.curve[-1]

    @property
    def train_tokens_per_second(self) -> float:
        return self.train_tokens / self.train_seconds if self.train_seconds else 0.0

    @property
    def eval_tokens_per_second(self) -> float:
        return self.eval_tokens * len(self.curve) / self.eval_seconds if self.eval_seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["train_tokens_per_second"] = self.train_tokens_per_second
        out["eval_tokens_per_second"] = self.eval_tokens_per_second
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainResult:
        """Inverse of to_dict (e.g. a curve's JSON file); unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["curve"] = [EvalPoint(**p) for p in data["curve"]]
        return cls(**kwargs)


# ---- the run ---------------------------------------------------------------------------------------------


def _check_config(c: TrainConfig) -> None:
    positive = {"vocab_size": c.vocab_size, "n_layer": c.n_layer, "n_head": c.n_head, "d_model": c.d_model,
                "block_size": c.block_size, "batch_size": c.batch_size, "eval_batch_size": c.eval_batch_size}
    optional = {"max_tokens": c.max_tokens, "eval_every": c.eval_every, "eval_max_examples": c.eval_max_examples,
                "threads": c.threads}
    for name, value in {**positive, **{k: v for k, v in optional.items() if v is not None}}.items():
        if not isinstance(value, int) or value < 1:
            raise ZipfitError(f"{name} must be a positive integer, got {value!r}")
    if c.lr is not None and not (c.lr > 0 and math.isfinite(c.lr)):
        raise ZipfitError(f"lr must be a positive number, got {c.lr!r}")
    for name, value in {"weight_decay": c.weight_decay, "grad_clip": c.grad_clip}.items():
        if not (value >= 0 and math.isfinite(value)):
            raise ZipfitError(f"{name} must be a non-negative number, got {value!r}")
    if not 0 <= c.warmup < 1 or not 0 <= c.min_lr_ratio <= 1:
        raise ZipfitError(f"warmup must be in [0, 1) and min_lr_ratio in [0, 1], got {c.warmup}, {c.min_lr_ratio}")
    if c.precision not in PRECISIONS:
        raise ZipfitError(f"precision must be one of {', '.join(PRECISIONS)}, got {c.precision!r}")
    if c.model == TINY_GPT and c.d_model % c.n_head:
        raise ZipfitError(f"d_model {c.d_model} must be a multiple of n_head {c.n_head}")


def _texts(texts: Sequence[str], what: str) -> list[str]:
    kept = [t for t in texts if isinstance(t, str) and t.strip()]
    if len(kept) < len(texts):
        log.warning("ignored %d empty or non-string %s texts", len(texts) - len(kept), what)
    if not kept:
        raise ZipfitError(f"the {what} set is empty: nothing to {'train on' if what == 'training' else 'evaluate'}")
    return kept


def _lr_at(step: int, steps: int, peak: float, warmup_steps: int, min_ratio: float) -> float:
    """Linear warm-up to `peak`, then cosine decay to `min_ratio * peak` at the last step."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    span = max(steps - warmup_steps - 1, 1)
    progress = min((step - warmup_steps) / span, 1.0)
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


class _Model:
    """A model, its tokenizer and how to get logits, the same for the tiny GPT and a pretrained model."""

    def __init__(self, module: Any, tokenizer: TextTokenizer, name: str, block_size: int, pretrained: bool) -> None:
        self.module = module
        self.tokenizer = tokenizer
        self.name = name
        self.block_size = block_size
        self.pretrained = pretrained

    def logits(self, ids: Any) -> Any:
        out = self.module(ids)
        return out if not self.pretrained else out.logits


def _build_model(config: TrainConfig, train_texts: Sequence[str], workdir: Path) -> _Model:
    import torch

    if config.model != TINY_GPT:
        from zipfit.harness import hf

        if config.tokenizer is not None:
            log.warning("--tokenizer applies to tiny-gpt only; %s uses its own tokenizer", config.model)
        module, tok = hf.load(config.model, config.device)
        block = config.block_size
        limit = hf.max_positions(module)
        if limit is not None and block > limit:
            log.warning("block size %d is longer than %s's %d positions; using %d", block, config.model, limit, limit)
            block = limit
        return _Model(module, tok, config.model, block, pretrained=True)

    from zipfit.harness.model import GPTConfig, TinyGPT

    if config.tokenizer is None:
        path = train_tokenizer(train_texts, config.vocab_size, workdir / "tokenizer.json")
        tok = load_tokenizer(path)
        tok.name = f"bpe-{config.vocab_size} trained on the training texts"
    else:
        tok = load_tokenizer(config.tokenizer)
    torch.manual_seed(config.seed)
    # on a GPU the weights are drawn there: drawing 91M of them on the CPU takes 1-3 s, and an experiment builds a
    # model per run (so a seed's initial weights differ between the CPU and a GPU)
    device = torch.device(config.device)
    with device if device.type != "cpu" else contextlib.nullcontext():
        gpt = TinyGPT(GPTConfig(vocab_size=tok.vocab_size, n_layer=config.n_layer, n_head=config.n_head,
                                d_model=config.d_model, block_size=config.block_size))
    return _Model(gpt.to(device), tok, TINY_GPT, config.block_size, pretrained=False)


def _optimizer(module: Any, lr: float, weight_decay: float, pretrained: bool, device: str) -> Any:
    import torch

    params = [p for p in module.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # from scratch: beta2 0.95 as GPT pretraining uses; fine-tuning: AdamW's defaults, as the HF Trainer
    betas = (0.9, 0.999) if pretrained else (0.9, 0.95)
    # on a GPU one fused kernel updates every parameter; the CPU keeps the default (for-each) implementation, so
    # its results stay exactly what they were
    fused = True if torch.device(device).type == "cuda" else None
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=fused)


def _autocast(device: str, precision: str) -> Any:
    """The context of every forward pass: bfloat16 autocast for precision "bf16", nothing for "fp32"."""
    import torch

    if precision == "bf16":
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def check_device(device: str) -> None:
    """A device torch knows and can use here, or one ZipfitError line (before any data is read or trained on)."""
    torch = need("torch")

    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ZipfitError(f"unknown device {device!r}: use cpu or cuda (cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ZipfitError(f"device {device} asked for, but torch sees no CUDA GPU")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ZipfitError(f"device {device} asked for, but torch sees {torch.cuda.device_count()} CUDA GPU(s) "
                          f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})")


def train_eval(
    train_texts: Sequence[str],
    eval_texts: Sequence[str],
    config: TrainConfig,
    *,
    progress: bool | None = None,
) -> TrainResult:
    """Train on `train_texts`, evaluating target cross-entropy on `eval_texts` at 0 tokens and every
    `config.eval_every` training tokens; deterministic for a given config (seed) and thread count."""
    start = time.perf_counter()
    _check_config(config)
    torch = need("torch")
    check_device(config.device)
    train_texts = _texts(train_texts, "training")
    eval_texts = _texts(eval_texts, "evaluation")
    if config.eval_max_examples is not None:
        eval_texts = eval_texts[: config.eval_max_examples]
    previous_threads = torch.get_num_threads()
    with ExitStack() as stack:
        if config.threads is not None:
            torch.set_num_threads(config.threads)
            stack.callback(torch.set_num_threads, previous_threads)
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="zipfit-train-")))
        return _run(train_texts, eval_texts, config, workdir, progress, start)


def _run(train_texts: list[str], eval_texts: list[str], config: TrainConfig, workdir: Path,
         progress: bool | None, start: float) -> TrainResult:
    import torch
    import torch.nn.functional as F

    from zipfit.harness import crossentropy as xe
    from zipfit.harness.packing import Blocks, batch_plan, pack
    from zipfit.progress import progress_bar

    lm = _build_model(config, train_texts, workdir)
    tok, device, block = lm.tokenizer, config.device, lm.block_size
    eval_set = xe.build_eval_set(eval_texts, tok.encode_batch(eval_texts), tok.eos_id, block)
    blocks = Blocks(pack(tok.encode_batch(train_texts), tok.eos_id), block)
    plan = batch_plan(blocks, config.batch_size, config.max_tokens, config.seed)
    total_tokens = sum(n for batch in plan for _, n in batch)
    steps = len(plan)
    eval_every = config.eval_every or max(1, -(-total_tokens // DEFAULT_EVAL_POINTS))
    peak = config.lr if config.lr is not None else (PRETRAINED_LR if lm.pretrained else TINY_LR)
    warmup_steps = max(1, round(config.warmup * steps)) if config.warmup > 0 else 0
    parameters = sum(p.numel() for p in lm.module.parameters())
    load_seconds = time.perf_counter() - start
    if config.max_tokens is not None and config.max_tokens > blocks.targets:
        log.warning("the token budget %s is larger than the training set (%s tokens): it is repeated, reshuffled",
                    f"{config.max_tokens:,}", f"{blocks.targets:,}")
    log.info("%s: %s parameters, %s training tokens (%s in the data) in %d steps, %s target tokens per evaluation",
             lm.name, f"{parameters:,}", f"{total_tokens:,}", f"{blocks.targets:,}", steps, f"{eval_set.tokens:,}")

    curve: list[EvalPoint] = []
    seconds = {"train": 0.0, "eval": 0.0}

    def logits(ids: Any) -> Any:
        with _autocast(device, config.precision):
            return lm.logits(ids)

    def evaluate(tokens: int, step: int) -> EvalPoint:
        t0 = time.perf_counter()
        lm.module.eval()
        nll = xe.total_nll(logits, eval_set, batch_size=config.eval_batch_size, pad_id=tok.eos_id,
                           device=device)
        lm.module.train()
        seconds["eval"] += time.perf_counter() - t0
        point = EvalPoint(tokens=tokens, step=step, ce_nats=xe.ce_nats(nll, eval_set.tokens),
                          bits_per_byte=xe.bits_per_byte(nll, eval_set.bytes), seconds=seconds["train"])
        log.info("%s tokens: target CE %.4f nats/token, %.4f bits/byte", f"{tokens:,}", point.ce_nats,
                 point.bits_per_byte)
        curve.append(point)
        return point

    optimizer = _optimizer(lm.module, peak, config.weight_decay, lm.pretrained, device)
    torch.manual_seed(config.seed)  # dropout, if a pretrained model has any
    tokens = 0
    next_eval = eval_every
    with progress_bar(desc="train", total=total_tokens, unit="tok", enabled=progress) as bar:
        last = evaluate(0, 0)
        loss_avg: float | None = None
        for step, batch in enumerate(plan):
            t0 = time.perf_counter()
            x, y = xe.pad_batch([blocks.block(i, n) for i, n in batch], tok.eos_id)
            x, y = x.to(device), y.to(device)
            lr = _lr_at(step, steps, peak, warmup_steps, config.min_lr_ratio)
            for group in optimizer.param_groups:
                group["lr"] = lr
            out = logits(x)
            loss = F.cross_entropy(out.reshape(-1, out.shape[-1]).float(), y.reshape(-1), ignore_index=xe.IGNORE)
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(lm.module.parameters(), config.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise ZipfitError(f"training diverged at step {step + 1} (loss {value}); lower the learning rate")
            seconds["train"] += time.perf_counter() - t0
            n = sum(k for _, k in batch)
            tokens += n
            loss_avg = value if loss_avg is None else 0.9 * loss_avg + 0.1 * value
            if tokens >= next_eval or step == steps - 1:
                last = evaluate(tokens, step + 1)
                next_eval = (tokens // eval_every + 1) * eval_every
            bar.update(n)
            if hasattr(bar, "set_postfix_str"):
                bar.set_postfix_str(f"loss {loss_avg:.3f} target CE {last.ce_nats:.3f}", refresh=False)

    resolved = {"lr": peak, "eval_every": eval_every, "block_size": block, "steps": steps,
                "warmup_steps": warmup_steps, "vocab_size": tok.vocab_size, "separator_id": tok.eos_id,
                "tokenizer": tok.name, "threads": torch.get_num_threads()}
    return TrainResult(
        curve=curve, model=lm.name, parameters=parameters, train_tokens=tokens, eval_tokens=eval_set.tokens,
        eval_bytes=eval_set.bytes, seconds=time.perf_counter() - start,
        config={**asdict(config), "resolved": resolved}, tokenizer=tok.name, train_documents=len(train_texts),
        eval_examples=eval_set.examples, epoch_tokens=blocks.targets, train_seconds=seconds["train"],
        eval_seconds=seconds["eval"], load_seconds=load_seconds,
    )


# ---- output ----------------------------------------------------------------------------------------------


def curve_paths(prefix: str | os.PathLike) -> list[Path]:
    """PREFIX.csv, PREFIX.json, PREFIX.png."""
    return [Path(f"{os.fspath(prefix)}{suffix}") for suffix in CURVE_SUFFIXES]


def check_curve_outputs(prefix: str | os.PathLike, *, overwrite: bool,
                        inputs: Sequence[str | os.PathLike] = ()) -> list[Path]:
    """Refuse bad output paths before a long run rather than after it."""
    return [check_output(p, overwrite=overwrite, inputs=inputs, suffixes=(p.suffix,)) for p in curve_paths(prefix)]


def curve_csv(curve: Sequence[EvalPoint]) -> str:
    buf = io.StringIO()
    names = [f.name for f in fields(EvalPoint)]
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(names)
    for p in curve:
        writer.writerow([getattr(p, n) for n in names])
    return buf.getvalue()


def write_curve(result: TrainResult, prefix: str | Path, *, overwrite: bool = False,
                label: str | None = None) -> list[Path]:
    """Write PREFIX.csv (the curve), PREFIX.json (the whole result) and PREFIX.png (its plot), each atomically."""
    from zipfit.harness.plot import plot_curves

    csv_path, json_path, png_path = check_curve_outputs(prefix, overwrite=overwrite)
    label = label or Path(result.model).name
    with atomic_output(csv_path) as tmp:
        tmp.write_text(curve_csv(result.curve), encoding="utf-8")
    write_json(json_path, {"label": label, **result.to_dict()})
    plot_curves([(label, result.curve)], png_path, title=f"target loss while training {Path(result.model).name}")
    return [csv_path, json_path, png_path]

