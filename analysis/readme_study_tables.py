"""Copy the study tables that ``refnet study`` wrote into the READMEs, between their markers.

    python analysis/readme_study_tables.py

Each block ``<!-- NAME:begin --> ... <!-- NAME:end -->`` of README.md (the headline) and
analysis/README.md (the rest) is replaced by the ``study.md`` that the command shown above it
wrote (tests/cli/study/test_readme_tables.py and, for the offsets, tests/cli/study/test_study.py
check that they agree, so no README shows a number no run produced).
"""
from readme_blocks import ROOT, update_readme
#: README marker -> the folder its ``refnet study --out`` wrote
TABLES = {"study-full": "analysis/out/study-full", "study-quick": "analysis/out/study-quick",
          "study-alpha": "analysis/out/alpha/full", "offsets-study": "analysis/out/offsets/full"}


def main():
    update_readme({marker: (ROOT / folder / "study.md").read_text()
                   for marker, folder in TABLES.items()})


if __name__ == "__main__":
    main()
