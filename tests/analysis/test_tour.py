"""analysis/tour.py: every assert of the guided tour holds, and a planted bug breaks one."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "analysis" / "tour.py"
COMMITTED = ROOT / "analysis" / "tour"


def run_tour(out: Path, plant: str = ""):
    """Run the script in a fresh interpreter, figures into ``out``, after the code ``plant``."""
    code = f"{plant}\nimport runpy\nrunpy.run_path({str(SCRIPT)!r}, run_name='__main__')"
    env = dict(os.environ, REFNET_TOUR_OUT=str(out), PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-c", code], cwd=out, env=env, capture_output=True,
                          text=True, timeout=600)


def test_the_tour_runs_and_writes_the_committed_figures(tmp_path):
    done = run_tour(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "every assert of the tour holds" in done.stdout
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["conv_kernel.png", "dct_matrix.png", "spectrum.png", "truncation.png"]
    for name in written:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the committed folder holds exactly these figures (rerun: python analysis/tour.py)
    assert sorted(p.name for p in COMMITTED.iterdir()) == written


ADJOINT_OFF = """
from refnet.ops import TruncatedDCT
right = TruncatedDCT.adjoint
TruncatedDCT.adjoint = lambda self, y: 1.001 * right(self, y)
"""
X_BAR_OFF = """
from refnet.layers import DCTpSLinear
right = DCTpSLinear.vjp
def vjp(self, *args, **kwargs):
    x_bar, grads = right(self, *args, **kwargs)
    return 1.001 * x_bar, grads
DCTpSLinear.vjp = vjp
"""


@pytest.mark.parametrize("plant, failing", [
    (ADJOINT_OFF, "assert err(op.adjoint(y_bar), D.T @ y_bar) < TOL"),
    (X_BAR_OFF, "assert err(x_bar, y_bar @ W) < TOL"),
], ids=["D.T off by 0.1%", "DCTpSLinear x_bar off by 0.1%"])
def test_a_planted_bug_fails_the_assert_that_checks_it(tmp_path, plant, failing):
    done = run_tour(tmp_path, plant)
    assert done.returncode != 0
    assert "AssertionError" in done.stderr and failing in done.stderr, done.stderr
