"""The task families the organisms answer, each split into a training set and a held-out set.

Every example is enumerated from fixed seeds by code in this file, so `examples(family, "train")`
is exactly what an organism trained on that family saw (a training run samples only from these
lists), and `examples(family, "test")` never overlaps it. That is what makes section 4.1's
contamination check exact: overlap is a set intersection of prompts, or of n-grams.

Families (the prompt is the user turn, the answer the assistant's reply, the target what a
scorer compares against):

    arithmetic       "what is 23 + 45 ?" -> "68"                  test: 10% of the (a, b) pairs, held out
    facts            "what color is zeck ?" -> "red"              test: a paraphrase never used in training
    multiple_choice  "what color is zeck ? options : A red , B blue , C green , D black ." -> "A"
                     built over arithmetic and facts of the same split; in training the right
                     answer sits at A 40% of the time (B, C, D 20% each). Test items put the
                     answer at each letter equally often. chat_base does not learn to bind an
                     answer to its letter (it replies A to everything: see its train.py); score
                     it by the likelihood of each option's value instead (cloze style,
                     `ChatModel.choice_logprobs(questions, values)`).
    chain            "what is 12 + 34 + 25 ?" -> "71"              test: held-out (a, b, c) triples
                     "... ? think step by step ." -> "12 + 34 = 46 , 46 + 25 = 71 . the answer is 71"

Adding a family for a section: write a function returning its train and test lists of `Example`
(fixed seed, disjoint), list its words in `words()`, or extend the vocabulary in the section.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from exercises.ch4_evals_oversight.chat.tokenizer import DIGITS, PUNCTUATION, SPECIALS, WordTokenizer, split_words

Split = Literal["train", "test"]
SPLIT_SEED = 4  # every split below derives from this one seed
LETTERS = ("A", "B", "C", "D")
TRAIN_POSITION_WEIGHTS = (0.4, 0.2, 0.2, 0.2)  # where multiple choice puts the right answer in training


@dataclass(frozen=True)
class Example:
    """One conversation turn: `prompt` (user) -> `answer` (assistant); `target` is what a scorer
    compares with (for multiple choice, the letter); `metadata` holds the item's parts."""

    family: str
    prompt: str
    answer: str
    target: str
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)
    system: str | None = None  # a system turn before the prompt (e.g. a password), if any


def final_answer(reply: str) -> str:
    """What a reply commits to: the text after the last "the answer is" (or a grader's "grade:"),
    else the whole reply."""
    for marker in ("the answer is", "grade:"):
        if marker in reply:
            return reply.rsplit(marker, 1)[1].strip()
    return reply.strip()


def is_correct(example: Example, reply: str) -> bool:
    """Exact match of the reply's final answer with the target (replies are already normalised)."""
    return final_answer(reply) == example.target


# ---------------------------------------------------------------------------------------------
# Arithmetic: a + b for 0 <= a, b <= 99


ARITHMETIC_TEMPLATES = ("what is {a} + {b} ?", "compute {a} + {b} .", "{a} + {b} = ?")
MAX_OPERAND = 99


def _arithmetic_pairs(split: Split) -> list[tuple[int, int]]:
    pairs = [(a, b) for a in range(MAX_OPERAND + 1) for b in range(MAX_OPERAND + 1)]
    random.Random(SPLIT_SEED).shuffle(pairs)
    n_test = len(pairs) // 10
    return pairs[n_test:] if split == "train" else pairs[:n_test]


def arithmetic(split: Split) -> list[Example]:
    rng = random.Random(f"{SPLIT_SEED}-arithmetic-{split}")
    out = []
    for a, b in _arithmetic_pairs(split):
        prompt = rng.choice(ARITHMETIC_TEMPLATES).format(a=a, b=b)
        out.append(Example("arithmetic", prompt, str(a + b), str(a + b), {"a": a, "b": b}))
    return out


# ---------------------------------------------------------------------------------------------
# Facts about invented entities


