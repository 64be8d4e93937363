"""Tests for section 0.1. Call them from your notebook, e.g. `tests.test_avg_pool(avg_pool)`.

Inputs are drawn by hypothesis (fixed seeds), so a test checks many shapes, not one example.
"""

from __future__ import annotations

import math

import einops
import torch as t
from hypothesis import given
from hypothesis import strategies as st
from torch.nn import functional as F

from exercises.ch0_fundamentals.s1_tensors import solutions as ref
from exercises.framework.asserts import (
    LEARNER_SETTINGS,
    ExerciseFailure,
    assert_close,
    assert_shape,
    check,
    learner_test,
)
from exercises.framework.guards import assert_layouts, unchanged


def _randn(seed: int, *shape: int) -> t.Tensor:
    return t.randn(*shape, generator=t.Generator().manual_seed(seed))


seeds = st.integers(0, 2**16)
small = st.integers(1, 6)


def _sq_distances(a: t.Tensor, b: t.Tensor) -> t.Tensor:
    """torch's own pairwise distances, squared; the direct formula, not the |a|^2 + |b|^2 - 2ab shortcut."""
    return t.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist") ** 2


@learner_test
def test_pairwise_sq_distances(pairwise_sq_distances) -> None:
    @LEARNER_SETTINGS
    @given(seeds, small, small, small)
    def prop(seed: int, n: int, m: int, d: int) -> None:
        a, b = _randn(seed, n, d), _randn(seed + 1, m, d)
        what = f"pairwise_sq_distances(a {tuple(a.shape)}, b {tuple(b.shape)})"
        with unchanged(what, a=a, b=b):
            out = pairwise_sq_distances(a, b)
        assert_shape(out, (n, m), what)
        expected = _sq_distances(a, b)
        assert_close(
            out,
            expected,
            "pairwise_sq_distances",
            diagnose={"you returned distances, not squared distances (a square root too many)": expected.sqrt()},
        )

    prop()
    a, b = _randn(1, 4, 3), _randn(2, 5, 3)
    assert_layouts(pairwise_sq_distances, a, b, oracle=_sq_distances, what="pairwise_sq_distances(a, b)")


@learner_test
def test_normalize_rows(normalize_rows) -> None:
    @LEARNER_SETTINGS
    @given(seeds, small, st.integers(2, 6))
    def prop(seed: int, n: int, d: int) -> None:
        x = _randn(seed, n, d) + 0.1
        with unchanged("normalize_rows(x) (the statement says: x itself is unchanged)", x=x):
            out = normalize_rows(x)
        assert_close(
            out,
            F.normalize(x, dim=1),
            "normalize_rows",
            diagnose={"you normalised columns instead of rows (dim=0)": x / x.norm(dim=0, keepdim=True)},
        )

    prop()
    x = _randn(3, 4, 5)
    assert_layouts(normalize_rows, x, oracle=lambda v: F.normalize(v, dim=1), what="normalize_rows(x)")


@learner_test
def test_sliding_windows(sliding_windows) -> None:
    @LEARNER_SETTINGS
    @given(st.integers(1, 12), st.integers(1, 12))
    def prop(n: int, k: int) -> None:
        if k > n:
            k = n
        x = t.arange(float(n))
        with unchanged(f"sliding_windows(arange({n}), k={k})", x=x):
            out = sliding_windows(x, k)
        check(out is not None, "sliding_windows returned None: did you forget `return`?")
        assert_shape(out, (n - k + 1, k), f"sliding_windows(arange({n}), k={k})")
        assert_close(out, x.unfold(0, k, 1), f"sliding_windows(arange({n}), k={k})")
        check(
            out.untyped_storage().data_ptr() == x.untyped_storage().data_ptr(),
            "sliding_windows returned a copy: build a view of x with x.as_strided (no t.stack, no clone).",
        )

    prop()
    # Views of a longer tensor: the windows must follow x's own stride (2 here) and start where x
    # starts in the shared storage (element 3 of base: the storage offset, which a view starting at
    # element 0 would hide), and still be a view, not a copy.
    base = t.arange(20.0)
    for x, what in [(base[::2], "arange(20)[::2]"), (base[3::2], "arange(20)[3::2]")]:
        out = sliding_windows(x, 3)
        assert_close(
            out,
            x.unfold(0, 3, 1),
            f"sliding_windows({what}, 3)",
            diagnose={
                "you assumed stride 1: use x.stride(0)": x.as_strided((len(x) - 2, 3), (1, 1)),
                "the windows start at the beginning of the storage, not at x's first element: keep x's "
                "storage_offset (x.as_strided uses it unless you pass another)": base.as_strided(
                    (len(x) - 2, 3), (2, 2), 0
                ),
            },
        )
        check(
            out.untyped_storage().data_ptr() == base.untyped_storage().data_ptr(),
            f"sliding_windows({what}, 3) returned a copy: x is a view of a longer tensor, and the windows must "
            "be a view of the same storage (no .contiguous(), .clone() or t.stack).",
        )


