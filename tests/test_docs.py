"""The project's own documentation: every citation of docs/study.md points at a section it has."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITATION = re.compile(r"docs/study\.md(?:`)? sections? (\d+)(?:\s*(?:-|and)\s*(\d+))?")


def test_every_citation_of_the_study_document_names_a_section_it_has():
    sections = {int(n) for n in re.findall(r"^## (\d+)\. ", (ROOT / "docs" / "study.md").read_text(), re.M)}
    assert sections == set(range(1, 9))
    cited = {}
    for path in [ROOT / "Snakefile", ROOT / "config.yaml", ROOT / "README.md", *ROOT.glob("src/lookloss/*.py"),
                 *ROOT.glob("workflow/rules/*.smk"), *ROOT.glob("tests/*.py"), *ROOT.glob("benchmarks/*.py")]:
        for match in CITATION.finditer(path.read_text()):
            first, last = int(match[1]), int(match[2] or match[1])
            cited.update({(path.name, n): n for n in range(first, last + 1)})
    assert len(cited) >= 15  # the code cites it throughout
    assert not {where for where, n in cited.items() if n not in sections}
