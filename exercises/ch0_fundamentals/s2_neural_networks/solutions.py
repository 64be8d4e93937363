"""Reference solutions for section 0.2, Neural networks from scratch.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


import math
import tempfile
from pathlib import Path
from typing import NamedTuple

import einops
import torch as t
from torch import Tensor, nn

from exercises.ch0_fundamentals.common import Digits, batches, digits
from exercises.framework.config import device, pick


# Exercise 0.2.1: ReLU as a module
class ReLU(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        """Elementwise max(x, 0), without modifying x."""
        return t.maximum(x, t.zeros_like(x))


# Exercise 0.2.2: A linear layer with torch's layout and initialisation
class Linear(nn.Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        bound = 1 / math.sqrt(in_features)
        self.weight = nn.Parameter((t.rand(out_features, in_features) * 2 - 1) * bound)
        self.bias = nn.Parameter((t.rand(out_features) * 2 - 1) * bound) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., in_features) -> (..., out_features)."""
        out = x @ self.weight.T
        return out + self.bias if self.bias is not None else out


# Exercise 0.2.3: Flatten a range of dimensions
class Flatten(nn.Module):
    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        start, end = self.start_dim % x.ndim, self.end_dim % x.ndim
        shape = x.shape
        return x.reshape(*shape[:start], math.prod(shape[start : end + 1]), *shape[end + 1 :])


# Exercise 0.2.4: Pad the last two dimensions
def pad2d(x: Tensor, padding: int, value: float = 0.0) -> Tensor:
    """x: (..., h, w) -> (..., h + 2 * padding, w + 2 * padding), x in the middle, `value` around it."""
    *lead, h, w = x.shape
    out = x.new_full((*lead, h + 2 * padding, w + 2 * padding), value)
    out[..., padding : padding + h, padding : padding + w] = x
    return out


# Exercise 0.2.5: Convolution as a strided view and one einsum
def conv2d(x: Tensor, weight: Tensor, stride: int = 1, padding: int = 0) -> Tensor:
    """x: (b, c_in, h, w), weight: (c_out, c_in, kh, kw) -> (b, c_out, oh, ow), no bias."""
    x = pad2d(x, padding)
    b, c, h, w = x.shape
    _, _, kh, kw = weight.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    sb, sc, sh, sw = x.stride()
    windows = x.as_strided((b, c, oh, ow, kh, kw), (sb, sc, sh * stride, sw * stride, sh, sw))
    return einops.einsum(windows, weight, "b c oh ow kh kw, o c kh kw -> b o oh ow")


# Exercise 0.2.6: Max pooling with the same windows
def maxpool2d(x: Tensor, kernel_size: int, stride: int | None = None, padding: int = 0) -> Tensor:
    """x: (b, c, h, w) -> (b, c, oh, ow): the max of each kernel_size x kernel_size window."""
    stride = stride or kernel_size
    x = pad2d(x, padding, value=-t.inf)
    b, c, h, w = x.shape
    oh, ow = (h - kernel_size) // stride + 1, (w - kernel_size) // stride + 1
    sb, sc, sh, sw = x.stride()
    windows = x.as_strided(
        (b, c, oh, ow, kernel_size, kernel_size), (sb, sc, sh * stride, sw * stride, sh, sw)
    )
    return windows.amax(dim=(-2, -1))


# Exercise 0.2.7: A Conv2d module
class Conv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.stride, self.padding = stride, padding
        bound = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.weight = nn.Parameter((t.rand(out_channels, in_channels, kernel_size, kernel_size) * 2 - 1) * bound)

    def forward(self, x: Tensor) -> Tensor:
        return conv2d(x, self.weight, self.stride, self.padding)


# Exercise 0.2.8: BatchNorm2d in train and eval mode
class BatchNorm2d(nn.Module):
    running_mean: Tensor
    running_var: Tensor
    num_batches_tracked: Tensor

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(t.ones(num_features))
        self.bias = nn.Parameter(t.zeros(num_features))
        self.register_buffer("running_mean", t.zeros(num_features))
        self.register_buffer("running_var", t.ones(num_features))
        self.register_buffer("num_batches_tracked", t.tensor(0))

    def forward(self, x: Tensor) -> Tensor:
        """x: (b, c, h, w) -> (b, c, h, w)."""
        if self.training:
            mean = x.mean(dim=(0, 2, 3))
            var = x.var(dim=(0, 2, 3), unbiased=False)
            n = x.numel() // x.shape[1]
            with t.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * var * n / (n - 1))
                self.num_batches_tracked += 1
        else:
            mean, var = self.running_mean, self.running_var
        shape = (1, -1, 1, 1)
        x_hat = (x - mean.view(shape)) / t.sqrt(var.view(shape) + self.eps)
        return x_hat * self.weight.view(shape) + self.bias.view(shape)


