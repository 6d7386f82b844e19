"""Copy the study tables that ``refnet study`` wrote into their blocks in README.md or
analysis/README.md, and write the sentences that discuss them from the same files (tests/cli/study
check that both agree, so a claim that no longer holds fails the suite).

    python analysis/readme_study_tables.py
"""
import json

from readme_blocks import ROOT, update_readme

#: block marker -> the folder its ``refnet study --out`` wrote
TABLES = {"study-full": "analysis/out/study-full", "study-quick": "analysis/out/study-quick",
          "study-alpha": "analysis/out/alpha/full", "offsets-study": "analysis/out/offsets/quick"}
#: how the sentences name each paired comparison of refnet.cli.study.report.COMPARISONS
COMPARED = {("dctps-epl", "imp"): "DCTpS (EPL) against IMP",
            ("dctps-epl", "dct-only"): "what S adds to the DCT (DCTpS (EPL) against DCT only)",
            ("subspace", "dctps-epl"): "the random subspace against DCTpS (EPL)",
            ("dctps-rigl", "dctps-epl"): "DCTpS + RigL against DCTpS (EPL)",
            ("subspace", "subspace-projected"): "biases trained directly against biases "
                                                "projected (the two random subspaces)"}
#: the independent PyTorch run quoted in the study's issue: float32, Adam, 30 epochs, 3 seeds,
#: EPL supports, trained on 4,000 images (refnet trains on 3,600 and validates on 400)
PYTORCH = {"dense": 94.3, "dctps-epl": (92.4, 80.3, 62.5), "dct-only": 55.9}


def summary(folder: str) -> dict:
    """The ``study.json`` that ``refnet study --out FOLDER`` wrote."""
    return json.loads((ROOT / folder / "study.json").read_text())


def _row(s, key, density):
    return next(r for r in s["rows"] if r["key"] == key and r["density"] == density)


def _pct(density):
    return f"{100 * density:.10g}%"


def _ci(mean, half, signed=False):
    text = f"{mean:+.1f}" if signed else f"{mean:.1f}"
    return text if half is None else f"{text} ± {half:.1f}"


def _ranked(s, density, keys=None):
    rows = [r for r in s["rows"] if r["density"] == density and r["key"] != "dense"
            and r["acc_mean"] is not None and (keys is None or r["key"] in keys)]
    return sorted(rows, key=lambda r: -r["acc_mean"])


def full_claims(s: dict) -> str:
    """The bullets of analysis/README.md's discussion of the full run."""
    densities = s["config"]["densities"]
    lines = []
    for d in densities:
        ranked = _ranked(s, d)
        chance = [r["method"] for r in ranked if r["acc_mean"] <= 15.0]
        lines.append(f"- **At {_pct(d)}** the best are " + ", ".join(
            f"{r['method']} ({_ci(r['acc_mean'], r['acc_ci'])}%)" for r in ranked[:3])
            + (f"; {len(chance)} end within 5 points of chance (10%): {', '.join(chance)}."
               if chance else "; none ends within 5 points of chance."))
    imp = [_row(s, "imp", d) for d in densities]
    lines.append("- **IMP** (20% of the survivors per round, rewound to the init) reaches "
                 + " / ".join(f"{r['acc_mean']:.1f}%" for r in imp) + " at "
                 + " / ".join(_pct(d) for d in densities) + ", and costs "
                 + " / ".join(str(r["cost"]) for r in imp)
                 + f" epochs per run, against {s['config']['epochs']} for the others.")
    for (a, b), name in COMPARED.items():
        diffs = {d["density"]: d for d in s["differences"] if (d["a"], d["b"]) == (a, b)}
        if not diffs:
            continue
        cells = [f"{_ci(diffs[d]['mean'], diffs[d]['ci'], True)} at {_pct(d)}"
                 + ("" if diffs[d]["shown"] else " (no difference shown)")
                 for d in densities if d in diffs]
        lines.append(f"- **{name[0].upper() + name[1:]}**, paired over seeds: "
                     + ", ".join(cells) + " points.")
    edges = []
    for key in dict.fromkeys(r["key"] for r in s["rows"] if r["key"] != "dense"):
        rows = [r for r in s["rows"] if r["key"] == key]
        if len({(r["lr"], r["acc_mean"]) for r in rows}) == 1:    # trained once (DCT only)
            rows = rows[:1]
            edges += [f"{r['method']} ({r['edge']})" for r in rows if r["edge"]]
        else:
            edges += [f"{r['method']} at {_pct(r['density'])} ({r['edge']})" for r in rows
                      if r["edge"]]
    lines.append("- **Learning rates still at an end of the grid** after the extensions: "
                 + (", ".join(edges) if edges else "none") + ".")
    doping = [_row(s, "doping", d) for d in densities]
    fits = [r for r in doping if not r["needs"]]
    if fits:
        lines.append(f"- **{fits[0]['method']}** (Doping simplified) fits the budget at "
                     + ", ".join(_pct(r["density"]) for r in fits) + " only: "
                     + ", ".join(f"{r['acc_mean']:.1f}% against DCTpS (EPL)'s "
                                 f"{_row(s, 'dctps-epl', r['density'])['acc_mean']:.1f}%"
                                 for r in fits)
                     + (f"; below, its factors alone need {100 * doping[-1]['needs']:.2g}% "
                        "and the cells are n/a." if doping[-1]["needs"] else "."))
    dctps = [_row(s, "dctps-epl", d)["acc_mean"] for d in densities]
    floor = _row(s, "dct-only", densities[0])["acc_mean"]
    lines.append(f"- **Against the independent PyTorch run** quoted in the study's issue "
                 f"(float32, trained on 4,000 images, 3 seeds): dense {PYTORCH['dense']}% "
                 f"(refnet {s['dense_acc']:.1f}%), DCTpS (EPL) "
                 + " / ".join(f"{v}" for v in PYTORCH["dctps-epl"]) + "% (refnet "
                 + " / ".join(f"{v:.1f}" for v in dctps) + "%), DCT only "
                 f"{PYTORCH['dct-only']}% (refnet {floor:.1f}%).")
    return "\n".join(lines)


