"""A tiny notebook: markdown prose, code cells that run, and checks that print what they compared.

The tour is written as a sequence of *cells*: strings of Python that
:meth:`Notebook.cell` runs in one shared namespace (as a notebook does) and
copies verbatim into the document, followed by whatever they printed.  So the
code a reader sees is exactly the code that produced the numbers, and running
the document's Python blocks in order in a fresh interpreter reproduces them.

A *check* compares quantities from that namespace, named by expressions
(``"D_fast"``, ``"np.max(np.abs(C @ C.T - np.eye(q)))"``) that are evaluated
there and shown in the document with the numbers they gave, the tolerance and
PASS or FAIL.  A check never raises: a comparison that cannot be made (a shape
mismatch, an exception) is a FAIL with the reason.  Every check is also a
:class:`Check` in :attr:`Notebook.checks`, and passed to ``log`` as one line.

Two kinds of comparison:

* ``EXACT`` (:data:`EXACT_TOL`): two computations of the same numbers in
  float64, which may differ only by rounding (about ``1e-16`` per operation
  on numbers of order 1): the largest absolute difference must be at most
  ``1e-12``.
* finite differences: the largest entrywise difference divided by the largest
  entry (:func:`refnet.testing.relative_error`) must be at most
  ``refnet.testing.TOLERANCES["jacobian_fd"]`` (``1e-6``).
"""
from __future__ import annotations

import contextlib
import io
import os
import textwrap
import traceback
from typing import Callable, NamedTuple, Sequence

import numpy as np

from refnet.testing import TOLERANCES, relative_error

__all__ = ["Check", "Notebook", "EXACT_TOL", "FD_TOL"]

#: Largest absolute difference allowed between two float64 computations of the same numbers.
EXACT_TOL = 1e-12
#: Largest relative error allowed between a derivative and its central difference.
FD_TOL = TOLERANCES["jacobian_fd"]

#: Arrays with at most this many entries are shown whole in a check; larger ones by their
#: first entries.
_SHOW_WHOLE = 6


class Check(NamedTuple):
    """The outcome of one check of the tour."""

    number: str      #: "section.index", e.g. "2.3"
    section: str     #: the section's title
    name: str        #: what the check shows, one sentence
    measure: str     #: what was measured, e.g. "max |D_fast - D_explicit|"
    value: float     #: the measured number (NaN when it could not be computed)
    tol: float       #: the number ``value`` was judged against (see ``limit``)
    passed: bool
    limit: str = ""   #: how ``value`` was judged, e.g. "tolerance 1e-12" or "must be 0"
    detail: str = ""  #: why a comparison could not be made, if it could not

    def result(self) -> str:
        """``measure = value, limit``."""
        return f"{self.measure} = {_num(self.value)}, {self.limit}"

    def line(self) -> str:
        """One line: ``PASS 2.3 name: measure = value, tolerance tol``."""
        verdict = "PASS" if self.passed else "FAIL"
        text = f"{verdict} {self.number} {self.name}: {self.result()}"
        return text + (f" [{self.detail}]" if self.detail else "")


