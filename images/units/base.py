"""Smoke test of the base image, run inside every image (children inherit their parent's units).

Checks what a learner's first cell relies on: the non-root user, the pinned torch doing a
forward pass, JupyterLab importable, and no build-only CA bundle left behind.
"""

import os
import pathlib

import jupyterlab
import torch

assert os.getuid() == 1000, f"running as uid {os.getuid()}, expected the learner (1000)"
assert not pathlib.Path("/build").exists(), "the build-only /build folder (CA bundle, wheels) leaked into the image"

model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
out = model(torch.randn(3, 4))
assert out.shape == (3, 2), out.shape
# The GPU test sets ARENA_EXPECT_CUDA=1: there a CPU fallback would hide a broken CUDA image.
assert torch.cuda.is_available() or os.environ.get("ARENA_EXPECT_CUDA") != "1", "CUDA expected but unavailable"
if torch.cuda.is_available():
    assert model.cuda()(torch.randn(3, 4, device="cuda")).shape == (3, 2)

print(f"base ok: torch {torch.__version__}, jupyterlab {jupyterlab.__version__}, cuda {torch.cuda.is_available()}")
