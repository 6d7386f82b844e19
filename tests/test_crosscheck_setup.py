"""The PyTorch cross-check is an optional extra that CI always installs and runs."""
import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_crosscheck_extra_asks_for_torch():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    extra = [line.strip() for line in cfg["options.extras_require"]["crosscheck"].splitlines()
             if line.strip()]
    assert extra == ["torch>=2.1"]
    assert "torch" not in cfg["options"]["install_requires"]


def test_ci_installs_the_pinned_cpu_torch_before_running_the_tests():
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    pin = next(i for i, line in enumerate(lines)
               if re.fullmatch(r"\.venv/bin/pip install -q torch==2\.13\.0", line))
    extra = next(i for i, line in enumerate(lines) if "'.[crosscheck]'" in line)
    tests = next(i for i, line in enumerate(lines) if "python -m pytest" in line)
    assert pin < extra < tests
