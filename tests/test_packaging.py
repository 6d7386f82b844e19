"""Packaging: the README's commands, CI, ``python -m refnet``, setup.cfg, run-time imports."""
import ast
import configparser
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands():
    """The command lines of the first fenced block of README.md."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```[a-z]*\n(.*?)```", text, re.S)
    assert block, "README.md has no fenced code block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_install_and_test_commands():
    text = (ROOT / "README.md").read_text()
    assert text.index("```") < 200, "the commands should open the README"
    install, test = _readme_commands()[:2]
    assert "pip install" in install and "refnet study --quick" in install   # the main job
    assert "'.[test]'" in test and "pytest" in test


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = _readme_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in [line.strip() for line in ci.splitlines()]
    assert "set -euo pipefail" in ci          # any failure makes CI exit non-zero
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_python_dash_m_refnet_help():
    result = subprocess.run([sys.executable, "-m", "refnet", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage: refnet" in result.stdout and "gradcheck" in result.stdout


def test_setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    scripts = [s.strip() for s in cfg["options.entry_points"]["console_scripts"].splitlines()]
    assert "refnet = refnet.cli:main" in scripts
    test_extra = cfg["options.extras_require"]["test"]
    assert re.search(r"^\s*pytest\b", test_extra, re.M)
    assert re.search(r"^\s*hypothesis\b", test_extra, re.M)
    runtime = {re.split(r"[<>=!~ ]", line.strip())[0]
               for line in cfg["options"]["install_requires"].splitlines() if line.strip()}
    assert runtime == {"numpy", "scipy", "matplotlib"}


def test_refnet_imports_only_numpy_scipy_matplotlib_and_the_standard_library():
    allowed = set(sys.stdlib_module_names) | {"numpy", "scipy", "matplotlib", "refnet"}
    allowed |= {"dask", "distributed"}   # the optional 'cluster' extra, only for study --scheduler
    bad = []
    for path in sorted((ROOT / "refnet").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            bad += [f"{path.relative_to(ROOT)}: {n}" for n in names
                    if n.split(".")[0] not in allowed]
    assert not bad, f"refnet imports outside its run-time dependencies: {bad}"


def _python_blocks(readme):
    return re.findall(r"```python\n(.*?)```", (ROOT / readme).read_text(), re.S)


def test_readme_example_builds_checks_and_takes_a_spectrum(capsys):
    """The front door's one example runs as shown, its asserts included: a DCTpSLinear, its
    forward and VJP, the checker, and a Jacobian spectrum."""
    (code,) = _python_blocks("README.md")
    for call in ("DCTpSLinear(", ".forward(", ".vjp(", "check_layer(", "jacobian(",
                 "singular_values(", "assert "):
        assert call in code, call
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out


def test_analysis_readme_python_examples_run(capsys):
    blocks = _python_blocks("analysis/README.md")
    assert blocks
    for code in blocks:
        exec(compile(code, "analysis/README.md", "exec"), {})
    assert capsys.readouterr().out


@pytest.mark.parametrize("command", sorted(__import__("refnet.cli").cli.SUBCOMMANDS))
def test_every_subcommand_has_working_help(command, capsys):
    from refnet.cli import main
    assert main([command, "--help"]) == 0 and command in capsys.readouterr().out


def test_help_shows_percent_signs_once(capsys):
    """A subcommand's help line reads the same in ``refnet --help`` and ``refnet CMD --help``."""
    from refnet.cli import main
    for argv in (["--help"], ["study", "--help"]):
        assert main(argv) == 0
        out = " ".join(capsys.readouterr().out.split())
        assert "accuracy lost at 1%, 0.1%, 0.01% density" in out and "%%" not in out
