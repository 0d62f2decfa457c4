"""What every signed-in page shows around its content: who is looking, with every scope
of its key, and the token of the sign-out form. Error pages show it too, whenever the
viewer was known before the error (service/dashboard/errors.py)."""

from typing import Any

from litestar import Request

from service.auth.keys import Principal, Scope
from service.dashboard import csrf
from service.settings import Settings


def chrome(request: Request, principal: Principal, settings: Settings) -> tuple[dict[str, Any], list]:
    token, new = csrf.token_for(request)
    context = {
        "owner": principal.owner,
        "scopes": sorted(principal.scopes),
        "auditor": Scope.AUDIT_READ in principal.scopes,
        "csrf_token": token,
    }
    return context, csrf.token_cookies(token, new, settings)
