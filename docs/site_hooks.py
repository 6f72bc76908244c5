"""mkdocs hook (mkdocs.yml): files outside docs/ that the pages show.

docs/performance.md shows the chart ``python -m bench`` writes to bench/results/, with a
link that works where the repository is read as it stands; the site serves the same file
under docs_dir's own images/ so that the link resolves there too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files, InclusionLevel

ROOT = Path(__file__).resolve().parent.parent
#: Link as the pages write it (relative to docs/) -> where the site puts the file.
OUTSIDE = {"../bench/results/chart.png": "images/benchmark-chart.png"}


def on_files(files: Files, config: Any) -> Files:
    for link, dest in OUTSIDE.items():
        source = (ROOT / "docs" / link).resolve()
        file = File.generated(
            config, link, abs_src_path=str(source), inclusion=InclusionLevel.INCLUDED
        )
        file.dest_uri = dest
        files.append(file)
    return files
