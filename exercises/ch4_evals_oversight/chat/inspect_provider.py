"""Inspect's model API over chat models: `arena/<organism>` in any Inspect eval, fully offline.

    from inspect_ai import eval
    from exercises.ch4_evals_oversight.chat import inspect_provider  # registers "arena"
    eval(task, model="arena/chat_base")                  # a committed organism, by name
    eval(task, model=inspect_provider.inspect_model(chat)) # any ChatModel in memory (fine-tuned, noised...)
    eval(task, model="arena/Qwen/Qwen2.5-0.5B-Instruct")   # the full config (a name with "/"), downloads once

Inspect's default token counter uses tiktoken, which downloads its encoding at run time and so
fails offline; this provider counts with the organism's own tokenizer instead. Generation follows
Inspect's GenerateConfig: `temperature` (default 0: greedy), `seed`, `max_tokens` (default 48),
`logprobs` / `top_logprobs` (token strings are the organism's words).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    GenerateConfig,
    Logprob,
    Logprobs,
    Model,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    TopLogprob,
    get_model,
    modelapi,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from exercises.ch4_evals_oversight.chat.model import ChatModel
from exercises.ch4_evals_oversight.chat.tokenizer import Message

PROVIDER = "arena"
DEFAULT_MAX_TOKENS = 48


def to_messages(messages: list[ChatMessage]) -> list[Message]:
    """Inspect's messages as (role, text) turns; tool messages have no place in the chat format."""
    out: list[Message] = []
    for message in messages:
        if message.role not in ("system", "user", "assistant"):
            raise ValueError(f"organisms have no {message.role!r} turns (only system, user and assistant)")
        out.append((message.role, message.text))
    return out


def _resolve(model_name: str, device: str) -> ChatModel:
    if "/" in model_name:  # a Hugging Face id: the full config
        from exercises.ch4_evals_oversight.chat.pretrained import load_pretrained_chat

        return load_pretrained_chat(model_name, device=device)
    from exercises.ch4_evals_oversight import organisms

    return organisms.load(model_name, device=device)


class ArenaChatAPI(ModelAPI):
    """`model_args`: `chat` (a ChatModel to serve instead of loading `model_name`), `device`."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        chat: ChatModel | None = None,
        device: str = "cpu",
    ) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        self.chat = chat if chat is not None else _resolve(model_name, device)

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        if tools:
            raise ValueError("organisms cannot call tools")
        messages = to_messages(input)
        prompt_tokens = len(self.chat.tokenizer.render(messages))
        k = config.top_logprobs or 0
        (reply,) = self.chat.generate(
            [messages],
            max_new_tokens=config.max_tokens or DEFAULT_MAX_TOKENS,
            temperature=config.temperature or 0.0,
            seed=config.seed,
            top_logprobs=k,
        )
        logprobs = None
        if config.logprobs:
            eos = self.chat.tokenizer.eos_id
            ids = reply.tokens + ([eos] if reply.stop_reason == "stop" else [])
            tops = reply.top_logprobs or [[] for _ in ids]

            def word(i: int) -> str:
                return "<eos>" if i == eos else self.chat.tokenizer.decode([i])

            logprobs = Logprobs(
                content=[
                    Logprob(
                        token=word(i),
                        logprob=lp,
                        top_logprobs=[TopLogprob(token=word(j), logprob=v) for j, v in top] if k else None,
                    )
                    for i, lp, top in zip(ids, reply.logprobs, tops, strict=True)
                ]
            )
        choice = ChatCompletionChoice(
            message=ChatMessageAssistant(content=reply.text, model=self.model_name, source="generate"),
            stop_reason="stop" if reply.stop_reason == "stop" else "max_tokens",
            logprobs=logprobs,
        )
        usage = ModelUsage(
            input_tokens=prompt_tokens,
            output_tokens=len(reply.logprobs),
            total_tokens=prompt_tokens + len(reply.logprobs),
        )
        return ModelOutput(model=self.model_name, choices=[choice], usage=usage)

    async def count_text_tokens(self, text: str) -> int:
        # Inspect's default downloads tiktoken's encoding: count with the model's own tokenizer.
        return self.chat.tokenizer.count(text)

    def max_tokens(self) -> int | None:
        return DEFAULT_MAX_TOKENS

    def max_connections(self) -> int:
        return 1  # one CPU-bound model: concurrent requests would only queue


@modelapi(name=PROVIDER)
def arena() -> type[ModelAPI]:
    return ArenaChatAPI


def inspect_model(chat: ChatModel, name: str | None = None, **config: Any) -> Model:
    """An Inspect `Model` serving `chat` from memory (e.g. after fine-tuning or adding noise).

    Not memoised: Inspect caches models by name and JSON-able arguments, and a ChatModel is not
    JSON-able, so two different in-memory models under one name would otherwise collide.
    """
    return get_model(f"{PROVIDER}/{name or chat.name}", config=GenerateConfig(**config), memoize=False, chat=chat)


__all__ = ["PROVIDER", "ArenaChatAPI", "inspect_model", "to_messages"]


def run_coroutine(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run one of Inspect's coroutines (a solver, a scorer) to completion from plain code. Inside
    Jupyter an event loop is already running and `asyncio.run` refuses to nest, so there it runs
    on a fresh loop in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