# Exercise 0.2.9: A Sequential container
class Sequential(nn.Module):
    def __init__(self, *modules: nn.Module) -> None:
        super().__init__()
        for i, module in enumerate(modules):
            self.add_module(str(i), module)

    def forward(self, x: Tensor) -> Tensor:
        for module in self._modules.values():
            x = module(x)
        return x


# Exercise 0.2.10: A residual block with a projection shortcut
class ResidualBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.left = Sequential(
            Conv2d(in_channels, out_channels, 3, stride, 1),
            BatchNorm2d(out_channels),
            ReLU(),
            Conv2d(out_channels, out_channels, 3, 1, 1),
            BatchNorm2d(out_channels),
        )
        if stride != 1 or in_channels != out_channels:
            self.right = Sequential(Conv2d(in_channels, out_channels, 1, stride, 0), BatchNorm2d(out_channels))
        else:
            self.right = Sequential()
        self.relu = ReLU()

    def forward(self, x: Tensor) -> Tensor:
        """x: (b, in_channels, h, w) -> (b, out_channels, h / stride, w / stride)."""
        return self.relu(self.left(x) + self.right(x))


# Exercise 0.2.11: A small ResNet from your own layers
class ResNet(nn.Module):
    def __init__(self, channels: tuple[int, ...] = (16, 32, 64), n_classes: int = 10) -> None:
        super().__init__()
        self.stem = Sequential(Conv2d(1, channels[0], 3, 1, 1), BatchNorm2d(channels[0]), ReLU())
        ins = (channels[0], *channels[:-1])
        self.blocks = Sequential(
            *(ResidualBlock(c_in, c_out, 1 if i == 0 else 2) for i, (c_in, c_out) in enumerate(zip(ins, channels)))
        )
        self.head = Linear(channels[-1], n_classes)

    def forward(self, x: Tensor) -> Tensor:
        """x: (b, 1, h, w) images -> (b, n_classes) logits."""
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


# Exercise 0.2.12: One epoch of training
def train_epoch(
    model: nn.Module, optimizer: t.optim.Optimizer, x: Tensor, y: Tensor, batch_size: int, generator: t.Generator
) -> float:
    """One pass over (x, y) in shuffled batches; returns the mean of the batch losses."""
    model.train()
    losses = []
    for idx in batches(len(x), batch_size, generator):
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


# Exercise 0.2.13: Honest evaluation
def evaluate(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 512) -> float:
    """Accuracy of `model` on (x, y) in eval mode, without recording gradients."""
    model.eval()
    correct = 0
    with t.inference_mode():
        for idx in batches(len(x), batch_size):
            correct += int((model(x[idx]).argmax(dim=1) == y[idx]).sum())
    return correct / len(x)


# Exercise 0.2.14: A checkpoint you can resume from
def save_checkpoint(path: Path, model: nn.Module, optimizer: t.optim.Optimizer, epoch: int) -> None:
    """Write everything needed to resume training after `epoch` to `path`."""
    t.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}, path)


class TrainConfig(NamedTuple):
    """Every number of a training run in one place; sizes follow ARENA_CONFIG at import time."""

    channels: tuple[int, ...] = pick(smoke=(8, 16), default=(16, 32, 64), full=(64, 128, 256))
    epochs: int = pick(smoke=1, default=8, full=30)
    batch_size: int = 64
    lr: float = 3e-3  # AdamW; 0.3 explains why this is a sensible default for small networks
    weight_decay: float = 1e-4
    seed: int = 0


def load_checkpoint(path: Path, model: nn.Module, optimizer: t.optim.Optimizer) -> int:
    """Restore model and optimiser state saved by save_checkpoint; returns the epoch."""
    state = t.load(path, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return state["epoch"]


def train(cfg: TrainConfig, data: Digits, checkpoint_dir: Path) -> tuple[ResNet, dict[str, list[float]]]:
    """Train a ResNet on the digits; returns the best-epoch model and per-epoch history."""
    t.manual_seed(cfg.seed)
    dev = device()
    x_train, y_train = data.x_train.to(dev), data.y_train.to(dev)
    x_test, y_test = data.x_test.to(dev), data.y_test.to(dev)
    model = ResNet(cfg.channels).to(dev)
    optimizer = t.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    generator = t.Generator().manual_seed(cfg.seed)
    history: dict[str, list[float]] = {"loss": [], "train_acc": [], "test_acc": []}
    best = checkpoint_dir / "best.pt"
    for epoch in range(cfg.epochs):
        history["loss"].append(train_epoch(model, optimizer, x_train, y_train, cfg.batch_size, generator))
        history["train_acc"].append(evaluate(model, x_train, y_train))
        history["test_acc"].append(evaluate(model, x_test, y_test))
        if history["test_acc"][-1] >= max(history["test_acc"]):
            save_checkpoint(best, model, optimizer, epoch)
    load_checkpoint(best, model, optimizer)
    return model, history
