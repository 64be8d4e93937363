"""Checks that a comparison of output values cannot make: side effects, autograd history left in
state, behaviour across repeated calls, and inputs in float64 or a non-contiguous layout.

About one plausible wrong answer in fifteen returned the right values and was still wrong: it
changed its input or a parameter's `.grad` in place, kept autograd history in a buffer, acted
differently the second time it ran, or worked only on float32, contiguous tensors. Each check
turns one of those into an `ExerciseFailure` that names the side effect and the fix. One line
switches each on in a learner test:

    with unchanged(x=x, grads_of=params):            # (a) what the call was handed stays as it was
        opt.step()
    bn(requiring_grad(x))
    assert_no_history(bn, "BatchNorm2d(3)")          # (b) no autograd history in stored state
    assert_repeatable(lambda: f(x), "f(x)")          # (c) the same inputs give the same answer twice
    assert_calls_match(mine, twin, "step()", calls=3)  # (c) the stated accumulation, call by call
    assert_layouts(f, x, oracle=g, what="f(x)")      # (d) float64 and non-contiguous inputs
    with corner("warmup=0 (no warmup)"):             # (d) a corner the statement promises
        warmup_cosine(0, 0, 10, 1.0)
    assert_backward_matches(layer, twin, x, "Linear(3, 2)")  # gradients, not only outputs
    assert_no_hooks_left(model, "steered_logit_diff")  # hooks attached for one run, then gone
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from exercises.framework.asserts import ExerciseFailure, assert_close, fail

# ---------------------------------------------------------------------------------------------
# (a) inputs unchanged


@dataclass(frozen=True)
class _Seen:
    """One tensor handed to the call, as it was before: where to find it again, and a copy."""

    path: str  # how the learner would write it: `x`, `params[0].grad`, `model.0.weight`
    read: Callable[[], Tensor | None]  # the value at that place now (a `.grad` may be rebound)
    before: Tensor | None  # the very object that was there
    copy: Tensor | None
    requires_grad: bool
    kind: str  # "grad", "parameter", "buffer", "tensor" or "array": chooses the advice
    label: str = ""  # which one, when the path is generic (`p.grad` of parameter 1 of 3)


def _copy(x: Tensor | None) -> Tensor | None:
    return None if x is None else x.detach().clone()


def _grad_reader(p: Tensor) -> Callable[[], Tensor | None]:
    return lambda: p.grad


def _same_reader(x: Tensor) -> Callable[[], Tensor | None]:
    return lambda: x


def _watch_grads(params: Iterable[Tensor]) -> Iterator[_Seen]:
    """`p.grad` of each parameter, named as the learner's loop names it."""
    params = list(params)
    for i, p in enumerate(params):
        label = f" (parameter {i} of {len(params)}, shape {tuple(p.shape)})"
        yield _Seen("p.grad", _grad_reader(p), p.grad, _copy(p.grad), False, "grad", label)


def _watch(value: Any, path: str) -> Iterator[_Seen]:
    if isinstance(value, nn.Module):
        for name, p in value.named_parameters():
            yield _Seen(f"{path}.{name}", _same_reader(p), p, _copy(p), p.requires_grad, "parameter")
            yield _Seen(f"{path}.{name}.grad", _grad_reader(p), p.grad, _copy(p.grad), False, "grad")
        for name, b in value.named_buffers():
            yield _Seen(f"{path}.{name}", _same_reader(b), b, _copy(b), b.requires_grad, "buffer")
    elif isinstance(value, nn.Parameter):
        yield _Seen(path, _same_reader(value), value, _copy(value), value.requires_grad, "parameter")
        yield _Seen(f"{path}.grad", _grad_reader(value), value.grad, _copy(value.grad), False, "grad")
    elif isinstance(value, Tensor):
        yield _Seen(path, _same_reader(value), value, _copy(value), value.requires_grad, "tensor")
    elif isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        with warnings.catch_warnings():  # a read-only array is watched just the same
            warnings.simplefilter("ignore", UserWarning)
            shared = torch.from_numpy(value)  # shares memory: a write into the array shows up here
        yield _Seen(path, _same_reader(shared), shared, _copy(shared), False, "array")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _watch(item, f"{path}[{key!r}]")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _watch(item, f"{path}[{i}]")


