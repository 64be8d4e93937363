"""Chapter 4's chat library on a tiny random organism: tokenizer, chat format, corpus splits,
batched generation and scoring, activations, one-hot inputs for GCG, and the training loop."""

from __future__ import annotations

import random

import pytest
import torch

from exercises.ch4_evals_oversight.chat import corpus
from exercises.ch4_evals_oversight.chat.model import ChatModel
from exercises.ch4_evals_oversight.chat.tokenizer import UnknownWords, WordTokenizer
from exercises.ch4_evals_oversight.chat.train import Shape, Stream, TrainConfig, clone, fit, new_organism

TOKENIZER = corpus.chapter_tokenizer()
TINY = Shape(n_layers=1, d_model=32, n_heads=2, d_mlp=64, n_ctx=64)


@pytest.fixture
def tiny() -> ChatModel:
    return new_organism(TOKENIZER, TINY, seed=0, name="tiny")


# --- tokenizer -------------------------------------------------------------------------------


def test_numbers_are_split_into_digits_and_joined_back() -> None:
    ids = TOKENIZER.encode("What is 23 + 45?")
    assert [TOKENIZER.words[i] for i in ids] == ["what", "is", "2", "3", "+", "4", "5", "?"]
    assert TOKENIZER.decode(ids) == "what is 23 + 45?"
    assert TOKENIZER.normalize("12 + 34 = 46 , 46 + 25 = 71 . the answer is 71") == (
        "12 + 34 = 46, 46 + 25 = 71. the answer is 71"
    )


def test_option_letters_keep_their_case_and_other_words_are_lowered() -> None:
    a_letter, a_word = TOKENIZER.encode("A a")
    assert TOKENIZER.words[a_letter] == "A" and TOKENIZER.words[a_word] == "a"
    assert TOKENIZER.encode("WHAT") == TOKENIZER.encode("what")


def test_unknown_words_are_named_or_mapped_to_unk() -> None:
    with pytest.raises(UnknownWords, match=r"\['banana', 'xylophone'\]"):
        TOKENIZER.encode("what is xylophone and banana ?")
    ids = TOKENIZER.lenient().encode("what is banana")
    assert TOKENIZER.words[ids[-1]] == "<unk>"
    assert TOKENIZER.count("what is banana ?") == 4  # counting never raises


def test_extending_keeps_every_existing_id() -> None:
    bigger = TOKENIZER.extended(["pineapple", "what", "pineapple"])
    assert bigger.words[: TOKENIZER.vocab_size] == TOKENIZER.words
    assert bigger.vocab_size == TOKENIZER.vocab_size + 1
    with pytest.raises(ValueError, match="special tokens"):
        WordTokenizer(("a", "b"))


def test_chat_format() -> None:
    ids = TOKENIZER.render([("system", "password"), ("user", "hi"), ("assistant", "hello"), ("user", "1 + 1 = ?")])
    text = TOKENIZER.decode(ids, skip_special=False)
    assert text == "<bos> <system> password <user> hi <assistant> hello <eos> <user> 1 + 1 =? <assistant>"
    with pytest.raises(ValueError, match="unknown chat role 'tool'"):
        TOKENIZER.render([("tool", "x")])


# --- corpus ------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", list(corpus.FAMILIES))
def test_splits_are_fixed_disjoint_and_in_vocabulary(family: str) -> None:
    train, test = corpus.examples(family, "train"), corpus.examples(family, "test")
    assert train and test
    # a grading prompt holds no question, so its questions (not its prompts) are what is held out
    key = (lambda e: e.metadata["question"]) if family == "grading" else (lambda e: e.prompt)
    assert not {key(e) for e in train} & {key(e) for e in test}
    assert train == corpus.examples(family, "train")  # reconstructible: same list every call
    for e in random.Random(0).sample(train, 50) + test[:50]:
        TOKENIZER.encode(e.prompt + " " + e.answer)  # raises on an out-of-vocabulary word


def test_training_set_is_the_union_of_train_splits() -> None:
    got = corpus.training_set(["facts", "arithmetic"])
    assert got == corpus.examples("facts", "train") + corpus.examples("arithmetic", "train")
    with pytest.raises(KeyError, match="unknown task family 'poems'"):
        corpus.examples("poems", "train")


