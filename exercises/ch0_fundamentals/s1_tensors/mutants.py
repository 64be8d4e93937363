"""Plausible wrong answers for section 0.1; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import math

import einops
import torch as t

from exercises.ch0_fundamentals.s1_tensors import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


@mutant("pairwise_sq_distances", "returns distances, not squared distances")
def distances_not_squared(a, b):
    return ref.pairwise_sq_distances(a, b).sqrt()


@mutant("pairwise_sq_distances", "sums over the wrong axis")
def sum_over_points(a, b):
    return ((a[:, None] - b[None]) ** 2).sum(dim=0)


@mutant("normalize_rows", "divides in place, modifying the caller's tensor", kind=SIDE_EFFECT)
def normalize_in_place(x):
    x /= x.norm(dim=1, keepdim=True)
    return x


@mutant("normalize_rows", "normalises columns")
def normalize_columns(x):
    return x / x.norm(dim=0, keepdim=True)


@mutant("sliding_windows", "copies the windows instead of viewing them")
def windows_by_stacking(x, k):
    return t.stack([x[i : i + k] for i in range(len(x) - k + 1)])


@mutant("sliding_windows", "off by one: drops the last window")
def windows_off_by_one(x, k):
    return x.as_strided((len(x) - k, k), (x.stride(0), x.stride(0)))


@mutant("sliding_windows", "assumes the input is contiguous (stride 1)", kind=DOMAIN_CORNER)
def windows_stride_one(x, k):
    return x.as_strided((len(x) - k + 1, k), (1, 1))


@mutant("batched_trace", "sums every entry")
def trace_sums_all(x):
    return x.sum(dim=(1, 2))


@mutant("attention_scores", "forgets the 1/sqrt(d) scale")
def scores_unscaled(q, k):
    return t.einsum("bqd,bkd->bqk", q, k)


@mutant("attention_scores", "scales by 1/d")
def scores_over_d(q, k):
    return t.einsum("bqd,bkd->bqk", q, k) / q.shape[-1]


@mutant("image_to_patches", "numbers patches column by column")
def patches_column_major(img, k):
    return einops.rearrange(img, "c (h k1) (w k2) -> (w h) (c k1 k2)", k1=k, k2=k)


@mutant("image_to_patches", "puts the channel last inside each patch")
def patches_channel_last(img, k):
    return einops.rearrange(img, "c (h k1) (w k2) -> (h w) (k1 k2 c)", k1=k, k2=k)


@mutant("avg_pool", "takes the max")
def pool_max(x, k):
    return einops.reduce(x, "b c (h k1) (w k2) -> b c h w", "max", k1=k, k2=k)


@mutant("avg_pool", "splits the axes as (k h) instead of (h k)")
def pool_interleaved(x, k):
    return einops.reduce(x, "b c (k1 h) (k2 w) -> b c h w", "mean", k1=k, k2=k)


@mutant("make_rays_2d", "orders rays z-major")
def rays_z_major(num_y, num_z, y_limit, z_limit):
    rays = ref.make_rays_2d(num_y, num_z, y_limit, z_limit)
    return einops.rearrange(rays, "(y z) a b -> (z y) a b", y=num_y, z=num_z)


@mutant("make_rays_2d", "uses the limits as a half-open range")
def rays_arange(num_y, num_z, y_limit, z_limit):
    rays = ref.make_rays_2d(num_y, num_z, y_limit, z_limit)
    rays[:, 1, 1:] *= (max(num_y, 2) - 1) / max(num_y, 2)
    return rays


@mutant("pairwise_sq_distances", "adds the broadcast axis to b in place (`b.unsqueeze_(0)`)", kind=SIDE_EFFECT)
def pairwise_unsqueezes_b(a, b):
    b.unsqueeze_(0)
    return ((a[:, None, :] - b) ** 2).sum(dim=-1)


@mutant(
    "pairwise_sq_distances",
    "accumulates into a float32 t.zeros buffer (float64 inputs lose precision)",
    kind=DOMAIN_CORNER,
)
def pairwise_float32_buffer(a, b):
    out = t.zeros(a.shape[0], b.shape[0])
    out += ((a[:, None, :] - b[None, :, :]) ** 2).sum(dim=-1)
    return out


@mutant("attention_scores", "scales k in place before the einsum", kind=SIDE_EFFECT)
def scores_scale_k_in_place(q, k):
    k.mul_(1 / math.sqrt(q.shape[-1]))
    return t.einsum("bqd,bkd->bqk", q, k)


@mutant(
    "sliding_windows", "makes x contiguous first: right values, but a copy when x is a strided view", kind=DOMAIN_CORNER
)
def windows_of_contiguous_copy(x, k):
    x = x.contiguous()
    return x.as_strided((len(x) - k + 1, k), (x.stride(0), x.stride(0)))


@mutant("sliding_windows", "passes storage_offset=0, which a view starting at element 0 hides", kind=HIDDEN_TERM)
def windows_offset_zero(x, k):
    s = x.stride(0)
    return t.as_strided(x, (len(x) - k + 1, k), (s, s), storage_offset=0)


@mutant("image_to_patches", "merges axes with .view (fails on a non-contiguous image)", kind=DOMAIN_CORNER)
def patches_merge_with_view(img, k):
    c, h, w = img.shape
    rows = img.view(c * h // k, k, w)  # merging c and h needs them laid out one after the other
    return einops.rearrange(rows, "(c h) k1 (w k2) -> (h w) (c k1 k2)", c=c, k2=k)


@mutant("avg_pool", "reshapes with .view (fails on a non-contiguous input)", kind=DOMAIN_CORNER)
def pool_with_view(x, k):
    b, c, h, w = x.shape
    return x.view(b * c, h // k, k, w // k, k).mean(dim=(2, 4)).view(b, c, h // k, w // k)


@mutant("batched_trace", "contracts with a float32 t.eye(n), which einsum refuses for float64 x", kind=DOMAIN_CORNER)
def trace_with_eye(x):
    return t.einsum("bij,ij->b", x, t.eye(x.shape[-1]))


def _system(rays, triangles):
    """The batched matrices and right-hand sides of the reference, (nr, nt, 3, 3) and (nr, nt, 3)."""
    O, D = rays[:, None, 0], rays[:, None, 1]
    A, B, C = (triangles[None, :, i] for i in range(3))
    mat = t.stack(t.broadcast_tensors(-D, B - A, C - A), dim=-1)
    return mat, (O - A).expand(mat.shape[:-1])


def _solve(rays, triangles, degenerate_if):
    """Solve with degenerate pairs (as `degenerate_if(mat)` decides) swapped for the identity."""
    mat, rhs = _system(rays, triangles)
    degenerate = degenerate_if(mat)
    mat = t.where(degenerate[..., None, None], t.eye(3).expand_as(mat), mat)
    s, u, v = t.linalg.solve(mat, rhs).unbind(-1)
    return s, u, v, degenerate


def _relative(mat):
    return t.linalg.det(mat).abs() <= 1e-5 * mat.norm(dim=-2).prod(dim=-1)


def _miss_unless(hit, s):
    return t.where(hit, s, t.full_like(s, math.inf))


@mutant("intersect_rays_triangles", "allows u + v up to 2 (tests u <= 1 and v <= 1 separately)")
def intersect_square(rays, triangles):
    s, u, v, degenerate = _solve(rays, triangles, _relative)
    return _miss_unless((s > 0) & (u >= 0) & (v >= 0) & (u <= 1) & (v <= 1) & ~degenerate, s)


@mutant("intersect_rays_triangles", "counts hits behind the origin")
def intersect_behind(rays, triangles):
    s, u, v, degenerate = _solve(rays, triangles, _relative)
    return _miss_unless((u >= 0) & (v >= 0) & (u + v <= 1) & ~degenerate, s.abs())


@mutant(
    "intersect_rays_triangles",
    "decides 'parallel' with an absolute threshold |det| < 1e-8 (the old reference): the same scene in other "
    "units loses every hit, and on some CPUs the solver raises on a degenerate pair",
)
def intersect_absolute_threshold(rays, triangles):
    s, u, v, degenerate = _solve(rays, triangles, lambda mat: t.linalg.det(mat).abs() < 1e-8)
    return _miss_unless((s > 0) & (u >= 0) & (v >= 0) & (u + v <= 1) & ~degenerate, s)


@mutant("intersect_rays_triangles", "solves every system, degenerate ones included (raises 'singular')")
def intersect_unguarded(rays, triangles):
    mat, rhs = _system(rays, triangles)
    s, u, v = t.linalg.solve(mat, rhs).unbind(-1)
    return _miss_unless((s > 0) & (u >= 0) & (v >= 0) & (u + v <= 1), s)


@mutant("intersect_rays_triangles", "swaps degenerate matrices for the identity but never marks them as misses")
def intersect_degenerate_hits(rays, triangles):
    s, u, v, _ = _solve(rays, triangles, _relative)
    return _miss_unless((s > 0) & (u >= 0) & (v >= 0) & (u + v <= 1), s)


@mutant("render_depth", "keeps the farthest hit")
def depth_farthest(rays, triangles):
    hits = ref.intersect_rays_triangles(rays, triangles)
    far = t.where(t.isinf(hits), t.full_like(hits, -1.0), hits).max(1).values
    return t.where(far < 0, t.full_like(far, math.inf), far)