def _differs(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise 'not the same value', where NaN equals NaN."""
    if a.is_floating_point() or a.is_complex():
        return (a != b) & ~(torch.isnan(a) & torch.isnan(b))
    return a != b


_ADVICE = {
    "grad": (
        "Compute into a new tensor: `g = p.grad + wd * p`, not `p.grad.add_(...)`, and not `g = p.grad` "
        "followed by `g += ...` (that is the same tensor). A second step() before the next backward would "
        "otherwise see your changed gradient."
    ),
    "tensor": (
        "Work on a new tensor: `x = x + 1` or `x.clamp(min=0)`, not `x += 1` or `x.clamp_(min=0)`. Slices and "
        "`.view(...)` share memory with the caller's tensor, so writing into them writes into it too."
    ),
    "array": (
        "Work on a copy: `x = x * 2` or `x = x.copy()` first, not `x *= 2` or `x[i] = ...`. Slices of a NumPy "
        "array are views, so writing into them writes into the caller's array."
    ),
    "parameter": "This call must not update the parameters: only the optimiser's step() does that.",
    "buffer": "This call must not update the buffers (running statistics, counters).",
}


def _verdict(seen: _Seen) -> str | None:
    now = seen.read()
    name = f"`{seen.path}`{seen.label}"
    if seen.before is None:
        if now is not None:
            return f"{name} was None and now holds a tensor: this call must not create it."
        return None
    assert seen.copy is not None
    if now is None:
        return f"{name} was set to None. Leave it as it was: clearing it is the caller's decision (zero_grad)."
    rebound = now is not seen.before
    if now.shape != seen.copy.shape or now.dtype != seen.copy.dtype:
        return (
            f"{name} changed from {tuple(seen.copy.shape)} {seen.copy.dtype} to {tuple(now.shape)} {now.dtype} "
            f"({'rebound to another tensor' if rebound else 'in place'}). {_ADVICE[seen.kind]}"
        )
    diff = _differs(now.detach(), seen.copy)
    if bool(diff.any()):
        first = tuple(int(i) for i in diff.nonzero()[0])
        was, got = seen.copy[first].item(), now.detach()[first].item()
        how = "replaced" if rebound else "changed"
        where = "with another tensor" if rebound else "in place"
        return (
            f"you {how} {name} {where}: {int(diff.sum())} of {diff.numel()} values differ "
            f"(at index {first} it was {was:.6g}, now {got:.6g}). {_ADVICE[seen.kind]}"
        )
    if seen.kind == "tensor" and now.requires_grad != seen.requires_grad:
        return (
            f"you switched {name}.requires_grad from {seen.requires_grad} to {now.requires_grad} on the caller's "
            "tensor. Leave the inputs' flags alone; work on `x.detach()` or a copy if you need to."
        )
    return None


def _containers(value: Any, path: str) -> Iterator[tuple[str, Any, list[Any]]]:
    """Every list and dict handed over, with a shallow copy of its items: popping, sorting or
    assigning into a caller's list is a side effect too."""
    if isinstance(value, Mapping) and not isinstance(value, nn.Module):
        yield path, value, list(value.items())
        for key, item in value.items():
            yield from _containers(item, f"{path}[{key!r}]")
    elif isinstance(value, list | tuple):
        if isinstance(value, list):
            yield path, value, list(value)
        for i, item in enumerate(value):
            yield from _containers(item, f"{path}[{i}]")


def _same_items(now: list[Any], before: list[Any]) -> bool:
    def same(a: Any, b: Any) -> bool:
        if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):  # dict items
            return all(same(x, y) for x, y in zip(a, b))
        return a is b or (not isinstance(a, Tensor) and not isinstance(b, Tensor) and a == b)

    return len(now) == len(before) and all(same(a, b) for a, b in zip(now, before))