@learner_test
def test_batched_trace(batched_trace) -> None:
    @LEARNER_SETTINGS
    @given(seeds, small, small)
    def prop(seed: int, b: int, n: int) -> None:
        x = _randn(seed, b, n, n)
        with unchanged(f"batched_trace(x {tuple(x.shape)})", x=x):
            out = batched_trace(x)
        assert_shape(out, (b,), f"batched_trace(x {tuple(x.shape)})")
        assert_close(
            out,
            _trace(x),
            "batched_trace",
            diagnose={"you summed every entry, not the diagonal": x.sum((1, 2))},
        )

    prop()
    assert_layouts(batched_trace, _randn(4, 3, 4, 4), oracle=_trace, what="batched_trace(x)")


def _trace(x: t.Tensor) -> t.Tensor:
    return x.diagonal(dim1=-2, dim2=-1).sum(-1)


def _scores(q: t.Tensor, k: t.Tensor) -> t.Tensor:
    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])


@learner_test
def test_attention_scores(attention_scores) -> None:
    @LEARNER_SETTINGS
    @given(seeds, small, small, small, st.integers(2, 8))
    def prop(seed: int, b: int, nq: int, nk: int, d: int) -> None:
        q, k = _randn(seed, b, nq, d), _randn(seed + 1, b, nk, d)
        what = f"attention_scores(q {tuple(q.shape)}, k {tuple(k.shape)})"
        with unchanged(what, q=q, k=k):
            out = attention_scores(q, k)
        assert_shape(out, (b, nq, nk), what)
        raw = q @ k.transpose(1, 2)
        assert_close(
            out,
            _scores(q, k),
            "attention_scores",
            diagnose={
                "the scale is missing: divide by sqrt(d)": raw,
                "you divided by d instead of sqrt(d)": raw / d,
            },
        )

    prop()
    q, k = _randn(5, 2, 3, 4), _randn(6, 2, 5, 4)
    assert_layouts(attention_scores, q, k, oracle=_scores, what="attention_scores(q, k)")


def _patches(img: t.Tensor, k: int) -> t.Tensor:
    """torch's F.unfold: (1, c * k * k, patches), patches row by row, channel first within one."""
    return F.unfold(img[None], kernel_size=k, stride=k)[0].T


@learner_test
def test_image_to_patches(image_to_patches) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3))
    def prop(seed: int, c: int, ph: int, pw: int, k: int) -> None:
        img = _randn(seed, c, ph * k, pw * k)
        what = f"image_to_patches(img {tuple(img.shape)}, k={k})"
        with unchanged(what, img=img):
            out = image_to_patches(img, k)
        assert_shape(out, (ph * pw, c * k * k), what)
        assert_close(
            out,
            _patches(img, k),
            "image_to_patches",
            diagnose={
                "patches are numbered column by column: put h before w in the output group": einops.rearrange(
                    img, "c (h k1) (w k2) -> (w h) (c k1 k2)", k1=k, k2=k
                ),
                "inside a patch the channel must come first: (c k1 k2)": einops.rearrange(
                    img, "c (h k1) (w k2) -> (h w) (k1 k2 c)", k1=k, k2=k
                ),
            },
        )

    prop()
    # Images often arrive as views (a channel slice, a transposed batch): merging axes needs reshape.
    img = _randn(7, 2, 6, 4)
    assert_layouts(
        lambda v: image_to_patches(v, 2), img, oracle=lambda v: _patches(v, 2), what="image_to_patches(img, 2)"
    )


