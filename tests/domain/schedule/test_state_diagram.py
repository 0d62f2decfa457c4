"""docs/architecture.md shows the schedule's state diagram as its Machine draws it."""

from domain.schedule.lifecycle import mermaid
from tests.domain.diagrams import ROOT, assert_shows_diagram


def test_the_architecture_page_shows_the_schedule_diagram_drawn_from_the_machine():
    assert_shows_diagram(ROOT / "docs" / "architecture.md", "schedule-diagram", mermaid())
