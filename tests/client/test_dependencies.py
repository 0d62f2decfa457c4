"""The client is for users of the API: it imports httpx, msgspec and the standard library,
never the service, its database driver or the domain (it is installed and run far from them)."""

import sys
from pathlib import Path

import jobtrail
from tests.domain.test_dependencies import imported_packages

ALLOWED = set(sys.stdlib_module_names) | {"jobtrail", "httpx", "msgspec"}
MODULES = sorted(Path(jobtrail.__file__).parent.rglob("*.py"))


def test_the_client_has_modules_to_check():
    assert {path.stem for path in MODULES} >= {"models", "errors", "calls", "retries", "sse", "sync", "asynchronous"}


def test_the_client_imports_only_the_stdlib_httpx_and_msgspec():
    outside = {path.name: sorted(imported_packages(path) - ALLOWED) for path in MODULES}
    assert {name: packages for name, packages in outside.items() if packages} == {}