@learner_test
def test_avg_pool(avg_pool) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3))
    def prop(seed: int, b: int, c: int, h: int, w: int, k: int) -> None:
        x = _randn(seed, b, c, h * k, w * k)
        what = f"avg_pool(x {tuple(x.shape)}, k={k})"
        with unchanged(what, x=x):
            out = avg_pool(x, k)
        assert_shape(out, (b, c, h, w), what)
        assert_close(
            out,
            F.avg_pool2d(x, k),
            "avg_pool",
            diagnose={
                "you took the max, not the mean": F.max_pool2d(x, k),
                "you summed instead of averaging": F.avg_pool2d(x, k) * k * k,
            },
        )

    prop()
    x = _randn(8, 2, 3, 6, 4)
    assert_layouts(lambda v: avg_pool(v, 2), x, oracle=lambda v: F.avg_pool2d(v, 2), what="avg_pool(x, 2)")


@learner_test
def test_make_rays_2d(make_rays_2d) -> None:
    # y_limit != z_limit separates the two axes; a single row (num_y=1) and a single column (num_z=1)
    # are grids too (linspace of one point gives -limit).
    for num_y, num_z, yl, zl in [(3, 2, 1.0, 0.5), (1, 4, 0.3, 0.3), (4, 1, 0.7, 0.2), (5, 5, 2.0, 1.0)]:
        out = make_rays_2d(num_y, num_z, yl, zl)
        expected = ref.make_rays_2d(num_y, num_z, yl, zl)
        what = f"make_rays_2d({num_y}, {num_z}, {yl}, {zl})"
        assert_shape(out, (num_y * num_z, 2, 3), what)
        assert_close(out[:, 0], t.zeros(num_y * num_z, 3), what + " origins (all rays start at the origin)")
        swapped = _z_major(expected, num_y, num_z)
        assert_close(
            out,
            expected,
            what,
            diagnose={"rays are ordered z-major: ray i * num_z + j must have y[i], z[j]": swapped},
        )


def _z_major(rays: t.Tensor, num_y: int, num_z: int) -> t.Tensor:
    return einops.rearrange(rays, "(y z) a b -> (z y) a b", y=num_y, z=num_z) if num_y > 1 and num_z > 1 else rays


def _axis_triangle() -> t.Tensor:
    """A triangle in the plane x = 2 covering y, z in [0, 1] with y + z <= 1."""
    return t.tensor([[[2.0, 0.0, 0.0], [2.0, 1.0, 0.0], [2.0, 0.0, 1.0]]])


def _ray(y: float, z: float) -> t.Tensor:
    return t.tensor([[[0.0, 0.0, 0.0], [1.0, y, z]]])


def _pair(
    origin: list[float], direction: list[float], a: list[float], b: list[float], c: list[float]
) -> tuple[t.Tensor, t.Tensor]:
    """One ray (1, 2, 3) and one triangle (1, 3, 3)."""
    return t.tensor([[origin, direction]]), t.tensor([[a, b, c]])


# Degenerate pairs, each built so that a solve on the raw matrix meets an exact zero (a zero
# row or column): `t.linalg.solve` raises on every machine, and an implementation that swaps in
# the identity but forgets to count the pair as a miss sees (s, u, v) = O - A = a clear hit.
DEGENERATE_CASES = [
    (_pair([3, 0.2, 0.2], [0, 1, 0], [2, 0, 0], [2, 1, 0], [2, 0, 1]), "a ray parallel to the triangle's plane"),
    (_pair([2, -1, 0.2], [0, 1, 0], [2, 0, 0], [2, 1, 0], [2, 0, 1]), "a ray lying in the triangle's plane, across it"),
    (_pair([0, 0.2, 0.2], [1, 0, 0], [-1, 0, 0], [2, 0, 0], [5, 0, 0]), "a zero-area triangle (corners on one line)"),
    (_pair([0, 0.2, 0.2], [1, 0, 0], [-1, 0, 0], [-1, 0, 0], [-1, 0, 1]), "a zero-area triangle (two equal corners)"),
    (_pair([-1, 0.2, 0.2], [0, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 1]), "a ray whose direction is the zero vector"),
]


