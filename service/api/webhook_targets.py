"""A webhook target checked at the edge: a 422 naming the field that holds it."""

from service.api.problems import ProblemError
from service.notifications.targets import RefusedTarget, check_target
from service.settings import Settings


async def checked_target(settings: Settings, url: str, field: str) -> None:
    try:
        await check_target(url, development=settings.development, allow_private=settings.allow_private_webhooks)
    except RefusedTarget as error:
        raise ProblemError(422, f"{field}: {error}", errors=[{"key": field, "message": str(error)}]) from None
