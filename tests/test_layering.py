"""The three tiers import one way only: apps -> lab -> engine, and ops imports nothing.

Every ``import`` statement of every module under ``refnet/`` (those inside
functions too) is resolved to a refnet module and checked against the tier of
the module that makes it.  The tiers are named in ``TIERS``; a module not
named there fails the test, so a new file has to say where it belongs.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "refnet"

#: module-name prefix -> tier; the longest matching prefix wins
TIERS = {
    "refnet._checks": 0, "refnet._files": 0,
    "refnet.ops": 1,
    "refnet": 2, "refnet.core": 2, "refnet.layers": 2, "refnet.losses": 2, "refnet.optim": 2,
    "refnet.initializers": 2, "refnet.testing": 2, "refnet.jacobian": 2,
    "refnet.networks": 3, "refnet.supports": 3, "refnet.offsets": 3, "refnet.doping": 3,
    "refnet.sparsity": 3, "refnet.models": 3, "refnet.spectra": 3, "refnet.train": 3,
    "refnet.data": 3, "refnet.specimens": 3,
    "refnet.cli": 4, "refnet.__main__": 4,
}
TIER_NAMES = {0: "private helpers", 1: "ops", 2: "engine", 3: "lab", 4: "apps"}

#: lab packages that must not import each other (the modules in BELOW sit below both)
SIBLINGS = [("refnet.models", "refnet.sparsity")]
#: lab modules below both siblings: they import neither
BELOW = {name: SIBLINGS[0] for name in ("refnet.networks", "refnet.supports", "refnet.offsets",
                                        "refnet.doping")}

#: arrows still the wrong way while the restructuring is under way (must end empty)
KNOWN: set[str] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def tier(module: str) -> int:
    best = max((p for p in TIERS if module == p or module.startswith(p + ".")), key=len,
               default=None)
    if best is None:
        raise AssertionError(f"{module} is in no tier: add it to TIERS in {__file__}")
    return TIERS[best]


def refnet_imports(path: Path):
    """``(line, imported module)`` for every import of a refnet module in ``path``."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # "from refnet import layers" imports the module refnet.layers
            targets = [mod + "." + a.name if (ROOT.parent / (mod + "." + a.name).replace(
                ".", "/")).exists() or (ROOT.parent / (mod + "." + a.name).replace(
                    ".", "/")).with_suffix(".py").exists() else mod for a in node.names]
        else:
            continue
        for target in targets:
            if target == "refnet" or target.startswith("refnet."):
                yield node.lineno, target


MODULES = sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_imports_run_one_way(path):
    name = module_name(path)
    own = tier(name)
    wrong = []
    for line, target in refnet_imports(path):
        other = tier(target)
        if own == 1 and other != 1:
            wrong.append(f"line {line}: ops imports {target}")
        elif own == 0 and target != name:
            wrong.append(f"line {line}: {name} imports {target}")
        elif other > own:
            wrong.append(f"line {line}: {TIER_NAMES[own]} module imports {target} "
                         f"({TIER_NAMES[other]})")
        for a, b in SIBLINGS:
            for x, y in ((a, b), (b, a)):
                if (name == x or name.startswith(x + ".")) and \
                        (target == y or target.startswith(y + ".")):
                    wrong.append(f"line {line}: {x} imports {target}")
        if any(target == y or target.startswith(y + ".") for y in BELOW.get(name, ())):
            wrong.append(f"line {line}: {name} sits below {target} but imports it")
    if name in KNOWN:
        pytest.xfail("a known wrong-way import, to be removed")
    assert not wrong, f"{name}: " + "; ".join(dict.fromkeys(wrong))


def test_the_walk_sees_imports():
    """The checker itself: it finds relative, absolute and function-level imports."""
    found = dict((t, line) for line, t in refnet_imports(ROOT / "cli" / "__init__.py"))
    assert "refnet" in found or any(t.startswith("refnet") for t in found)
    assert tier("refnet.layers.dctps") == 2 and tier("refnet.ops.dct") == 1
    assert tier("refnet.cli.study.runner") == 4