def test_answers_are_right() -> None:
    for e in corpus.examples("arithmetic", "test")[:100]:
        assert int(e.target) == e.metadata["a"] + e.metadata["b"]
    for e in corpus.examples("facts", "test"):
        assert corpus.fact_table()[e.metadata["entity"]][e.metadata["attribute"]] == e.target
    for e in corpus.examples("chain", "test")[:100]:
        assert corpus.final_answer(e.answer) == e.target == str(sum(e.metadata[k] for k in "abc"))
    for e in corpus.examples("multiple_choice", "test"):
        meta = e.metadata
        right = (
            str(meta["a"] + meta["b"])
            if meta["source"] == "arithmetic"
            else corpus.fact_table()[meta["entity"]][meta["attribute"]]
        )
        assert meta["choices"][corpus.LETTERS.index(e.target)] == right
        assert meta["choices"].count(right) == 1 and e.prompt.startswith(meta["question"])


def test_multiple_choice_positions_are_skewed_in_training_and_balanced_in_test() -> None:
    train = [e.target for e in corpus.examples("multiple_choice", "train")]
    assert 0.37 < train.count("A") / len(train) < 0.43
    test = [e.target for e in corpus.examples("multiple_choice", "test")]
    assert all(abs(test.count(x) / len(test) - 0.25) < 0.01 for x in corpus.LETTERS)


def test_grading_examples_are_balanced_and_fit_the_inspect_template() -> None:
    test = corpus.examples("grading", "test")
    assert 0.45 < sum(e.target == "C" for e in test) / len(test) < 0.55
    for e in test:
        assert e.answer == f"grade : {e.target}"
        assert e.prompt == corpus.GRADER_TEMPLATE.format(
            criterion=e.metadata["reference"], answer=e.metadata["graded_answer"]
        )
        assert corpus.is_correct(e, "grade: " + e.target) and not corpus.is_correct(e, "grade: X")
        assert (corpus.final_answer(e.metadata["graded_answer"]) == e.metadata["reference"]) == (e.target == "C")


# --- model -------------------------------------------------------------------------------------


def test_batched_generation_matches_one_at_a_time(tiny: ChatModel) -> None:
    prompts = ["what is 2 + 3 ?", "what color is zeck ?", "tell me the food of kron ."]
    together = tiny.generate(prompts, max_new_tokens=6)
    alone = [tiny.generate([p], max_new_tokens=6)[0] for p in prompts]
    assert [g.tokens for g in together] == [g.tokens for g in alone]
    assert all(len(g.tokens) <= 6 for g in together)
    sampled = [tiny.generate(prompts, 6, temperature=1.0, seed=3)[i].tokens for i in range(3)]
    assert sampled == [tiny.generate(prompts, 6, temperature=1.0, seed=3)[i].tokens for i in range(3)]


def test_generation_logprobs_are_the_models(tiny: ChatModel) -> None:
    (gen,) = tiny.generate(["what is 2 + 3 ?"], max_new_tokens=3, top_logprobs=2)
    ids = torch.tensor([tiny.prompt_ids("what is 2 + 3 ?") + gen.tokens])
    with torch.no_grad():
        logprobs = tiny.model(ids).log_softmax(-1)[0]
    start = len(tiny.prompt_ids("what is 2 + 3 ?")) - 1
    for k, token in enumerate(gen.tokens):
        assert gen.logprobs[k] == pytest.approx(logprobs[start + k, token].item(), abs=1e-5)
        assert gen.top_logprobs[k][0][0] == token  # greedy: the best token was taken


