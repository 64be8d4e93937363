"""Reference solutions for section 0.1, Tensors and einops.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


import math

import einops
import torch as t
from torch import Tensor

from exercises.framework.config import pick


# Exercise 0.1.1: All pairwise squared distances by broadcasting
def pairwise_sq_distances(a: Tensor, b: Tensor) -> Tensor:
    """a: (n, d), b: (m, d) -> (n, m) with out[i, j] = ||a[i] - b[j]||^2."""
    diff = a[:, None, :] - b[None, :, :]
    return (diff**2).sum(dim=-1)


# Exercise 0.1.2: Unit-length rows without touching the input
def normalize_rows(x: Tensor) -> Tensor:
    """x: (n, d) -> (n, d), each row divided by its L2 norm. `x` itself is unchanged."""
    return x / x.norm(dim=1, keepdim=True)


# Exercise 0.1.3: Sliding windows as a strided view
def sliding_windows(x: Tensor, k: int) -> Tensor:
    """x: (n,) -> (n - k + 1, k) with out[i] = x[i : i + k], as a view sharing x's storage."""
    n = x.shape[0]
    (s,) = x.stride()
    return x.as_strided(size=(n - k + 1, k), stride=(s, s))


# Exercise 0.1.4: A batched trace with einsum
def batched_trace(x: Tensor) -> Tensor:
    """x: (b, n, n) -> (b,), the trace of each matrix."""
    return t.einsum("bii->b", x)


# Exercise 0.1.5: Scaled attention scores with einsum
def attention_scores(q: Tensor, k: Tensor) -> Tensor:
    """q: (b, nq, d), k: (b, nk, d) -> (b, nq, nk) with out[b, i, j] = q[b, i] . k[b, j] / sqrt(d)."""
    return t.einsum("bqd,bkd->bqk", q, k) / math.sqrt(q.shape[-1])


# Exercise 0.1.6: Cut an image into patches with rearrange
def image_to_patches(img: Tensor, k: int) -> Tensor:
    """img: (c, h, w) with h, w divisible by k -> (h*w/k^2, c*k*k), patches in row-major order."""
    return einops.rearrange(img, "c (h k1) (w k2) -> (h w) (c k1 k2)", k1=k, k2=k)


# Exercise 0.1.7: Average pooling with reduce
def avg_pool(x: Tensor, k: int) -> Tensor:
    """x: (b, c, h, w) -> (b, c, h/k, w/k), the mean of each non-overlapping k x k block."""
    return einops.reduce(x, "b c (h k1) (w k2) -> b c h w", "mean", k1=k, k2=k)


# Exercise 0.1.8: One ray per pixel
def make_rays_2d(num_y: int, num_z: int, y_limit: float, z_limit: float) -> Tensor:
    """-> (num_y * num_z, 2, 3): origins at 0, directions (1, y_i, z_j) for ray i * num_z + j."""
    rays = t.zeros(num_y * num_z, 2, 3)
    ys = einops.repeat(t.linspace(-y_limit, y_limit, num_y), "y -> (y z)", z=num_z)
    zs = einops.repeat(t.linspace(-z_limit, z_limit, num_z), "z -> (y z)", y=num_y)
    rays[:, 1, 0] = 1.0
    rays[:, 1, 1] = ys
    rays[:, 1, 2] = zs
    return rays


# Exercise 0.1.9: Every ray against every triangle in one solve
def intersect_rays_triangles(rays: Tensor, triangles: Tensor) -> Tensor:
    """rays: (nr, 2, 3), triangles: (nt, 3, 3) -> (nr, nt) distance s of each hit, t.inf on a miss."""
    O = rays[:, None, 0]  # (nr, 1, 3)
    D = rays[:, None, 1]
    A, B, C = (triangles[None, :, i] for i in range(3))  # each (1, nt, 3)
    mat = t.stack(t.broadcast_tensors(-D, B - A, C - A), dim=-1)  # (nr, nt, 3, 3)
    rhs = (O - A).expand(mat.shape[:-1])  # (nr, nt, 3)
    # Parallel rays and zero-area triangles: |det| is tiny *relative to* the column lengths.
    size = mat.norm(dim=-2).prod(dim=-1)  # (nr, nt), the largest |det| these columns allow
    degenerate = t.linalg.det(mat).abs() <= 1e-5 * size
    mat = t.where(degenerate[..., None, None], t.eye(3).expand_as(mat), mat)
    s, u, v = t.linalg.solve(mat, rhs).unbind(-1)
    hit = (s > 0) & (u >= 0) & (v >= 0) & (u + v <= 1) & ~degenerate
    return t.where(hit, s, t.full_like(s, t.inf))


# Exercise 0.1.10: A depth image from the nearest hits
def render_depth(rays: Tensor, triangles: Tensor) -> Tensor:
    """-> (nr,) distance to the nearest triangle along each ray, t.inf where a ray hits nothing."""
    return intersect_rays_triangles(rays, triangles).min(dim=1).values


def icosahedron(center: tuple[float, float, float], radius: float) -> Tensor:
    """(20, 3, 3) triangles of a regular icosahedron."""
    phi = (1 + 5**0.5) / 2
    verts = t.tensor(
        [[-1, phi, 0], [1, phi, 0], [-1, -phi, 0], [1, -phi, 0], [0, -1, phi], [0, 1, phi],
         [0, -1, -phi], [0, 1, -phi], [phi, 0, -1], [phi, 0, 1], [-phi, 0, -1], [-phi, 0, 1]],
        dtype=t.float32,
    )
    faces = t.tensor(
        [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
         [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
         [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]]
    )
    verts = verts / verts.norm(dim=1, keepdim=True) * radius + t.tensor(center)
    return verts[faces]


def scene() -> Tensor:
    """An icosahedron above a ground plane, as (22, 3, 3) triangles."""
    floor = t.tensor(
        [[[2.0, -3.0, -1.0], [9.0, -3.0, -1.0], [9.0, 3.0, -1.0]],
         [[2.0, -3.0, -1.0], [9.0, 3.0, -1.0], [2.0, 3.0, -1.0]]]
    )
    return t.cat([icosahedron((4.0, 0.0, 0.0), 1.0), floor])