def alpha_claims(s: dict) -> str:
    """The paragraph under the fixed-alpha table (``refnet study --alpha fixed,trainable``)."""
    densities = s["config"]["densities"]

    def acc(key, d=densities[0]):
        return _row(s, key, d)["acc_mean"]

    pairs = ", ".join(f"{acc('dctps-epl-fixed-alpha', d):.1f}% against "
                      f"{acc('dctps-epl', d):.1f}% at {_pct(d)}" for d in densities)
    diffs = [d for d in s.get("differences", []) if d["a"] == "dctps-epl"
             and d["b"] == "dctps-epl-fixed-alpha"]
    paired = "" if not diffs else " (paired, trainable minus fixed: " + ", ".join(
        _ci(d["mean"], d["ci"], True) + ("" if d["shown"] else " no difference shown")
        for d in diffs) + ")"
    alpha = acc("dct-only") - acc("dct-only-fixed-alpha")
    sparse = acc("dctps-epl", densities[-1]) - acc("dct-only")
    return (f"Freezing `alpha` at 1 in DCTpS (EPL): {pairs}{paired}. Without `S`, a trainable "
            f"`alpha` adds {alpha:.1f} points ({acc('dct-only-fixed-alpha'):.1f}% to "
            f"{acc('dct-only'):.1f}%), and `S` at {_pct(densities[-1])} adds {sparse:.1f} "
            f"more ({acc('dctps-epl', densities[-1]):.1f}%): where the network is almost all "
            "offset, one trainable scale per layer is worth "
            + ("more" if alpha > sparse else "less") + " than the sparse weights together.")


def quick_claims(s: dict) -> str:
    """The sentence under the front door's table: every row at the lowest density, in order."""
    d = s["config"]["densities"][-1]
    return (f"At {_pct(d)}, best first: " + ", ".join(
        f"{r['method']} {r['acc_mean']:.1f}%" for r in _ranked(s, d))
        + " (chance is 10%; cells marked n/a are not trained).")


def offsets_claims(s: dict) -> str:
    """The bullets under the offsets table: at each density the DCTpS rows best first, each
    other offset paired with the DCT over seeds, then the offset-only floors best first."""
    densities = s["config"]["densities"]
    lines = []
    for d in densities:
        ranked = _ranked(s, d, [k for k in s["config"]["methods"] if k.startswith("dctps-epl")])
        diffs = {x["a"]: x for x in s["differences"]
                 if x["b"] == "dctps-epl" and x["density"] == d and "@" in x["a"]}
        name = {r["key"]: "DCT" if r["key"] == "dctps-epl" else
                r["method"].removeprefix("DCTpS (EPL), ") for r in ranked}
        lines.append(f"- **At {_pct(d)}**, best first: " + ", ".join(
            f"{name[r['key']]} {_ci(r['acc_mean'], r['acc_ci'])}%"
            for r in ranked) + "; against the DCT, paired over seeds: " + ", ".join(
            f"{name[r['key']]} {_ci(x['mean'], x['ci'], True)}"
            + ("" if x["shown"] else " (no difference shown)")
            for r in ranked if (x := diffs.get(r["key"]))) + " points.")
    floors = _ranked(s, densities[0], [k for k in s["config"]["methods"]
                                       if k == "dct-only" or k.startswith("offset-only@")])
    lines.append("- **Offset only** (no `S`), best first: " + ", ".join(
        f"{r['method']} {_ci(r['acc_mean'], r['acc_ci'])}%" for r in floors) + ".")
    return "\n".join(lines)


def blocks() -> dict:
    """``{marker: content}`` of every block this script writes."""
    out = {marker: (ROOT / folder / "study.md").read_text() for marker, folder in TABLES.items()}
    out["study-claims"] = full_claims(summary("analysis/out/study-full"))
    out["study-quick-claims"] = quick_claims(summary("analysis/out/study-quick"))
    out["study-alpha-claims"] = alpha_claims(summary("analysis/out/alpha/full"))
    out["offsets-claims"] = offsets_claims(summary(TABLES["offsets-study"]))
    return out


if __name__ == "__main__":
    update_readme(blocks())
