"""Right answers for section 0.1 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct answer for not being the reference."""

from __future__ import annotations

import math

import einops
import torch as t
from torch.nn import functional as F

from exercises.framework.alternatives import alternative


@alternative("pairwise_sq_distances", "|a|^2 + |b|^2 - 2 a.b, clamped at 0 against rounding")
def pairwise_sq_distances_expanded(a, b):
    return ((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T).clamp(min=0)


@alternative("normalize_rows", "F.normalize")
def normalize_rows_functional(x):
    return F.normalize(x, dim=1)


@alternative("normalize_rows", "multiplies by rsqrt of the sum of squares")
def normalize_rows_rsqrt(x):
    return x * x.pow(2).sum(dim=1, keepdim=True).rsqrt()


@alternative("sliding_windows", "Tensor.unfold, which is a view too")
def sliding_windows_unfold(x, k):
    return x.unfold(0, k, 1)


@alternative("sliding_windows", "t.as_strided with x's storage offset passed explicitly")
def sliding_windows_explicit_offset(x, k):
    s = x.stride(0)
    return t.as_strided(x, (x.shape[0] - k + 1, k), (s, s), x.storage_offset())


@alternative("batched_trace", "Tensor.diagonal over the last two axes")
def batched_trace_diagonal(x):
    return x.diagonal(dim1=1, dim2=2).sum(-1)


@alternative("attention_scores", "a batched matmul with the transposed keys")
def attention_scores_matmul(q, k):
    return q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])


@alternative("image_to_patches", "view to split the axes (possible on any strides), permute, reshape")
def image_to_patches_permute(img, k):
    c, h, w = img.shape
    patches = img.view(c, h // k, k, w // k, k).permute(1, 3, 0, 2, 4)
    return patches.reshape((h // k) * (w // k), c * k * k)


@alternative("image_to_patches", "F.unfold, transposed")
def image_to_patches_unfold(img, k):
    return F.unfold(img.unsqueeze(0), kernel_size=k, stride=k).squeeze(0).T


@alternative("avg_pool", "F.avg_pool2d")
def avg_pool_functional(x, k):
    return F.avg_pool2d(x, k)


@alternative("avg_pool", "reshape into blocks and average two axes")
def avg_pool_reshape(x, k):
    b, c, h, w = x.shape
    return x.reshape(b, c, h // k, k, w // k, k).mean(dim=(3, 5))


@alternative("make_rays_2d", "meshgrid with matrix indexing, stacked into directions")
def make_rays_2d_meshgrid(num_y, num_z, y_limit, z_limit):
    ys, zs = t.meshgrid(t.linspace(-y_limit, y_limit, num_y), t.linspace(-z_limit, z_limit, num_z), indexing="ij")
    directions = t.stack([t.ones_like(ys), ys, zs], dim=-1).reshape(-1, 3)
    return t.stack([t.zeros_like(directions), directions], dim=1)


@alternative("make_rays_2d", "einops.repeat for the grid, one row of origins and directions per pixel")
def make_rays_2d_repeat(num_y, num_z, y_limit, z_limit):
    ys = einops.repeat(t.linspace(-y_limit, y_limit, num_y), "y -> (y z)", z=num_z)
    zs = einops.repeat(t.linspace(-z_limit, z_limit, num_z), "z -> (y z)", y=num_y)
    directions = t.stack([t.ones(num_y * num_z), ys, zs], dim=1)
    return einops.rearrange([t.zeros_like(directions), directions], "two n d -> n two d")
