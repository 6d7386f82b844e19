"""refnet tour: every check of the document passes, a broken step FAILs, the committed copy is current."""
import re
from pathlib import Path

import numpy as np
import pytest

from refnet.cli import main
from refnet.ops.dct import TruncatedDCT
from refnet.cli.tour import SECTIONS, TOUR_NAME, Notebook, TourSettings, write_tour

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "analysis" / "tour"
#: A small section 5 (the other sections are fixed and small): about a second in all.
SMALL = TourSettings(sizes=(784, 32, 32, 32, 10), density=1e-3, examples=8, seed=0)
SMALL_ARGS = ["--sizes", "784", "32", "32", "32", "10", "--examples", "8"]


def check_blocks(markdown: str) -> dict:
    """``{number: (name, verdict)}`` of every check block in a tour document."""
    found = {}
    for number, name, body in re.findall(r"^check (\d+\.\d+): (.*)\n((?:    .*\n?)+)", markdown,
                                         re.M):
        verdict = re.findall(r": (PASS|FAIL)$", body.rstrip(), re.M)
        found[number] = (name, verdict[-1] if verdict else None)
    return found


@pytest.fixture(scope="module")
def small_tour(tmp_path_factory):
    out = tmp_path_factory.mktemp("tour")
    lines = []
    return write_tour(out, SMALL, log=lines.append), lines


def test_every_check_of_the_tour_passes(small_tour):
    result, lines = small_tour
    assert result.passed, "\n".join(c.line() for c in result.failures)
    assert len(result.checks) >= 40
    # every section checks something, and every check was logged as one PASS line
    assert {c.number.split(".")[0] for c in result.checks} == \
        {str(i) for i in range(1, len(SECTIONS) + 1)}
    assert len(lines) == len(result.checks) and all(line.startswith("PASS ") for line in lines)
    # the document shows each check with its numbers and verdict, and no FAIL anywhere
    text = Path(result.path).read_text()
    blocks = check_blocks(text)
    assert list(blocks) == [c.number for c in result.checks]
    assert all(verdict == "PASS" for _, verdict in blocks.values())
    assert not re.search(r": FAIL$", text, re.M) and "FAILED" not in text
    assert f"**{len(result.checks)} checks, every one PASS.**" in text
    # the finite-difference tables print analytic, formula, difference and error per entry
    assert text.count("| entry | layer's VJP | NumPy formula | central difference |") == 4
    assert re.search(r"\| `x_bar\[1, 4\]` \| -?\d\.\d{10} \| -?\d\.\d{10} \| -?\d\.\d{10} \| "
                     r"\d\.\de-\d\d \|", text)


def test_the_figures_are_pngs_next_to_the_markdown_and_linked_relatively(small_tour):
    result, _ = small_tour
    out = Path(result.path).parent
    assert Path(result.path).name == TOUR_NAME
    names = {"dct_matrix.png", "truncation.png", "conv_kernel.png", "spectrum.png"}
    assert {Path(p).name for p in result.figures} == names
    text = Path(result.path).read_text()
    for name in names:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in text


def test_the_python_blocks_of_the_document_reproduce_it(small_tour):
    """The header's promise: run the blocks in order in a fresh namespace."""
    result, _ = small_tour
    blocks = re.findall(r"```python\n(.*?)```", Path(result.path).read_text(), re.S)
    assert len(blocks) >= 15
    ns = {}
    for code in blocks:
        exec(compile(code, "TOUR.md", "exec"), ns)
    # numbers the checks compared come out the same
    np.testing.assert_allclose(ns["vjp"]["x"], ns["fd"]["x"], rtol=0, atol=1e-8)
    assert ns["bounds"]["sparse"].rank_bound == 0
    np.testing.assert_array_equal(ns["outputs"][0], ns["outputs"][1])


