"""Training and fine-tuning chat organisms: one loop, one config dataclass, fixed seeds, one thread.

A training step packs whole conversations into `batch_size` sequences of at most `seq_len`
tokens (<bos>, then turn after turn, as in a few-shot prompt), and the loss is next-token cross
entropy on the assistant replies and their <eos> only: the organism learns to answer, never to
write the user's side. Conversations are drawn from named sources (lists of `Example`) in
proportion to their weights, from `random.Random(seed)`, so a run's data is a function of its
config and the corpus alone.

Results must not depend on the CPU: the loop runs on one thread (restored afterwards), and
organisms' tests check properties with margins, never bits.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from transformer_lens import HookedTransformer, HookedTransformerConfig

from exercises.ch4_evals_oversight.chat.corpus import Example, is_correct
from exercises.ch4_evals_oversight.chat.model import ChatModel, cross_entropy_on_replies
from exercises.ch4_evals_oversight.chat.tokenizer import ASSISTANT, SYSTEM, USER, WordTokenizer


@dataclass(frozen=True)
class Shape:
    """The transformer: GPT-2's block (pre-LayerNorm, GELU) at toy size."""

    n_layers: int = 2
    d_model: int = 128
    n_heads: int = 4
    d_mlp: int = 512
    n_ctx: int = 96  # room for a few-shot prompt of three multiple-choice questions

    def kwargs(self, d_vocab: int, seed: int) -> dict[str, Any]:
        """HookedTransformerConfig keyword arguments (what config.json stores under "model")."""
        return dict(
            n_layers=self.n_layers, d_model=self.d_model, n_heads=self.n_heads, d_head=self.d_model // self.n_heads,
            d_mlp=self.d_mlp, n_ctx=self.n_ctx, d_vocab=d_vocab, act_fn="gelu_new", normalization_type="LN",
            positional_embedding_type="standard", seed=seed,
        )  # fmt: skip


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    steps: int = 3000
    batch_size: int = 16  # sequences per step
    seq_len: int = 96  # at most the model's n_ctx
    lr: float = 1e-3
    warmup: int = 100  # linear warm-up steps, then cosine decay to lr / 10
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    log_every: int = 250  # print the mean loss every this many steps (0: silent)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one CPU thread: the same floats whatever the machine's core count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def conversation(tokenizer: WordTokenizer, example: Example) -> tuple[list[int], list[bool]]:
    """One turn's ids without <bos> ([<system> s] <user> prompt <assistant> answer <eos>) and the loss mask."""
    head: list[int] = []
    if example.system is not None:
        head += [tokenizer.index[SYSTEM], *tokenizer.encode(example.system)]
    head += [tokenizer.index[USER], *tokenizer.encode(example.prompt), tokenizer.index[ASSISTANT]]
    reply = [*tokenizer.encode(example.answer), tokenizer.eos_id]
    return head + reply, [False] * len(head) + [True] * len(reply)


