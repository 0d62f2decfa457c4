"""A page shows a state diagram between two markers; a test fails when it is not the Machine's."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def assert_shows_diagram(page: Path, marker: str, diagram: str) -> None:
    """`page` holds `diagram` between `<!-- {marker}:start -->` and `<!-- {marker}:end -->`."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    expected = f"```mermaid\n{diagram}\n```"
    found = re.search(f"{re.escape(start)}\n(.*?)\n{re.escape(end)}", page.read_text(), re.DOTALL)
    assert found and found.group(1).strip() == expected, (
        f"{page.relative_to(ROOT)}'s {marker} is stale; replace everything between the markers with:\n\n"
        f"{start}\n{expected}\n{end}\n"
    )