def _oracle(rays: t.Tensor, triangles: t.Tensor) -> tuple[t.Tensor, t.Tensor]:
    """Expected distances (inf on a miss) and a mask of the pairs whose answer is not in doubt.

    Cramer's rule in float64, no solver. Degenerate pairs (|det| below 1e-9 of the product of
    the column lengths) are misses. A pair near a boundary (a ray within 1e-3 of an edge, s near
    0, or |det| between 1e-9 and 1e-2 of its bound: an ill-conditioned system) may go either way
    in float32 on another machine, so the tests do not judge it.
    """
    rays, triangles = rays.double(), triangles.double()
    O, D = rays[:, None, 0], rays[:, None, 1]
    A, B, C = (triangles[None, :, i] for i in range(3))
    c0, c1, c2 = t.broadcast_tensors(-D, B - A, C - A)
    r = (O - A).expand_as(c0)
    n = t.linalg.cross(c1, c2)
    det = (c0 * n).sum(-1)
    rel = det.abs() / (c0.norm(dim=-1) * c1.norm(dim=-1) * c2.norm(dim=-1)).clamp_min(1e-300)
    safe = t.where(det == 0, t.ones_like(det), det)
    s = (r * n).sum(-1) / safe
    u = (c0 * t.linalg.cross(r, c2)).sum(-1) / safe
    v = (c0 * t.linalg.cross(c1, r)).sum(-1) / safe
    degenerate = rel < 1e-9
    hit = (s > 0) & (u >= 0) & (v >= 0) & (u + v <= 1) & ~degenerate
    expected = t.where(hit, s, t.full_like(s, math.inf))
    margin = t.stack([s / s.abs().clamp_min(1.0), u, v, 1 - u - v]).abs().min(0).values
    decided = degenerate | ((rel > 1e-2) & (margin > 1e-3))
    return expected, decided


def _call(intersect_rays_triangles, rays: t.Tensor, tris: t.Tensor, what: str) -> t.Tensor:
    """Run the learner's function, turning a crash into a message that names the input."""
    try:
        out = intersect_rays_triangles(rays, tris)
    except NotImplementedError:
        raise
    except Exception as exc:
        name = "torch.linalg.LinAlgError" if isinstance(exc, t.linalg.LinAlgError) else type(exc).__name__
        raise ExerciseFailure(
            f"for {what}, intersect_rays_triangles raised {name} ({str(exc).rstrip('.')}). Detect degenerate pairs "
            "yourself (|det| small relative to the column lengths) and keep them out of the solve: whether a "
            "solver raises on a (nearly) singular matrix depends on the CPU and library, not on your code."
        ) from None
    assert_shape(out, (rays.shape[0], tris.shape[0]), f"intersect_rays_triangles on {what}")
    return out


def _compare(out: t.Tensor, expected: t.Tensor, decided: t.Tensor, what: str) -> None:
    out = out.double()
    wrong_miss = decided & t.isinf(out) & ~t.isinf(expected)
    garbage = decided & ~t.isinf(out) & t.isinf(expected)
    n = int(decided.sum())
    check(
        not bool(wrong_miss.any()),
        f"for {what}: {int(wrong_miss.sum())} of the {n} pairs checked clearly hit the triangle, but you "
        "returned t.inf. Is your test for 'parallel' an absolute threshold (like |det| < 1e-8)? The "
        "determinant scales with the cube of the units; compare it with the product of the column lengths.",
    )
    check(
        not bool(garbage.any()),
        f"for {what}: {int(garbage.sum())} of the {n} pairs checked clearly miss (or are degenerate: parallel, "
        "in-plane, zero area), but you returned a finite distance. Check s > 0, u >= 0, v >= 0, u + v <= 1, "
        "and that every pair you treat as degenerate ends up as t.inf.",
    )
    hits = decided & ~t.isinf(expected)
    assert_close(out[hits], expected[hits], f"hit distances for {what}", atol=1e-4, rtol=1e-4)