def _num(value) -> str:
    """A number for a check line: integers as such, floats to 3 significant digits."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    value = float(value)
    if value == 0.0:
        return "0"
    if value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}".replace("e-0", "e-").replace("e+0", "e+")      # 1e-6, not 1e-06


def _grouped(expression: str) -> str:
    """``expression`` in parentheses when it is a sum or product written with spaces."""
    compound = any(op in expression for op in (" + ", " - ", " * ", " @ ", " / "))
    return f"({expression})" if compound and not expression.startswith("np.") else expression


def _show(value) -> str:
    """A compact display of a compared value: scalars in full, arrays by shape and entries."""
    a = np.asarray(value)
    if a.ndim == 0:
        return repr(a.item()) if a.dtype.kind in "biu" else f"{float(a):.15g}"
    flat = a.reshape(-1)
    if a.dtype.kind in "biu":
        entries = ", ".join(str(int(v)) for v in flat[:_SHOW_WHOLE])
    else:
        entries = ", ".join(f"{float(v):.9g}" for v in flat[:_SHOW_WHOLE])
    more = ", ..." if flat.size > _SHOW_WHOLE else ""
    return f"array of shape {a.shape}: [{entries}{more}]"


class Notebook:
    """Builds a markdown document from prose, cells and checks; see the module docstring.

    Parameters
    ----------
    out_dir : str or path
        Where figures are written (the markdown goes next to them, written by
        the caller from :meth:`markdown`).
    log : callable, optional
        Called with each check's line as it is made (``print`` for the
        command); default silent.

    Attributes
    ----------
    ns : dict
        The namespace the cells run in.
    checks : list of Check
    figures : list of str
        Paths of the figures written.
    """

    def __init__(self, out_dir, log: Callable[[str], None] | None = None):
        self.out_dir = os.fspath(out_dir)
        self.log = log or (lambda line: None)
        self.ns: dict = {"__name__": "refnet_tour"}
        self.checks: list[Check] = []
        self.figures: list[str] = []
        self._blocks: list[str] = []
        self._section = ("", 0)
        self._in_section = 0
        self._cells = 0

    # -- document structure ----------------------------------------------------
    def section(self, title: str) -> None:
        """Start a numbered section ``## n. title``; its checks are numbered ``n.1, n.2, ...``."""
        number = self._section[1] + 1
        self._section = (title, number)
        self._in_section = 0
        self._blocks.append(f"## {number}. {title}")

    def prose(self, text: str) -> None:
        """A paragraph (or several) of markdown; indentation is removed."""
        self._blocks.append(textwrap.dedent(text).strip())

    def formulas(self, text: str) -> None:
        """Formulas in plain-text NumPy notation, shown as a ``text`` block."""
        self._blocks.append("```text\n" + textwrap.dedent(text).strip("\n") + "\n```")

    def cell(self, source: str) -> None:
        """Run ``source`` in :attr:`ns` and show it, with what it printed.

        An exception propagates (the caller records the section as failed);
        the cell is shown either way.
        """
        source = textwrap.dedent(source).strip("\n")
        self._cells += 1
        self._blocks.append("```python\n" + source + "\n```")
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                exec(compile(source + "\n", f"<tour cell {self._cells}>", "exec"), self.ns)
        finally:
            if printed.getvalue():
                self._blocks.append("```text\n" + printed.getvalue().rstrip("\n") + "\n```")

    def value(self, expression: str):
        """Evaluate ``expression`` in the cells' namespace."""
        return eval(expression, self.ns)

    def table(self, header: Sequence[str], rows: Sequence[Sequence], align: str | None = None
              ) -> None:
        """A markdown table; ``align`` is one character per column, ``l`` or ``r``."""
        align = align or "l" * len(header)
        rule = ["---:" if a == "r" else "---" for a in align]
        lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
        self._blocks.append("\n".join(lines))

    def figure(self, fig, filename: str, caption: str) -> None:
        """Save a matplotlib ``Figure`` as ``out_dir/filename`` and link it relatively."""
        path = os.path.join(self.out_dir, filename)
        fig.savefig(path, dpi=100, metadata={"Software": None})
        self.figures.append(path)
        self._blocks.append(f"![{caption}]({filename})\n\n*Figure: {caption}*")

    def failure(self, error: BaseException) -> None:
        """Record that the current section stopped with ``error``: a failed check."""
        self._blocks.append("The code above stopped with an error:\n\n```text\n"
                            + "".join(traceback.format_exception(error)).rstrip() + "\n```")
        self._record("the section's code ran to the end", "exceptions raised", 1, 0, False,
                     f"{type(error).__name__}: {error}", limit="must be 0")

    def markdown(self, header: str = "") -> str:
        """The whole document; ``header`` (markdown) goes first."""
        parts = [header.strip()] if header.strip() else []
        return "\n\n".join(parts + self._blocks) + "\n"

    # -- checks ------------------------------------------------------------------
    def check_close(self, name: str, a: str, b: str, tol: float = EXACT_TOL) -> Check:
        """``max |a - b| <= tol`` for two expressions (arrays of one shape, or numbers)."""
        measure = f"max |{a} - {_grouped(b)}|"
        try:
            va, vb = np.asarray(self.value(a)), np.asarray(self.value(b))
            if va.shape != vb.shape:
                return self._record(name, measure, float("nan"), tol, False,
                                    f"shapes differ: {va.shape} and {vb.shape}")
            diff = float(np.max(np.abs(va - vb), initial=0.0))
        except Exception as err:                    # a check reports, it never raises
            return self._record(name, measure, float("nan"), tol, False,
                                f"{type(err).__name__}: {err}")
        return self._record(name, measure, diff, tol, bool(diff <= tol),
                            shown=[f"{a} = {_show(va)}", f"{b} = {_show(vb)}"])

    def check_small(self, name: str, expression: str, tol: float = EXACT_TOL) -> Check:
        """``|expression| <= tol`` for an expression giving one number."""
        measure = expression if expression.startswith("np.max(np.abs(") else f"|{expression}|"
        try:
            value = abs(float(self.value(expression)))
        except Exception as err:
            return self._record(name, measure, float("nan"), tol, False,
                                f"{type(err).__name__}: {err}")
        return self._record(name, measure, value, tol, bool(value <= tol))

    def check_equal(self, name: str, expression: str, expected: str) -> Check:
        """Exact equality (``np.array_equal``) of two expressions, integers or booleans."""
        measure = f"{expression} == {expected}"
        try:
            va, vb = self.value(expression), self.value(expected)
            same = bool(np.array_equal(va, vb))
        except Exception as err:
            return self._record(name, measure, float("nan"), 0.0, False,
                                f"{type(err).__name__}: {err}")
        # the value is the number of entries that differ, so the check line stays a number
        # judged against a limit (0)
        if np.ndim(va) == 0 and np.ndim(vb) == 0:
            shown_b = _show(vb)
            expected_text = expected if expected == shown_b else f"{expected} = {shown_b}"
            try:
                value, target = float(va), float(vb)
            except (TypeError, ValueError):
                value, target = (0.0, 0.0) if same else (1.0, 0.0)
            return self._record(name, expression, value, target, same,
                                limit=f"expected {expected_text}")
        try:
            differ = int(np.count_nonzero(np.asarray(va) != np.asarray(vb)))
        except ValueError:                          # shapes that do not broadcast
            differ = max(np.size(va), np.size(vb))
        return self._record(name, "entries that differ", 0 if same else max(differ, 1), 0, same,
                            shown=[f"{expression} = {_show(va)}", f"{expected} = {_show(vb)}"],
                            limit="must be 0")

    def check_at_most(self, name: str, expression: str, limit: str) -> Check:
        """``expression <= limit`` for two expressions giving numbers."""
        try:
            value, bound = float(self.value(expression)), float(self.value(limit))
        except Exception as err:
            return self._record(name, expression, float("nan"), float("nan"), False,
                                f"{type(err).__name__}: {err}")
        return self._record(name, expression, value, bound, bool(value <= bound),
                            limit=f"at most {limit} = {_num(bound)}")

    def check_fd(self, name: str, analytic: str, formula: str, fd: str,
                 labels: Sequence[str]) -> tuple[Check, Check]:
        """A derivative three ways, entry by entry: a table and two checks.

        ``analytic`` is what the layer returned, ``formula`` the same quantity
        from a plain NumPy formula, ``fd`` the central differences; ``labels``
        names each entry (in C order).  The checks: ``analytic`` against
        ``formula`` to :data:`EXACT_TOL`, and against ``fd`` to :data:`FD_TOL`
        in relative error.
        """
        names = (f"{name}: the VJP is the formula", f"{name}: the VJP is the finite difference")
        measures = (f"max |{analytic} - {formula}|",
                    f"max |{analytic} - {fd}| / max(max |{analytic}|, max |{fd}|)")
        try:
            va = np.asarray(self.value(analytic), dtype=float).reshape(-1)
            vf = np.asarray(self.value(formula), dtype=float).reshape(-1)
            vd = np.asarray(self.value(fd), dtype=float).reshape(-1)
            if not va.size == vf.size == vd.size == len(labels):
                raise ValueError(f"sizes differ: {va.size}, {vf.size}, {vd.size} and "
                                 f"{len(labels)} labels")
        except Exception as err:
            detail = f"{type(err).__name__}: {err}"
            return (self._record(names[0], measures[0], float("nan"), EXACT_TOL, False, detail),
                    self._record(names[1], measures[1], float("nan"), FD_TOL, False, detail))
        self.table(["entry", "layer's VJP", "NumPy formula", "central difference",
                    "abs(VJP - difference)"],
                   [(f"`{label}`", f"{a:.10f}", f"{f:.10f}", f"{d:.10f}", f"{abs(a - d):.1e}")
                    for label, a, f, d in zip(labels, va, vf, vd)], align="lrrrr")
        exact = float(np.max(np.abs(va - vf)))
        first = self._record(names[0], measures[0], exact, EXACT_TOL, bool(exact <= EXACT_TOL))
        rel = relative_error(va, vd)
        second = self._record(names[1], measures[1], rel, FD_TOL, bool(rel <= FD_TOL))
        return first, second

    def _record(self, name, measure, value, tol, passed, detail="", shown=(), limit=None
                ) -> Check:
        self._in_section += 1
        title, number = self._section
        check = Check(f"{number}.{self._in_section}", title, name, measure, float(value),
                      float(tol), bool(passed), limit or f"tolerance {_num(tol)}", detail)
        self.checks.append(check)
        last = f"{check.result()}: {'PASS' if check.passed else 'FAIL'}"
        lines = [f"check {check.number}: {name}", *(f"    {s}" for s in shown), "    " + last]
        if detail:
            lines.append(f"    ({detail})")
        text = "\n".join(lines)
        if self._blocks and self._blocks[-1].startswith("```text\ncheck "):
            # consecutive checks share one block
            self._blocks[-1] = self._blocks[-1][:-len("\n```")] + "\n\n" + text + "\n```"
        else:
            self._blocks.append("```text\n" + text + "\n```")
        self.log(check.line())
        return check