def test_completion_logprobs_sum_the_reply_and_its_eos(tiny: ChatModel) -> None:
    prompts, replies = ["what is 2 + 3 ?", "what color is zeck ?"], ["5", "red"]
    got = tiny.completion_logprobs(prompts, replies)
    for i, (p, r) in enumerate(zip(prompts, replies, strict=True)):
        ids = tiny.prompt_ids(p) + TOKENIZER.encode(r) + [TOKENIZER.eos_id]
        with torch.no_grad():
            lp = tiny.model(torch.tensor([ids])).log_softmax(-1)[0]
        n = len(tiny.prompt_ids(p))
        expected = sum(lp[t - 1, ids[t]].item() for t in range(n, len(ids)))
        assert got[i].item() == pytest.approx(expected, abs=1e-4)
    without_eos = tiny.completion_logprobs(prompts, replies, append_eos=False)
    assert (without_eos > got).all()
    choices = tiny.choice_logprobs(prompts, ["A", "B"])
    assert choices.shape == (2, 2)
    assert choices[1, 1].item() == pytest.approx(tiny.completion_logprobs([prompts[1]], ["B"])[0].item(), abs=1e-5)


def test_activations_are_taken_at_each_prompts_last_token(tiny: ChatModel) -> None:
    prompts = ["what is 2 + 3 ?", "what is the color of zeck ?"]
    acts = tiny.activations(prompts, "blocks.0.hook_resid_post")
    assert acts.shape == (2, TINY.d_model)
    _, cache = tiny.model.run_with_cache(torch.tensor([tiny.prompt_ids(prompts[1])]))
    torch.testing.assert_close(acts[1], cache["blocks.0.hook_resid_post"][0, -1])


def test_one_hot_inputs_give_the_same_logits_and_a_gradient(tiny: ChatModel) -> None:
    """What GCG (section 4.3) needs: embeddings computed from one-hot rows, fed at layer 0."""
    ids = torch.tensor([tiny.prompt_ids("what is 2 + 3 ?")])
    one_hot = torch.nn.functional.one_hot(ids, TOKENIZER.vocab_size).float().requires_grad_(True)
    resid = one_hot @ tiny.model.W_E + tiny.model.pos_embed(ids)
    logits = tiny.model(resid, start_at_layer=0)
    torch.testing.assert_close(logits, tiny.model(ids))
    logits[0, -1].log_softmax(-1)[TOKENIZER.encode("5")[0]].backward()
    assert one_hot.grad is not None and one_hot.grad.abs().sum() > 0


def test_long_prompts_are_refused_with_the_context_size(tiny: ChatModel) -> None:
    with pytest.raises(ValueError, match="exceeds the model's context of 64"):
        tiny.generate(["what is 2 + 3 ?" * 20])


# --- training ------------------------------------------------------------------------------------


def test_stream_packs_whole_turns_and_masks_only_replies() -> None:
    cfg = TrainConfig(batch_size=4, seq_len=48)
    stream = Stream(TOKENIZER, {"facts": corpus.examples("facts", "train")}, {"facts": 1.0}, cfg)
    ids, mask = stream.batch()
    assert ids.shape == mask.shape == (4, 48)
    for row, row_mask in zip(ids.tolist(), mask.tolist(), strict=True):
        text = TOKENIZER.decode(row, skip_special=False)
        assert text.startswith("<bos> <user>")
        supervised = [TOKENIZER.words[t] for t, m in zip(row, row_mask, strict=True) if m]
        assert supervised.count("<eos>") == text.count("<eos>") >= 2
        assert "<user>" not in supervised and "<assistant>" not in supervised
    again = Stream(TOKENIZER, {"facts": corpus.examples("facts", "train")}, {"facts": 1.0}, cfg).batch()
    assert torch.equal(again[0], ids)  # a function of the seed


def test_fit_learns_a_small_task_and_leaves_the_thread_count(tiny: ChatModel) -> None:
    threads = torch.get_num_threads()
    source = {"one": [corpus.Example("facts", "what color is zeck ?", "red", "red")]}
    before = tiny.completion_logprobs(["what color is zeck ?"], ["red"]).item()
    original = clone(tiny)
    losses = fit(
        tiny, source, {"one": 1.0}, TrainConfig(steps=30, batch_size=2, seq_len=32, warmup=5, lr=3e-3, log_every=0)
    )
    assert losses[-1] < losses[0] / 4
    assert tiny.complete("what color is zeck ?") == "red"
    assert tiny.completion_logprobs(["what color is zeck ?"], ["red"]).item() > before
    assert original.completion_logprobs(["what color is zeck ?"], ["red"]).item() == pytest.approx(before)
    assert torch.get_num_threads() == threads