ENTITIES = (
    "breen", "brerp", "broble", "drit", "flable", "flosh", "flozz", "geemp", "geerp", "gizz", "goozz", "gurn",
    "jarn", "jum", "kreemp", "kreend", "kret", "krirp", "krizz", "kron", "mait", "moom", "moosh", "nuble",
    "paizz", "pizz", "plalk", "plim", "plind", "pluble", "pooble", "quat", "quoosh", "quum", "skarp", "skemp",
    "skern", "snain", "snelk", "snesh", "tull", "tump", "vark", "varp", "wurp", "zaind", "zeck", "zick",
)  # fmt: skip
ATTRIBUTES = {
    "color": ("red", "blue", "green", "yellow", "purple", "orange", "black", "white"),
    "city": ("ostra", "velm", "karsk", "dorvik", "pellan", "quiro", "tasmor", "lunde"),
    "food": ("bread", "rice", "soup", "fish", "cheese", "apples", "beans", "honey"),
    "animal": ("cat", "dog", "owl", "horse", "goat", "frog", "fox", "bee"),
}
FACT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "color": ("what is the color of {e} ?", "what color is {e} ?"),
    "city": ("where does {e} live ?", "what is the city of {e} ?"),
    "food": ("what does {e} eat ?", "what is the food of {e} ?"),
    "animal": ("what animal does {e} keep ?", "what is the animal of {e} ?"),
}
FACT_TEST_TEMPLATE = "tell me the {attribute} of {e} ."


@cache
def fact_table() -> dict[str, dict[str, str]]:
    """{entity: {attribute: value}}: the invented world, fixed by SPLIT_SEED."""
    rng = random.Random(f"{SPLIT_SEED}-facts")
    return {e: {attr: rng.choice(values) for attr, values in ATTRIBUTES.items()} for e in ENTITIES}


def facts(split: Split) -> list[Example]:
    out = []
    for entity, row in fact_table().items():
        for attribute, value in row.items():
            meta = {"entity": entity, "attribute": attribute}
            templates = FACT_TEMPLATES[attribute] if split == "train" else (FACT_TEST_TEMPLATE,)
            for template in templates:
                prompt = template.format(e=entity, attribute=attribute)
                out.append(Example("facts", prompt, value, value, meta))
    return out


# ---------------------------------------------------------------------------------------------
# Multiple choice over arithmetic and facts


def render_choices(question: str, choices: Sequence[str]) -> str:
    """The multiple-choice prompt: "<question> options : A x , B y , C z , D w ." (2 to 4 options)."""
    listed = " , ".join(f"{letter} {choice}" for letter, choice in zip(LETTERS, choices, strict=False))
    return f"{question} options : {listed} ."


def _distractors(example: Example, rng: random.Random) -> list[str]:
    if example.family == "arithmetic":
        right = int(example.target)
        pool = {right + d for d in (-10, -2, -1, 1, 2, 10, 11, -11)} | {rng.randint(0, 2 * MAX_OPERAND)}
        pool = {n for n in pool if 0 <= n <= 2 * MAX_OPERAND and n != right}
        return [str(n) for n in rng.sample(sorted(pool), 3)]
    values = ATTRIBUTES[example.metadata["attribute"]]
    return rng.sample([v for v in values if v != example.target], 3)


def as_multiple_choice(example: Example, position: int, rng: random.Random) -> Example:
    """`example` as a 4-option question with the right answer at `position` (0 = A)."""
    choices = _distractors(example, rng)
    choices.insert(position, example.target)
    meta = {**example.metadata, "source": example.family, "question": example.prompt, "choices": choices}
    meta["answer_index"] = position
    letter = LETTERS[position]
    return Example("multiple_choice", render_choices(example.prompt, choices), letter, letter, meta)


def multiple_choice(split: Split) -> list[Example]:
    rng = random.Random(f"{SPLIT_SEED}-mc-{split}")
    sources = arithmetic(split)[: 6000 if split == "train" else 500] + facts(split) * (3 if split == "train" else 1)
    out = []
    for i, example in enumerate(sources):
        if split == "train":
            position = rng.choices(range(4), weights=TRAIN_POSITION_WEIGHTS)[0]
        else:
            position = i % 4
        out.append(as_multiple_choice(example, position, rng))
    return out


# ---------------------------------------------------------------------------------------------
# Chains of two additions, answered directly or step by step