class unchanged:  # noqa: N801 - used as `with unchanged(...)`, like a function
    """Fail if the call inside the block changes what it was handed.

    `named` values may be tensors, NumPy arrays of numbers or bools, modules (parameters, buffers,
    their `.grad`, and train/eval mode) or lists, tuples and dicts of them; the keyword is the
    name the message uses. `grads_of` watches only
    the `.grad` of each parameter: an optimiser's step() updates the parameters in place (the
    statement says so) but must leave their gradients alone. Nothing is checked when the block
    raises: that error is the one to report.

        with unchanged("ReLU()(x)", x=x):
            out = ReLU()(x)
    """

    def __init__(self, what: str = "", /, *, grads_of: Iterable[Tensor] | None = None, **named: Any) -> None:
        self.what = what
        self.watched: list[_Seen] = []
        self.containers: list[tuple[str, Any, list[Any]]] = []
        self.modes = [(name, m, m.training) for name, m in named.items() if isinstance(m, nn.Module)]
        for name, value in named.items():
            self.watched.extend(_watch(value, name))
            self.containers.extend(_containers(value, name))
        if grads_of is not None:
            self.watched.extend(_watch_grads(grads_of))

    def __enter__(self) -> unchanged:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            return
        problems = [p for p in map(_verdict, self.watched) if p]
        for path, module, training in self.modes:
            if module.training != training:
                problems.append(
                    f"you switched `{path}` to {'train' if module.training else 'eval'} mode and left it there. "
                    "Leave the caller's module in the mode it was handed over in."
                )
        for path, container, before in self.containers:
            now = list(container.items()) if isinstance(container, Mapping) else list(container)
            if not _same_items(now, before):
                kind = type(container).__name__
                problems.append(
                    f"you changed the {kind} `{path}` in place (it held {_short(before)}, now {_short(now)}). "
                    "Do not append to, pop from, sort or assign into a container you were handed; build a new one."
                )
        if problems:
            problem = problems[0]
            fail(f"{self.what}: {problem}" if self.what else problem[0].upper() + problem[1:])


def _short(items: list[Any]) -> str:
    text = repr(items)
    return text if len(text) <= 80 else text[:77] + "..."


def requiring_grad(x: Tensor) -> Tensor:
    """A copy of `x` that records autograd history, as an activation inside a network does (the
    output of an earlier layer, not a leaf). Feed it to a module before `assert_no_history`: with
    plain inputs no history can show. In-place changes to it are allowed by autograd, so they
    show up in `unchanged` as the side effects they are, not as an autograd error."""
    return x.detach().clone().requires_grad_(True) * 1


def _leaf(x: Tensor) -> Tensor:
    return x.detach().clone().requires_grad_(True)


class corner:  # noqa: N801 - used as `with corner(...)`, like a function
    """Name the corner of the statement's domain that the block exercises: an error the learner's
    code raises there becomes a failure that says which promised case it cannot handle.

        with corner("warmup=0 (no warmup: the cosine starts at step 0)"):
            values = [warmup_cosine(s, 0, 10, 1.0) for s in range(12)]
    """

    def __init__(self, description: str) -> None:
        self.description = description

    def __enter__(self) -> corner:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None or isinstance(exc, ExerciseFailure | NotImplementedError) or not isinstance(exc, Exception):
            return
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        fail(
            f"{self.description}: your code raised {type(exc).__name__} ({first_line}). The statement covers "
            "this case too."
        )


# ---------------------------------------------------------------------------------------------
# (b) no autograd history in stored state


@functools.cache
def _module_internals() -> frozenset[str]:
    """Attributes every nn.Module has (hooks, _parameters, training...): not the learner's state."""
    return frozenset(vars(nn.Module()))


def _state(value: Any, path: str, top: bool, seen: set[int]) -> Iterator[tuple[str, Tensor]]:
    if id(value) in seen or isinstance(value, nn.Parameter):
        return  # parameters are meant to require grad
    seen.add(id(value))
    if isinstance(value, Tensor):
        yield path, value
    elif isinstance(value, nn.Module):
        for name, buffer in value.named_buffers():
            yield f"{path}.{name}", buffer
        for prefix, module in value.named_modules():
            where = f"{path}.{prefix}" if prefix else path
            for key, item in vars(module).items():
                if key not in _module_internals() and not isinstance(item, nn.Module):
                    yield from _state(item, f"{where}.{key}", False, seen)
    elif isinstance(value, Mapping):
        for i, (key, item) in enumerate(value.items()):
            yield from _state(
                item, f"{path}[{key!r}]" if isinstance(key, str | int) else f"{path}[<key {i}>]", False, seen
            )
    elif isinstance(value, list | tuple | set):
        for i, item in enumerate(value):
            yield from _state(item, f"{path}[{i}]", False, seen)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):  # a learner's state record
        for f in dataclasses.fields(value):
            yield from _state(getattr(value, f.name), f"{path}.{f.name}", False, seen)
    elif top and hasattr(value, "__dict__"):  # an optimiser, a cache object: its own attributes only
        for key, item in vars(value).items():
            yield from _state(item, f"{path}.{key}", False, seen)


