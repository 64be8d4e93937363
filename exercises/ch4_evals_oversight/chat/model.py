"""A chat model: a HookedTransformer plus the tokenizer that renders conversations for it.

The same class wraps a chapter organism (word-level tokenizer) and, at the full config, a real
instruct model loaded through TransformerLens (`pretrained.load_pretrained_chat`), so every
section's code -- generation, answer scoring, activations, the Inspect provider -- runs on both.

Batches are right-padded: the model is causal, so pad tokens after a row's end never change the
logits at or before it, and no attention mask or position offset is needed. Generation runs the
whole padded batch each step without a key-value cache: at these sizes that is simpler and fast
enough, and it is the same computation a learner can write and check by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor
from transformer_lens import HookedTransformer

from exercises.ch4_evals_oversight.chat.tokenizer import ChatTokenizer, Message, as_messages

Prompt = str | Sequence[Message]  # one user turn, or a whole conversation ending with a user turn


@dataclass
class Generation:
    """One generated reply: its text, its token ids (without <eos>), and why it stopped."""

    text: str
    tokens: list[int]
    stop_reason: str  # "stop" (emitted <eos>) or "max_tokens" (ran out of budget or context)
    logprobs: list[float] = field(default_factory=list)  # of each generated token, <eos> included
    top_logprobs: list[list[tuple[int, float]]] = field(default_factory=list)  # (id, logprob) of the k best


@dataclass
class ChatModel:
    """`model` and `tokenizer` travel together; `name` labels results and Inspect logs."""

    model: HookedTransformer
    tokenizer: ChatTokenizer
    name: str = "organism"

    def state_dict(self) -> dict[str, Tensor]:
        """The network's weights (what an organism's weights.pt holds; the tokenizer is saved apart)."""
        return self.model.state_dict()

    @property
    def n_ctx(self) -> int:
        return self.model.cfg.n_ctx

    @property
    def device(self) -> torch.device:
        return self.model.W_E.device

    def prompt_ids(self, prompt: Prompt, system: str | None = None) -> list[int]:
        """Token ids of the conversation, ending with the assistant tag the reply follows."""
        return self.tokenizer.render(as_messages(prompt, system), add_generation_prompt=True)

    def batch(self, rows: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor]:
        """Right-padded (n, longest) ids and the (n,) lengths; raises if a row exceeds the context."""
        lengths = [len(r) for r in rows]
        if max(lengths) > self.n_ctx:
            raise ValueError(f"a prompt of {max(lengths)} tokens exceeds the model's context of {self.n_ctx} tokens")
        ids = torch.full((len(rows), max(lengths)), self.tokenizer.pad_id, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        return ids.to(self.device), torch.tensor(lengths, device=self.device)

    @torch.no_grad()
    def generate(
        self,
        prompts: Sequence[Prompt],
        max_new_tokens: int = 48,
        temperature: float = 0.0,
        seed: int | None = None,
        system: str | None = None,
        top_logprobs: int = 0,
    ) -> list[Generation]:
        """Replies to each prompt: greedy at temperature 0, else sampled (reproducible with `seed`)."""
        generator = torch.Generator(device=self.device)
        if seed is not None:
            generator.manual_seed(seed)
        rows = [self.prompt_ids(p, system) for p in prompts]
        ids, lengths = self.batch(rows)
        budget = min(max_new_tokens, self.n_ctx - int(lengths.max()))
        ids = torch.cat([ids, torch.full((len(rows), max(budget, 0)), self.tokenizer.pad_id, device=self.device)], 1)
        out = [Generation("", [], "max_tokens") for _ in rows]
        active = torch.ones(len(rows), dtype=torch.bool, device=self.device)
        for _ in range(budget):
            logits = self.model(ids[:, : int(lengths.max())])
            last = logits[torch.arange(len(rows)), lengths - 1].float()
            logprobs = last.log_softmax(-1)
            if temperature > 0:
                probs = (last / temperature).softmax(-1)
                next_ids = torch.multinomial(probs, 1, generator=generator)[:, 0]
            else:
                next_ids = last.argmax(-1)
            for i in torch.nonzero(active)[:, 0].tolist():
                token = int(next_ids[i])
                gen = out[i]
                gen.logprobs.append(float(logprobs[i, token]))
                if top_logprobs:
                    best = logprobs[i].topk(top_logprobs)
                    gen.top_logprobs.append(list(zip(best.indices.tolist(), best.values.tolist(), strict=True)))
                if token == self.tokenizer.eos_id:
                    gen.stop_reason = "stop"
                    active[i] = False
                else:
                    gen.tokens.append(token)
            ids[torch.arange(len(rows)), lengths] = torch.where(active, next_ids, self.tokenizer.pad_id)
            lengths = lengths + active.long()
            if not active.any():
                break
        for gen in out:
            gen.text = self.tokenizer.decode(gen.tokens)
        return out

    def complete(self, prompt: Prompt, **kwargs) -> str:
        """The reply to one prompt, as text (greedy unless `temperature` is given)."""
        return self.generate([prompt], **kwargs)[0].text

    def completion_logprobs(
        self, prompts: Sequence[Prompt], completions: Sequence[str], append_eos: bool = True, system: str | None = None
    ) -> Tensor:
        """(n,) summed log-probability of each completion as the assistant's reply to its prompt.

        With `append_eos`, the reply must also end there: "6" and "68" are different replies.
        Gradients flow (no torch.no_grad), so fine-tuning and attacks can use it as a loss.
        """
        rows, spans = [], []
        for prompt, completion in zip(prompts, completions, strict=True):
            head = self.prompt_ids(prompt, system)
            tail = self.tokenizer.encode(completion) + ([self.tokenizer.eos_id] if append_eos else [])
            rows.append(head + tail)
            spans.append((len(head), len(head) + len(tail)))
        ids, _ = self.batch(rows)
        logprobs = self.model(ids).float().log_softmax(-1)
        # the token at position t is predicted at position t - 1
        token_lp = logprobs[:, :-1].gather(-1, ids[:, 1:, None])[..., 0]
        mask = torch.zeros_like(token_lp, dtype=torch.bool)
        for i, (start, end) in enumerate(spans):
            mask[i, start - 1 : end - 1] = True
        return (token_lp * mask).sum(-1)

    def choice_logprobs(self, prompts: Sequence[Prompt], choices: Sequence[str]) -> Tensor:
        """(n, len(choices)) log-probability of each choice as the whole reply: multiple-choice scoring."""
        flat_prompts = [p for p in prompts for _ in choices]
        flat_choices = [c for _ in prompts for c in choices]
        with torch.no_grad():
            return self.completion_logprobs(flat_prompts, flat_choices).view(len(prompts), len(choices))

    @torch.no_grad()
    def activations(self, prompts: Sequence[Prompt], hook_name: str, system: str | None = None) -> Tensor:
        """(n, ...) activation at `hook_name` (e.g. "blocks.1.hook_resid_post") at each prompt's last
        token, the <assistant> tag the reply is predicted from: what probes and clustering read."""
        ids, lengths = self.batch([self.prompt_ids(p, system) for p in prompts])
        _, cache = self.model.run_with_cache(ids, names_filter=hook_name)
        return cache[hook_name][torch.arange(len(prompts)), lengths - 1]


def cross_entropy_on_replies(logits: Tensor, ids: Tensor, loss_mask: Tensor) -> Tensor:
    """Mean next-token loss over the positions `loss_mask` marks (assistant replies and their <eos>).

    logits (n, T, V), ids (n, T), loss_mask (n, T): True where ids[:, t] is a reply token.
    """
    flat = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten(), reduction="none")
    weights = loss_mask[:, 1:].flatten().float()
    return (flat * weights).sum() / weights.sum().clamp(min=1)


__all__ = ["ChatModel", "Generation", "Prompt", "cross_entropy_on_replies"]
