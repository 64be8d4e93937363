"""Right answers for section 0.2 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct layer for not being the reference."""

from __future__ import annotations

import math

import torch as t
from torch import nn
from torch.nn import functional as F

from exercises.ch0_fundamentals.s2_neural_networks import solutions as ref
from exercises.framework.alternatives import alternative


@alternative("ReLU", "multiplies by the mask x > 0")
class ReLUMask(nn.Module):
    def forward(self, x):
        return x * (x > 0)


@alternative("Linear", "einsum over any leading dimensions, weights drawn with uniform_")
class LinearEinsum(nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        bound = in_features**-0.5
        self.weight = nn.Parameter(t.empty(out_features, in_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(t.empty(out_features).uniform_(-bound, bound)) if bias else None

    def forward(self, x):
        out = t.einsum("...i,oi->...o", x, self.weight)
        return out if self.bias is None else out + self.bias


@alternative("Flatten", "makes the input contiguous, then views it")
class FlattenContiguousView(ref.Flatten):
    def forward(self, x):
        start = self.start_dim + x.ndim if self.start_dim < 0 else self.start_dim
        end = self.end_dim + x.ndim if self.end_dim < 0 else self.end_dim
        merged = 1
        for size in x.shape[start : end + 1]:
            merged *= size
        return x.contiguous().view(*x.shape[:start], merged, *x.shape[end + 1 :])


@alternative("Flatten", "leaves a negative start_dim to Python's slicing (shape[:-2] is shape[:ndim - 2])")
class FlattenNegativeSlices(ref.Flatten):
    def forward(self, x):
        start, end = self.start_dim, self.end_dim % x.ndim
        return x.reshape(*x.shape[:start], math.prod(x.shape[start : end + 1]), *x.shape[end + 1 :])


@alternative("pad2d", "concatenates borders made with new_full")
def pad2d_cat(x, padding, value=0.0):
    if padding == 0:
        return x.clone()
    *lead, h, w = x.shape
    side = x.new_full((*lead, h, padding), value)
    x = t.cat([side, x, side], dim=-1)
    top = x.new_full((*lead, padding, w + 2 * padding), value)
    return t.cat([top, x, top], dim=-2)


@alternative("conv2d", "explicit loops over output positions instead of a strided view")
def conv2d_loops(x, weight, stride=1, padding=0):
    x = ref.pad2d(x, padding)
    b, _, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = x.new_zeros(b, c_out, oh, ow)
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[:, :, i, j] = t.einsum("bchw,ochw->bo", patch, weight)
    return out


@alternative("maxpool2d", "unfold along height then width, instead of as_strided")
def maxpool2d_unfold(x, kernel_size, stride=None, padding=0):
    stride = kernel_size if stride is None else stride
    x = ref.pad2d(x, padding, value=-math.inf)
    windows = x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride)
    return windows.flatten(-2).max(dim=-1).values


@alternative("BatchNorm2d", "variance as a mean of squares; buffers rebound to detached tensors")
class BatchNorm2dRebind(ref.BatchNorm2d):
    def forward(self, x):
        shape = (1, -1, 1, 1)
        if self.training:
            mean = x.mean(dim=(0, 2, 3))
            var = ((x - mean.view(shape)) ** 2).mean(dim=(0, 2, 3))
            m = self.momentum
            self.running_mean = (1 - m) * self.running_mean + m * mean.detach()
            self.running_var = (1 - m) * self.running_var + m * x.detach().var(dim=(0, 2, 3), unbiased=True)
            self.num_batches_tracked = self.num_batches_tracked + 1
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean.view(shape)) * (self.weight / (var + self.eps).sqrt()).view(shape) + self.bias.view(shape)


@alternative("train_epoch", "zeroes the gradients after each step instead of before (they start empty)")
def train_epoch_zero_after(model, optimizer, x, y, batch_size, generator):
    model.train()
    losses = []
    for idx in ref.batches(len(x), batch_size, generator):
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return sum(losses) / len(losses)


@alternative("evaluate", "one forward pass over all of x under no_grad, ignoring batch_size")
def evaluate_all_at_once(model, x, y, batch_size=512):
    model.eval()
    with t.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()
