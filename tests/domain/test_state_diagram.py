"""The README's state diagram is the one the Machine draws, so it can never go stale."""

from domain.lifecycle import mermaid
from tests.domain.diagrams import ROOT, assert_shows_diagram


def test_the_readme_shows_the_state_diagram_drawn_from_the_machine():
    assert_shows_diagram(ROOT / "README.md", "state-diagram", mermaid())
