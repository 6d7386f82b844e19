"""analysis/readme_blocks.py: blocks are found, read and replaced exactly in any markdown file;
busy benchmarks are refused."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
import readme_blocks  # noqa: E402

TEXT = "a\n<!-- t:begin -->\nold\n<!-- t:end -->\nb\n<!-- u:begin -->\nkeep\n<!-- u:end -->\n"


def test_replace_block_replaces_only_its_block():
    new = readme_blocks.replace_block(TEXT, "t", "new 1\nnew 2\n")
    assert new == ("a\n<!-- t:begin -->\nnew 1\nnew 2\n<!-- t:end -->\nb\n"
                   "<!-- u:begin -->\nkeep\n<!-- u:end -->\n")
    with pytest.raises(SystemExit, match="no v markers"):
        readme_blocks.replace_block(TEXT, "v", "x")


def test_blocks_are_read_and_updated_in_the_file_that_holds_them(tmp_path):
    front, results = tmp_path / "README.md", tmp_path / "results.md"
    front.write_text("front\n")
    results.write_text(TEXT)
    docs = (front, tmp_path / "missing.md", results)
    assert readme_blocks.find_doc("u", docs) == results
    assert readme_blocks.read_block("u", docs) == "keep"
    readme_blocks.update_readme({"t": "new\n"}, docs)
    assert front.read_text() == "front\n"
    assert readme_blocks.read_block("t", docs) == "new"
    with pytest.raises(SystemExit, match="no v markers"):
        readme_blocks.read_block("v", docs)


@pytest.mark.parametrize("busy, stem, status", [(0.0, "bench", 0), (0.5, "bench.busy", 1)])
def test_save_bench_refuses_a_busy_run(tmp_path, capsys, busy, stem, status):
    report = {"other_processes_cpu_share": busy, "cases": []}
    assert readme_blocks.save_bench(report, "| table |", tmp_path, "bench", marker="none",
                                    readme=False, max_busy=0.05) == status
    assert json.loads((tmp_path / f"{stem}.json").read_text()) == report
    assert (tmp_path / f"{stem}.md").read_text() == "| table |\n"
    assert "| table |" in capsys.readouterr().out
