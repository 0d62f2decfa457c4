"""Projections point inward: they know the domain, never the service or how progress is drawn."""

from pathlib import Path

import projections
from tests.domain.test_dependencies import imported_packages

MODULES = sorted(Path(projections.__file__).parent.glob("*.py"))


def test_no_projection_imports_the_service_or_a_terminal_library():
    leaks = {path.name: sorted(imported_packages(path) & {"service", "rich"}) for path in MODULES}
    assert {name: found for name, found in leaks.items() if found} == {}
    assert {"rebuild.py", "shadow_rebuild.py", "table_swap.py"} <= {path.name for path in MODULES}