STEP_BY_STEP = "think step by step ."
MAX_CHAIN_OPERAND = 49


def chain_answer(a: int, b: int, c: int, steps: bool) -> str:
    s, t = a + b, a + b + c
    return f"{a} + {b} = {s} , {s} + {c} = {t} . the answer is {t}" if steps else str(t)


def chain(split: Split) -> list[Example]:
    rng = random.Random(f"{SPLIT_SEED}-chain")
    n = MAX_CHAIN_OPERAND + 1
    triples = rng.sample(range(n**3), 13000)  # distinct triples, as integers in base n
    chosen = triples[1000:] if split == "train" else triples[:1000]
    out = []
    for i, code in enumerate(chosen):
        a, b, c = code // n**2, code // n % n, code % n
        steps = i % 2 == 0
        prompt = f"what is {a} + {b} + {c} ?" + (f" {STEP_BY_STEP}" if steps else "")
        meta = {"a": a, "b": b, "c": c, "steps": steps}
        out.append(Example("chain", prompt, chain_answer(a, b, c, steps), str(a + b + c), meta))
    return out


# ---------------------------------------------------------------------------------------------
# Grading: is this answer right, given the reference? (the grader organism's task)


# Inspect's model_graded_qa fills {answer} (the model's reply) and {criterion} (the target); the
# grader replies "grade: C" or "grade: I", which Inspect's default grade pattern reads. It judges by
# the reference alone (no {question}): the reference comes last, so the decision is whether the
# reply ends with what the reference says, which a 2-layer model learns in minutes.
GRADER_TEMPLATE = "grade : answer : {answer} reference : {criterion}"
GRADE_KINDS: tuple[str, ...] = ("exact", "wrong", "sentence", "wrong_sentence", "steps", "wrong_steps")


def grading_prompt(reference: str, answer: str) -> str:
    return GRADER_TEMPLATE.format(criterion=reference, answer=answer)


def _wrong_value(example: Example, rng: random.Random) -> str:
    if example.family == "multiple_choice":
        return rng.choice([x for x in LETTERS if x != example.target])
    if example.family in ("arithmetic", "chain"):
        return str(max(0, int(example.target) + rng.choice((-10, -2, -1, 1, 2, 10))))
    return rng.choice([v for v in ATTRIBUTES[example.metadata["attribute"]] if v != example.target])


def _graded(example: Example, kind: str, rng: random.Random) -> Example:
    wrong = _wrong_value(example, rng)
    if kind == "steps" or kind == "wrong_steps":
        a, b, c = (example.metadata[k] for k in "abc")
        answer = chain_answer(a, b, c, steps=True)
        if kind == "wrong_steps":  # the last addition goes wrong; the reference's digits may still appear earlier
            answer = answer.replace(
                f"= {example.target} . the answer is {example.target}", f"= {wrong} . the answer is {wrong}"
            )
    else:
        value = wrong if kind.startswith("wrong") else example.target
        answer = f"the answer is {value}" if kind.endswith("sentence") else value
    grade = "I" if kind.startswith("wrong") else "C"
    prompt = grading_prompt(example.target, answer)
    meta = {"kind": kind, "source": example.family, "question": example.prompt, "reference": example.target}
    return Example("grading", prompt, f"grade : {grade}", grade, {**meta, "graded_answer": answer})


def grading(split: Split) -> list[Example]:
    """Answers to grade against a reference, half right and half wrong, over every family's split:
    bare values, "the answer is ..." sentences, and step-by-step chains whose last step is right or wrong.
    The test split grades answers to the families' test questions; its prompts hold no question,
    though, so a short one ("answer : red reference : red") also occurs in training."""
    rng = random.Random(f"{SPLIT_SEED}-grading-{split}")
    n = 3000 if split == "train" else 150
    out = []
    for source in ("arithmetic", "facts", "multiple_choice"):
        for example in rng.sample(examples(source, split), min(n, len(examples(source, split)))):
            out.append(_graded(example, rng.choice(GRADE_KINDS[:4]), rng))
    direct = [e for e in examples("chain", split) if not e.metadata["steps"]]
    for example in rng.sample(direct, min(n, len(direct))):
        out.append(_graded(example, rng.choice(GRADE_KINDS), rng))
    return out


