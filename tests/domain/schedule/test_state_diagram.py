"""docs/architecture.md shows the schedule's state diagram as its Machine draws it."""

import re
from pathlib import Path

from domain.schedule.lifecycle import mermaid

ARCHITECTURE = Path(__file__).resolve().parents[3] / "docs" / "architecture.md"
START, END = "<!-- schedule-diagram:start -->", "<!-- schedule-diagram:end -->"


def test_the_architecture_page_shows_the_schedule_diagram_drawn_from_the_machine():
    expected = f"```mermaid\n{mermaid()}\n```"
    found = re.search(f"{re.escape(START)}\n(.*?)\n{re.escape(END)}", ARCHITECTURE.read_text(), re.DOTALL)
    assert found and found.group(1).strip() == expected, (
        f"docs/architecture.md's schedule diagram is stale; replace everything between the markers with:\n\n"
        f"{START}\n{expected}\n{END}\n"
    )
