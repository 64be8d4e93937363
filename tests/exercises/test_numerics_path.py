"""`make test` runs the meta-tests a second time under `OTHER_NUMERICS` (see the Makefile), so a
result that depends on the CPU's code path, the BLAS kernels or the thread count fails CI on any
machine. That only works while each variable still switches what it names: this checks it."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from arena.paths import REPO_ROOT

PROBE = """
import torch
torch.linalg.solve(torch.eye(3), torch.ones(3))
print("capability", torch.backends.cpu.get_cpu_capability())
print("threads", torch.get_num_threads())
"""


def other_numerics() -> dict[str, str]:
    makefile = (REPO_ROOT / "Makefile").read_text()
    line = re.search(r"^OTHER_NUMERICS := (.+)$", makefile, re.MULTILINE)
    assert line, "the Makefile no longer defines OTHER_NUMERICS"
    return dict(pair.split("=", 1) for pair in line.group(1).split())


def test_make_test_runs_the_meta_tests_under_the_other_path() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    test_target = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "test-numerics" in test_target
    assert re.search(r"env \$\(OTHER_NUMERICS\) .*tests/exercises/test_meta\.py", makefile)


def test_the_other_path_really_changes_kernels_blas_path_and_threads() -> None:
    env = {**os.environ, **other_numerics(), "MKL_VERBOSE": "1"}
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # AVX2 on any machine with AVX2 or better (DEFAULT only on one without).
    assert re.search(r"capability (AVX2|DEFAULT)$", out, re.MULTILINE), out
    assert "threads 1" in out, out
    assert "CNR:COMPATIBLE" in out, f"MKL did not take its COMPATIBLE path:\n{out}"