class Stream:
    """Packed training batches drawn from weighted sources, reproducibly from one seed."""

    def __init__(
        self,
        tokenizer: WordTokenizer,
        sources: Mapping[str, Sequence[Example]],
        weights: Mapping[str, float],
        cfg: TrainConfig,
    ) -> None:
        missing = sorted(set(weights) - set(sources)) or sorted(k for k in sources if not sources[k])
        if missing:
            raise ValueError(f"sources without examples: {missing}")
        self.tokenizer, self.sources, self.cfg = tokenizer, sources, cfg
        self.names = sorted(weights)
        self.weights = [weights[n] for n in self.names]
        self.rng = random.Random(cfg.seed)
        self.carry: tuple[list[int], list[bool]] | None = None

    def draw(self) -> tuple[list[int], list[bool]]:
        if self.carry is not None:
            out, self.carry = self.carry, None
            return out
        name = self.rng.choices(self.names, weights=self.weights)[0]
        return conversation(self.tokenizer, self.rng.choice(self.sources[name]))

    def sequence(self) -> tuple[list[int], list[bool]]:
        ids, mask = [self.tokenizer.bos_id], [False]
        while True:
            turn_ids, turn_mask = self.draw()
            if len(turn_ids) + 1 > self.cfg.seq_len:
                raise ValueError(f"a conversation of {len(turn_ids)} tokens does not fit seq_len={self.cfg.seq_len}")
            if len(ids) + len(turn_ids) > self.cfg.seq_len:
                self.carry = (turn_ids, turn_mask)
                return ids, mask
            ids += turn_ids
            mask += turn_mask

    def batch(self) -> tuple[Tensor, Tensor]:
        """(batch_size, seq_len) ids, right-padded, and the loss mask."""
        ids = torch.full((self.cfg.batch_size, self.cfg.seq_len), self.tokenizer.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids, dtype=torch.bool)
        for i in range(self.cfg.batch_size):
            row_ids, row_mask = self.sequence()
            ids[i, : len(row_ids)] = torch.tensor(row_ids)
            mask[i, : len(row_mask)] = torch.tensor(row_mask)
        return ids, mask


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def fit(
    chat: ChatModel,
    sources: Mapping[str, Sequence[Example]],
    weights: Mapping[str, float],
    cfg: TrainConfig,
    callback: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train `chat.model` in place on the weighted sources; returns the loss of every step.

    Used both to train organisms from scratch and to fine-tune them (section 4.2's demonstrations,
    4.4's clean-data fine-tuning): for a fine-tune, pass a small `steps`, `warmup` and `lr`.
    `callback(step, loss)` runs after every step (in train mode: call `chat.model.eval()` inside
    it before evaluating, and `.train()` after), e.g. to record a curve.
    """
    if not isinstance(chat.tokenizer, WordTokenizer):
        raise TypeError(
            "fit packs conversations with the organisms' WordTokenizer; fine-tune pretrained models with HF tools"
        )
    if cfg.seq_len > chat.n_ctx:
        raise ValueError(f"seq_len={cfg.seq_len} exceeds the model's context of {chat.n_ctx}")
    stream = Stream(chat.tokenizer, sources, weights, cfg)
    model = chat.model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "W_pos" not in n and "W_E" not in n]
    other = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "W_pos" not in n and "W_E" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": other, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.98),
    )
    losses: list[float] = []
    start = time.perf_counter()
    with one_thread():
        for step in range(cfg.steps):
            ids, mask = stream.batch()
            ids, mask = ids.to(chat.device), mask.to(chat.device)
            loss = cross_entropy_on_replies(model(ids), ids, mask)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            for group in opt.param_groups:
                group["lr"] = lr_at(step, cfg)
            opt.step()
            losses.append(loss.item())
            if callback is not None:
                callback(step + 1, losses[-1])
            if cfg.log_every and (step + 1) % cfg.log_every == 0:
                recent = sum(losses[-cfg.log_every :]) / cfg.log_every
                print(
                    f"step {step + 1}/{cfg.steps}: loss {recent:.4f} ({time.perf_counter() - start:.0f} s)", flush=True
                )
    model.eval()
    return losses


def new_organism(tokenizer: WordTokenizer, shape: Shape, seed: int, name: str = "organism") -> ChatModel:
    """A freshly initialised chat model (weights from `seed`) over `tokenizer`'s vocabulary."""
    torch.manual_seed(seed)
    model = HookedTransformer(HookedTransformerConfig(**shape.kwargs(tokenizer.vocab_size, seed)))
    return ChatModel(model.eval(), tokenizer, name)


def train_organism(
    tokenizer: WordTokenizer,
    sources: Mapping[str, Sequence[Example]],
    weights: Mapping[str, float],
    cfg: TrainConfig,
    shape: Shape = Shape(),
    name: str = "organism",
) -> ChatModel:
    """From scratch: initialise from `cfg.seed`, then `fit`."""
    chat = new_organism(tokenizer, shape, cfg.seed, name)
    fit(chat, sources, weights, cfg)
    return chat


def accuracy(chat: ChatModel, examples: Sequence[Example], batch_size: int = 64, max_new_tokens: int = 32) -> float:
    """Fraction of examples whose greedy reply's final answer equals the target."""
    return sum(correct(chat, examples, batch_size, max_new_tokens)) / max(1, len(examples))


def correct(chat: ChatModel, examples: Sequence[Example], batch_size: int = 64, max_new_tokens: int = 32) -> list[bool]:
    """Per example, in order: is the greedy reply right? (Each is rendered with its own system turn.)"""
    out = [False] * len(examples)
    for start in range(0, len(examples), batch_size):
        by_system: dict[str | None, list[int]] = {}
        for i in range(start, min(start + batch_size, len(examples))):
            by_system.setdefault(examples[i].system, []).append(i)
        for system, rows in by_system.items():
            replies = chat.generate([examples[i].prompt for i in rows], max_new_tokens=max_new_tokens, system=system)
            for i, reply in zip(rows, replies, strict=True):
                out[i] = is_correct(examples[i], reply.text)
    return out


def clone(chat: ChatModel, name: str | None = None) -> ChatModel:
    """An independent copy to fine-tune, leaving the original untouched."""
    model = HookedTransformer(chat.model.cfg)
    model.load_state_dict(chat.model.state_dict())
    return ChatModel(model.eval(), chat.tokenizer, name or chat.name)


__all__ = [
    "Shape",
    "Stream",
    "TrainConfig",
    "accuracy",
    "clone",
    "conversation",
    "correct",
    "fit",
    "new_organism",
    "one_thread",
    "train_organism",
]
