"""Run every section of the tour and write the markdown document with its figures."""
from __future__ import annotations

import numbers
import os
import re
import time
from typing import NamedTuple, Sequence

from refnet._checks import check_positive_int
from refnet.cli.spectrum.figure import density_label
from refnet.cli.spectrum.study import DEFAULT_SIZES
from refnet.cli.tour import convolution, cotangents, dct_basis, spectrum, truncation
from refnet.cli.tour.notebook import EXACT_TOL, FD_TOL, Check, Notebook

__all__ = ["TourSettings", "TourResult", "SECTIONS", "TOUR_NAME", "write_tour"]

#: The sections, in order: modules with ``TITLE`` and ``run(notebook, settings)``.
SECTIONS = (dct_basis, truncation, cotangents, convolution, spectrum)

#: File name of the document inside the output folder.
TOUR_NAME = "TOUR.md"


class TourSettings(NamedTuple):
    """What the tour's last section builds; the other sections are fixed and small.

    Attributes
    ----------
    sizes : tuple of int
        Widths of the ReLU MLP, input first; the input must be 784 (MNIST
        images).  Default 784-256x6-10, the network of ``refnet spectrum``.
    density : float
        Global density of both networks, uniform over the layers (default 0.1%).
    examples : int
        MNIST test images at which the Jacobians are taken (default 64).
    seed : int
        Draws the supports (seed), the parameters (seed + 1) and the split of
        the images (seed).
    """

    sizes: tuple = DEFAULT_SIZES
    density: float = 1e-3
    examples: int = 64
    seed: int = 0

    def checked(self) -> "TourSettings":
        """These settings validated; ``ValueError`` naming the bad one otherwise."""
        sizes = tuple(check_positive_int("sizes", s, "TourSettings") for s in self.sizes)
        if len(sizes) < 2 or sizes[0] != 784:
            raise ValueError(f"TourSettings: sizes must start with 784 (MNIST) and have at "
                             f"least two entries, got {list(self.sizes)}")
        density = self.density
        if isinstance(density, bool) or not isinstance(density, numbers.Real) \
                or not 0.0 < float(density) <= 1.0:
            raise ValueError(f"TourSettings: density must be a number in (0, 1], got "
                             f"{density!r}")
        examples = check_positive_int("examples", self.examples, "TourSettings")
        seed = check_positive_int("seed", self.seed, "TourSettings", minimum=0)
        return TourSettings(sizes, float(density), examples, seed)


class TourResult(NamedTuple):
    """What :func:`write_tour` wrote and found."""

    path: str                #: the markdown document
    figures: list            #: paths of the PNG figures, next to it
    checks: list             #: every :class:`~refnet.cli.tour.notebook.Check`, in order
    seconds: float           #: wall-clock time of the whole tour

    @property
    def passed(self) -> bool:
        """True when at least one check ran and every check passed."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failures(self) -> list:
        """The checks that failed, in order."""
        return [c for c in self.checks if not c.passed]


def _anchor(title: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^a-z0-9 _-]", "", title.lower()).replace(" ", "-")


def _header(settings: TourSettings, checks: Sequence[Check]) -> str:
    failed = [c for c in checks if not c.passed]
    if failed:
        verdict = (f"**{len(failed)} of {len(checks)} checks FAILED:** "
                   + "; ".join(f"{c.number} {c.name}" for c in failed) + ".")
    else:
        verdict = f"**{len(checks)} checks, every one PASS.**"
    contents = "\n".join(f"{i}. [{s.TITLE}](#{_anchor(f'{i}. {s.TITLE}')})"
                         for i, s in enumerate(SECTIONS, 1))
    widths = "-".join(map(str, settings.sizes))
    exact, fd = (f"{t:g}".replace("e-0", "e-") for t in (EXACT_TOL, FD_TOL))
    return f"""# A guided tour of the DCTpS layer

DCT plus Sparse (DCTpS, Price & Tanner, "Dense for the Price of Sparse", ICML 2021) replaces
every weight matrix of a network by `W = alpha * D + S`: `D` a fixed discrete cosine transform,
applied in `O(q log q)` and never stored, and `S` a sparse matrix on a fixed random support
whose few values are trained, with the scalar `alpha`. This tour builds the layer from the
DCT matrix up and derives its backward pass. Every step is checked by running code, not
asserted: the Python blocks below ran when this document was written, in order, in one
namespace (run them in order to reproduce every number), and each `check` block shows the
numbers it compared and PASS or FAIL.

{verdict}

{contents}

Notation: plain NumPy. `@` is the matrix product, `A.T` the transpose, `A[:m, :n]` the top-left
block, `pad(v, q)` appends zeros to `v` up to length `q`, `sum_b` sums over the index `b`,
`<a, b>` is `np.sum(a * b)`, and `dct`, `idct` are `scipy.fft`'s with `norm="ortho"`. Two
computations of the same numbers pass when they differ by at most {exact} (float64 rounding
is about 1e-16 per operation); a derivative and its central finite difference pass at a
relative error of at most {fd} (`refnet.testing.TOLERANCES["jacobian_fd"]`).

Written by `refnet tour` (the code is in `refnet/tour/`). Section 5's settings: a ReLU network
{widths}, density {density_label(settings.density)}, {settings.examples} MNIST test images,
seed {settings.seed}."""


def write_tour(out_dir, settings: TourSettings | None = None, *, log=None) -> TourResult:
    """Run the tour and write ``out_dir/TOUR.md`` and its PNG figures.

    Parameters
    ----------
    out_dir : str or path
        Created if needed; existing files of the same names are replaced.
    settings : TourSettings, optional
        The network of the spectrum section; default ``TourSettings()``.
    log : callable, optional
        Called with one line per check as it is made (for example ``print``).

    Returns
    -------
    TourResult
        ``result.passed`` is False when any check failed.  A section that
        raises an exception is recorded as a failed check (with the traceback
        in the document) and the next section runs.
    """
    start = time.perf_counter()
    settings = (settings or TourSettings()).checked()
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    notebook = Notebook(out_dir, log)
    for section in SECTIONS:
        try:
            section.run(notebook, settings)
        except Exception as err:            # the document says where it stopped; the next runs
            notebook.failure(err)
    path = os.path.join(out_dir, TOUR_NAME)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(notebook.markdown(_header(settings, notebook.checks)))
    return TourResult(path, list(notebook.figures), list(notebook.checks),
                      time.perf_counter() - start)