def test_a_wrong_adjoint_is_reported_as_fail(monkeypatch, tmp_path, capsys):
    """D.T @ y_bar off by 0.1%: the tour must say so in the checks that depend on it."""
    right = TruncatedDCT.adjoint
    monkeypatch.setattr(TruncatedDCT, "adjoint", lambda self, y: 1.001 * right(self, y))
    status = main(["tour", "--out", str(tmp_path), "--quiet", *SMALL_ARGS])
    assert status == 1
    printed = capsys.readouterr()
    failed = {line.split()[1] for line in printed.out.splitlines() if line.startswith("FAIL")}
    # exactly the checks that use the adjoint: section 2 (refnet's adjoint and the dot-product
    # test, for both shapes), section 3 (x_bar and alpha_bar, against the formula and the
    # finite differences), section 4 (the conv VJP, alpha_bar) and section 5 (the DCTpS
    # Jacobian); D itself, S_bar, b_bar, the JVP and the forward convolution still pass
    assert failed == {"2.5", "2.6", "2.11", "2.12", "3.1", "3.2", "3.3", "3.4", "4.4", "4.5",
                      "5.2"}
    assert "failed" in printed.err
    text = (tmp_path / TOUR_NAME).read_text()
    blocks = check_blocks(text)
    assert {n for n, (_, verdict) in blocks.items() if verdict == "FAIL"} == failed
    assert f"of {len(blocks)} checks FAILED" in text


def test_a_section_that_raises_is_a_failed_check_and_the_next_section_runs(monkeypatch,
                                                                           tmp_path):
    import refnet.ops

    def broken(*args, **kwargs):
        raise RuntimeError("im2col is broken")

    monkeypatch.setattr(refnet.ops, "im2col", broken)     # the convolution section imports it
    result = write_tour(tmp_path, SMALL)
    failed = result.failures
    assert [c.section for c in failed] == [SECTIONS[3].TITLE]
    assert "RuntimeError: im2col is broken" in failed[0].detail
    assert any(c.number.startswith("5.") and c.passed for c in result.checks)
    text = Path(result.path).read_text()
    assert "The code above stopped with an error" in text and "im2col is broken" in text


def test_checks_fail_rather_than_raise(tmp_path):
    nb = Notebook(tmp_path)
    nb.section("checks")
    nb.cell("import numpy as np\na = np.ones(3)\nb = np.ones(4)\nc = np.array([1.0, np.nan, 1.0])")
    assert not nb.check_close("shapes differ", "a", "b").passed
    assert "shapes differ" in nb.checks[-1].detail
    assert not nb.check_close("NaN", "a", "c").passed
    assert not nb.check_small("unknown name", "undefined_name").passed
    assert not nb.check_equal("unequal", "a", "2 * a").passed
    assert not nb.check_at_most("too large", "2", "1").passed
    assert nb.check_close("equal", "a", "a.copy()").passed
    assert [c.number for c in nb.checks] == ["1.1", "1.2", "1.3", "1.4", "1.5", "1.6"]


def test_bad_settings_are_reported_by_the_command(tmp_path, capsys):
    assert main(["tour", "--out", str(tmp_path), "--sizes", "100", "10"]) == 2
    assert "sizes must start with 784" in capsys.readouterr().err
    assert main(["tour", "--out", str(tmp_path), "--density", "0"]) == 2
    assert not (tmp_path / TOUR_NAME).exists()


def test_the_committed_tour_is_this_version_and_the_readme_links_it(small_tour):
    """analysis/tour/TOUR.md (python analysis/tour.py) has the checks a fresh run has, all PASS."""
    result, _ = small_tour
    text = (COMMITTED / TOUR_NAME).read_text()
    blocks = check_blocks(text)
    assert [(n, name) for n, (name, _) in blocks.items()] == \
        [(c.number, c.name) for c in result.checks], "rerun: python analysis/tour.py"
    assert all(verdict == "PASS" for _, verdict in blocks.values())
    for name in re.findall(r"\]\(([\w.]+\.png)\)", text):
        assert (COMMITTED / name).is_file()
    default = TourSettings()
    assert f"a ReLU network\n{'-'.join(map(str, default.sizes))}, density 0.1%" in text
    readme = (ROOT / "analysis" / "README.md").read_text()
    assert "(tour/TOUR.md)" in readme and "python analysis/tour.py" in readme
    assert f"{len(result.checks)} checks, all PASS" in readme
