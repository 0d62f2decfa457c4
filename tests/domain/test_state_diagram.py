"""The README's state diagram is the one the Machine draws, so it can never go stale."""

import re
from pathlib import Path

from domain.lifecycle import mermaid

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- state-diagram:start -->", "<!-- state-diagram:end -->"


def test_the_readme_shows_the_state_diagram_drawn_from_the_machine():
    expected = f"```mermaid\n{mermaid()}\n```"
    found = re.search(f"{re.escape(START)}\n(.*?)\n{re.escape(END)}", README.read_text(), re.DOTALL)
    assert found and found.group(1).strip() == expected, (
        f"README.md's state diagram is stale; replace everything between the markers with:\n\n"
        f"{START}\n{expected}\n{END}\n"
    )
