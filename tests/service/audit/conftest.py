"""The API tests' keys, one per owner and scope, serve the audit tests too."""

from tests.service.api.conftest import keys

__all__ = ["keys"]
