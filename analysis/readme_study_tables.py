"""Copy the study tables that ``refnet study`` wrote into the README, between their markers.

    python analysis/readme_study_tables.py

Each block ``<!-- NAME:begin --> ... <!-- NAME:end -->`` of README.md is replaced by the
``study.md`` that the command shown above it wrote (tests/study/test_readme_tables.py and, for
the offsets, tests/study/test_study.py check that they agree, so the README never shows a number
no run produced).
"""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: README marker -> the folder its ``refnet study --out`` wrote
TABLES = {"study-full": "analysis/out/study-full", "study-quick": "analysis/out/study-quick",
          "study-alpha": "analysis/out/alpha/full", "offsets-study": "analysis/out/offsets/full"}


def main():
    readme = ROOT / "README.md"
    text = readme.read_text()
    for marker, folder in TABLES.items():
        table = (ROOT / folder / "study.md").read_text().rstrip("\n")
        pattern = re.compile(rf"(<!-- {marker}:begin -->\n).*?(\n<!-- {marker}:end -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no {marker} markers")
        text = pattern.sub(lambda m: m.group(1) + table + m.group(2), text)
    readme.write_text(text)


if __name__ == "__main__":
    main()
