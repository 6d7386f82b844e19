"""Copy the study tables that ``refnet study`` wrote into their blocks in README.md or
analysis/README.md (tests/cli/study check that they agree).

    python analysis/readme_study_tables.py
"""
from readme_blocks import ROOT, update_readme

#: block marker -> the folder its ``refnet study --out`` wrote
TABLES = {"study-full": "analysis/out/study-full", "study-quick": "analysis/out/study-quick",
          "study-alpha": "analysis/out/alpha/full", "offsets-study": "analysis/out/offsets/full"}

if __name__ == "__main__":
    update_readme({marker: (ROOT / folder / "study.md").read_text()
                   for marker, folder in TABLES.items()})