def assert_no_history(state: Any, what: str) -> None:
    """Fail if a tensor kept in `state` carries autograd history or requires grad without being a
    parameter. `state` may be a module (buffers and plain tensor attributes of every sub-module),
    an optimiser or any object (its attributes), or a container of tensors (a returned cache).

    History shows only when the stored tensor was computed from something that records it: run
    the module on `requiring_grad(x)` first.
    """
    for path, tensor in _state(state, what, True, set()):
        if tensor.grad_fn is not None:
            fail(
                f"`{path}` carries autograd history (grad_fn={type(tensor.grad_fn).__name__}): it was computed "
                "from tensors that record gradients and stored as it is. Update stored state under "
                "`with t.no_grad():` (or store `value.detach()`). Otherwise each call keeps the previous "
                "call's whole graph alive: memory grows every step, and a later backward can fail with "
                "'Trying to backward through the graph a second time'."
            )
        if tensor.requires_grad:
            fail(
                f"`{path}` requires grad but is not a parameter. State that the optimiser must not update "
                "(running statistics, moment estimates, caches) should be a plain tensor or a buffer "
                "(`register_buffer`); a learned value should be an `nn.Parameter`."
            )


# ---------------------------------------------------------------------------------------------
# (c) calling twice


def _mismatch(got: Any, want: Any, path: str, atol: float, rtol: float) -> str | None:
    """Why `got` is not `want` (tensors within a tolerance, containers item by item), or None."""
    if isinstance(want, Tensor) or isinstance(got, Tensor):
        if not (isinstance(want, Tensor) and isinstance(got, Tensor)):
            return f"{path} is a {type(got).__name__}, expected a {type(want).__name__}"
        if got.dtype != want.dtype:
            return f"{path} has dtype {got.dtype}, expected {want.dtype}"
        try:
            assert_close(got.detach(), want.detach(), path, atol=atol, rtol=rtol)
        except ExerciseFailure as exc:
            return str(exc)
        return None
    if isinstance(want, Mapping):
        if not isinstance(got, Mapping) or list(got) != list(want):
            return f"{path} is {got!r}, expected keys {list(want)}"
        return next((m for k in want if (m := _mismatch(got[k], want[k], f"{path}[{k!r}]", atol, rtol))), None)
    if isinstance(want, list | tuple):
        if not isinstance(got, list | tuple) or len(got) != len(want):
            return f"{path} is {got!r}, expected {len(want)} items"
        return next(
            (m for i, (g, w) in enumerate(zip(got, want)) if (m := _mismatch(g, w, f"{path}[{i}]", atol, rtol))), None
        )
    if isinstance(want, float) and isinstance(got, int | float):
        same = abs(got - want) <= atol + rtol * abs(want) or (got != got and want != want)
        return None if same else f"{path} is {got!r}, expected {want!r}"
    return None if got == want else f"{path} is {got!r}, expected {want!r}"