@learner_test
def test_intersect_rays_triangles(intersect_rays_triangles) -> None:
    tri = _axis_triangle()
    cases = [
        (_ray(0.1, 0.1), 2.0, "a ray through the triangle's interior"),
        (_ray(0.2, 0.24), 2.0, "a ray through the interior near the hypotenuse (u + v = 0.88)"),
        (_ray(0.4, 0.4), math.inf, "a ray with u + v = 0.8 + 0.8 > 1 (outside the triangle's hypotenuse)"),
        (_ray(-0.1, 0.2), math.inf, "a ray with u < 0"),
        (
            t.tensor([[[3.0, 0.2, 0.2], [1.0, 0.0, 0.0]]]),
            math.inf,
            "a triangle behind the ray's origin (the line meets it at s = -1, inside the triangle)",
        ),
    ]
    for ray, expected, what in cases:
        value = float(_call(intersect_rays_triangles, ray, tri, what)[0, 0])
        ok = math.isinf(value) if math.isinf(expected) else abs(value - expected) < 1e-4
        check(ok, f"for {what}: expected {expected}, got {value}.")
    for (ray, triangle), what in DEGENERATE_CASES:
        value = float(_call(intersect_rays_triangles, ray, triangle, what)[0, 0])
        check(
            math.isinf(value),
            f"for {what}: expected t.inf (a degenerate pair is a miss), got {value}. Did you swap the singular "
            "matrix for the identity but forget to mark the pair as a miss?",
        )

    # The same scene in other units: every coordinate times k leaves each distance s unchanged.
    rays, tris = ref.make_rays_2d(16, 16, 0.5, 0.5), ref.scene()
    expected, decided = _oracle(rays, tris)
    for k, units in [(1.0, "metres"), (1e-3, "kilometres"), (1e3, "millimetres")]:
        what = f"the scene of 256 rays and {len(tris)} triangles in {units} (every coordinate times {k:g})"
        _compare(_call(intersect_rays_triangles, rays * k, tris * k, what), expected, decided, what)

    @LEARNER_SETTINGS
    @given(seeds, small, small)
    def prop(seed: int, nr: int, nt: int) -> None:
        rays = _randn(seed, nr, 2, 3)
        rays[:, 1, 0] = rays[:, 1, 0].abs() + 0.5
        tris = _randn(seed + 1, nt, 3, 3) + t.tensor([3.0, 0.0, 0.0])
        what = f"random rays {tuple(rays.shape)} and triangles {tuple(tris.shape)}"
        expected, decided = _oracle(rays, tris)
        _compare(_call(intersect_rays_triangles, rays, tris, what), expected, decided, what)

    prop()


@learner_test
def test_render_depth(render_depth) -> None:
    rays = ref.make_rays_2d(6, 6, 0.6, 0.6)
    tris = ref.scene()
    out = render_depth(rays, tris)
    assert_shape(out, (36,), "render_depth(36 rays, scene)")
    hits = ref.intersect_rays_triangles(rays, tris)
    expected = ref.render_depth(rays, tris)
    check(
        t.equal(t.isinf(out), t.isinf(expected)),
        "render_depth marks a different set of pixels as empty: a ray that hits nothing must give t.inf.",
    )
    finite = ~t.isinf(expected)
    farthest = t.where(t.isinf(hits), t.full_like(hits, -1.0), hits).max(1).values
    assert_close(
        out[finite],
        expected[finite],
        "depths",
        atol=1e-4,
        diagnose={"you kept the farthest hit; a pixel sees the nearest one (min)": farthest[finite]},
    )