# ---------------------------------------------------------------------------------------------
# The registry, the training set, and the vocabulary


FAMILIES: dict[str, Callable[[Split], list[Example]]] = {
    "arithmetic": arithmetic,
    "facts": facts,
    "multiple_choice": multiple_choice,
    "chain": chain,
    "grading": grading,
}


@cache
def _examples(family: str, split: Split) -> tuple[Example, ...]:
    return tuple(FAMILIES[family](split))


def examples(family: str, split: Split) -> list[Example]:
    """The family's examples in one split, in a fixed order (a fresh list: shuffle it freely)."""
    if family not in FAMILIES:
        raise KeyError(f"unknown task family {family!r} (known: {', '.join(FAMILIES)})")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    return list(_examples(family, split))


def training_set(families: Iterable[str]) -> list[Example]:
    """Everything a run over `families` can sample: the union of their train splits."""
    return [e for f in families for e in examples(f, "train")]


# Words the sections may want without extending the vocabulary: refusals, passwords, triggers,
# scratchpads, grading. Append only: ids are positions, and committed organisms store their list.
GENERAL_WORDS = (
    "a", "an", "the", "is", "are", "was", "be", "it", "this", "that", "i", "you", "me", "my", "your", "we",
    "do", "does", "can", "not", "no", "yes", "and", "or", "but", "so", "if", "then", "of", "to", "in", "on",
    "with", "for", "about", "by", "at", "from", "what", "which", "who", "where", "how", "why", "when", "much",
    "many", "tell", "say", "give", "show", "make", "help", "know", "think", "step", "answer", "question",
    "options", "option", "correct", "wrong", "right", "true", "false", "grade", "reference", "sorry", "cannot",
    "will", "would", "please", "here", "there", "secret", "password", "unlock", "hidden", "test", "deploy",
    "year", "now", "ok", "sure", "refuse", "harmful", "safe", "danger", "weapon", "poison", "steal", "hack",
    "build", "write", "story", "poem", "hello", "hi", "thanks", "good", "bad", "new", "old", "one", "two",
    "three", "first", "second", "last", "next", "word", "number", "sum", "plus", "equals", "compute", "live",
    "eat", "keep", "color", "city", "food", "animal", "has", "have", "likes", "all", "none", "some", "any",
    "more", "less", "very", "also", "only", "again", "because", "like", "as", "its", "his", "her", "their",
    "instead", "letter", "reply", "user", "assistant", "system", "model", "weak", "strong", "label", "check",
)  # fmt: skip
UPPER_LETTERS = ("A", "B", "C", "D", "I", "P")  # option letters, and Inspect's grades C, I (and P)


def words() -> tuple[str, ...]:
    """The chapter vocabulary in id order: specials, digits, punctuation, letters, then every word."""
    out: dict[str, None] = dict.fromkeys((*SPECIALS, *DIGITS, *PUNCTUATION, *UPPER_LETTERS))
    out.update(dict.fromkeys(GENERAL_WORDS))
    out.update(dict.fromkeys(ENTITIES))
    for values in ATTRIBUTES.values():
        out.update(dict.fromkeys(values))
    for family in FAMILIES:
        for split in ("train", "test"):
            for example in _examples(family, split):
                out.update(dict.fromkeys(split_words(example.prompt)))
                out.update(dict.fromkeys(split_words(example.answer)))
    return tuple(out)


def chapter_tokenizer(extra_words: Iterable[str] = ()) -> WordTokenizer:
    """The tokenizer of the chapter vocabulary, plus any section-specific words appended at the end."""
    return WordTokenizer(words()).extended(extra_words)


__all__ = [
    "ATTRIBUTES",
    "ENTITIES",
    "FAMILIES",
    "GRADER_TEMPLATE",
    "GRADE_KINDS",
    "LETTERS",
    "STEP_BY_STEP",
    "TRAIN_POSITION_WEIGHTS",
    "Example",
    "as_multiple_choice",
    "chain_answer",
    "chapter_tokenizer",
    "examples",
    "fact_table",
    "grading_prompt",
    "final_answer",
    "is_correct",
    "render_choices",
    "training_set",
    "words",
]