def _frozen(value: Any) -> Any:
    """A copy that later calls cannot change: tensors are cloned, containers rebuilt."""
    if isinstance(value, Tensor):
        return value.detach().clone()
    if isinstance(value, Mapping):
        return {k: _frozen(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_frozen(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_frozen(v) for v in value)
    return value


def assert_repeatable(call: Callable[[], Any], what: str) -> Any:
    """Call twice with the same inputs; the two results must be identical. Returns the second.

    Catches hidden state between calls (a cache, a counter, a module attribute) and inputs eaten
    by the first call. Use it where the statement promises a pure function (a forward pass in
    eval mode, a schedule, an accuracy).
    """
    first = _frozen(call())
    second = call()
    problem = _mismatch(second, first, "the second result", atol=0.0, rtol=0.0)
    if problem:
        fail(
            f"{what} gave a different result the second time it was called with the same inputs ({problem}). "
            "It must not keep hidden state between calls, nor change its inputs in place."
        )
    return second


def assert_calls_match(
    mine: Callable[[], Any],
    twin: Callable[[], Any],
    what: str,
    *,
    calls: int = 2,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    result: str = "the result",
    describe: Callable[[int], str] | None = None,
    advice: Callable[[int], str] | None = None,
) -> None:
    """Call `mine` and its trusted `twin` in turn, `calls` times; each pair of results must agree.

    For stateful code whose statement says what a repeated call does (an optimiser's step, a
    BatchNorm's running statistics, a cache): the first call agreeing and a later one not points
    at what is carried between calls. `result` names what the callables return ("the
    parameters"), `describe(i)` names call `i` (1-based; "step 3 of 100") and `advice(i)` adds
    what was special about it.
    """
    for i in range(1, calls + 1):
        got, want = mine(), twin()
        problem = _mismatch(got, want, result, atol, rtol)
        if problem:
            message = f"{what}, {describe(i) if describe else f'call {i} of {calls}'}: {problem.rstrip('.')}."
            if i > 1:
                message += (
                    " The earlier calls agree, so look at what is carried from one call to the next: running "
                    "statistics, step counters, momentum, a cache, or an input that an earlier call changed."
                )
            fail(f"{message} {advice(i)}" if advice else message)


# ---------------------------------------------------------------------------------------------
# (d) float64 and non-contiguous inputs


def noncontiguous(x: Tensor) -> Tensor:
    """The same values in a layout no fresh tensor has: dimensions stored in reverse order, every
    stride doubled, and an offset into a larger buffer, like the views `x.mT` or `x[..., ::2]`.
    `.view(...)` that merges dimensions fails on it, and so do strides computed from the shape."""
    if x.numel() <= 1:
        return x.clone()
    order = list(reversed(range(x.dim())))
    strides = [0] * x.dim()
    step = 2
    for d in reversed(order):  # the first dimension is stored fastest
        strides[d] = step
        step *= x.shape[d]
    buffer = x.new_zeros(1 + 2 * x.numel())
    out = buffer.as_strided(x.shape, strides, storage_offset=1)
    with torch.no_grad():
        out.copy_(x)
    return out


def _float64(value: Any) -> Any:
    if isinstance(value, Tensor) and value.is_floating_point():
        return value.detach().double()
    return value


def _scattered(value: Any) -> Any:
    return noncontiguous(value.detach()) if isinstance(value, Tensor) else value


def _dtype_problem(got: Any, want: Any) -> str | None:
    if isinstance(got, Tensor) and isinstance(want, Tensor) and got.dtype != want.dtype:
        return f"returned {got.dtype} where the trusted version returns {want.dtype}"
    if isinstance(got, list | tuple) and isinstance(want, list | tuple):
        return next((p for g, w in zip(got, want) if (p := _dtype_problem(g, w))), None)
    return None


_LAYOUT_ADVICE = {
    "float64": (
        "Make new tensors with the input's dtype and device: `x.new_zeros(...)`, `x.new_full(...)`, "
        "`t.zeros_like(x)` or `dtype=x.dtype`; a bare `t.zeros(...)` or `t.full(...)` is float32."
    ),
    "non-contiguous": (
        "Inputs can be views (after a transpose, a permute or a slice): use `.reshape` rather than `.view`, "
        "and read strides from `x.stride()` rather than computing them from the shape."
    ),
}


def assert_layouts(
    fn: Callable[..., Any],
    *args: Any,
    oracle: Callable[..., Any],
    what: str,
    float64: bool = True,
    contiguity: bool = True,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> None:
    """Run `fn` and its trusted `oracle` on float64 copies of the floating-point tensor arguments,
    then on non-contiguous copies of every tensor argument; results, dtypes included, must agree.

    Switch off what the statement does not promise (`float64=False` for a module whose weights
    are float32; convert the module with `.double()` inside `fn` and `oracle` instead).
    """
    variants = []
    if float64:
        variants.append(("float64", tuple(_float64(a) for a in args)))
    if contiguity:
        variants.append(("non-contiguous", tuple(_scattered(a) for a in args)))
    for label, inputs in variants:
        want = oracle(*inputs)
        try:
            got = fn(*inputs)
        except (ExerciseFailure, NotImplementedError):
            raise
        except Exception as exc:  # noqa: BLE001 - the learner's error, explained with its cause
            fail(
                f"{what} raised {type(exc).__name__} on a {label} input ({str(exc).splitlines()[0] if str(exc) else ''}), "
                f"though it works on a float32, contiguous one. {_LAYOUT_ADVICE[label]}"
            )
        problem = _dtype_problem(got, want) or _mismatch(got, want, f"{what} on a {label} input", atol, rtol)
        if problem:
            fail(f"{what} on a {label} input: {problem}. {_LAYOUT_ADVICE[label]}")


# ---------------------------------------------------------------------------------------------
# gradients: a forward that matches can still backpropagate wrongly


def assert_backward_matches(
    mine: nn.Module,
    twin: nn.Module,
    x: Tensor,
    what: str,
    *,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> None:
    """Backpropagate the same weighted sum of outputs through `mine` and its trusted `twin` (same
    state, same parameter names); the input's gradient and every parameter's must agree.

    A detach or a `no_grad` in the wrong place (batch statistics computed without gradients, a
    numpy round trip) gives the right outputs and a wrong gradient, which training then follows.
    """
    x_mine, x_twin = _leaf(x), _leaf(x)
    out_mine, out_twin = mine(x_mine), twin(x_twin)
    if not isinstance(out_mine, Tensor) or not out_mine.requires_grad:
        fail(
            f"{what}'s output does not record gradients, so nothing before it can learn: compute it with "
            "tensor operations on the input (no `.detach()`, `.item()`, numpy, or `t.no_grad()` in forward)."
        )
    weights = torch.randn(out_twin.shape, generator=torch.Generator().manual_seed(0), dtype=out_twin.dtype)
    (out_mine * weights).sum().backward()
    (out_twin * weights).sum().backward()
    hint = (
        "The outputs agree but the gradients do not: is something detached, or computed under no_grad, "
        "that the output depends on?"
    )
    grad = x_mine.grad if x_mine.grad is not None else torch.zeros_like(x)
    try:
        assert_close(grad, x_twin.grad, f"the gradient of {what}'s input", atol=atol, rtol=rtol)
        theirs = dict(twin.named_parameters())
        for name, p in mine.named_parameters():
            mine_grad = p.grad if p.grad is not None else torch.zeros_like(p)
            assert_close(mine_grad, theirs[name].grad, f"the gradient of {what}.{name}", atol=atol, rtol=rtol)
    except ExerciseFailure as exc:
        fail(f"{exc} {hint}")


# ---------------------------------------------------------------------------------------------
# hooks: a model handed to an exercise goes back without any


def hooks_left(model: nn.Module) -> list[str]:
    """Names of the sub-modules of `model` that still hold a hook: torch's own (forward, forward
    pre, backward) or a TransformerLens HookPoint's (`fwd_hooks`, `bwd_hooks`)."""
    return [
        name or "(the model itself)"
        for name, module in model.named_modules()
        if module._forward_hooks
        or module._forward_pre_hooks
        or module._backward_hooks
        or module._backward_pre_hooks
        or getattr(module, "fwd_hooks", None)
        or getattr(module, "bwd_hooks", None)
    ]


def assert_no_hooks_left(model: nn.Module, what: str) -> None:
    """Fail if `what` left a hook attached to `model`.

    A hook added with `model.add_hook` (or `register_forward_hook`) and never removed runs on
    every later forward pass: the next run is steered or patched twice, and any other code that
    uses the model sees an edited one. Check on a model of the test's own, so that a hook left
    behind cannot leak into the next test.
    """
    left = hooks_left(model)
    if left:
        fail(
            f"{what} left a hook attached to {', '.join(f'`{n}`' for n in left[:3])}"
            f"{f' and {len(left) - 3} more' if len(left) > 3 else ''}: every later forward pass runs it too. "
            "Attach hooks for one run only: `model.run_with_hooks(tokens, fwd_hooks=[(name, hook)])` or "
            "`with model.hooks(fwd_hooks=[(name, hook)]):`, or call `model.reset_hooks()` when done."
        )
