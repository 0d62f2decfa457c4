"""The composition root: `create_broker(config)` wires the broker, `serve_broker` runs it.

The HTTP client and the two loops (delivery, schedules) live in the lifespan: opened on
start, cancelled and closed on shutdown. State lives on `app.state.broker`.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from litestar import Litestar
from litestar.datastructures import State
from litestar.logging import LoggingConfig

from service.broker import (
    batch_routes,
    dlq_routes,
    event_routes,
    flow_control_routes,
    key_routes,
    message_routes,
    publish_routes,
    queue_routes,
    schedule_routes,
    url_group_routes,
)
from service.broker.config import BrokerConfig
from service.broker.delivery import Deliverer
from service.broker.edge import HANDLERS, require_token
from service.broker.http_client import HttpClient
from service.broker.keys import SigningKeys
from service.broker.publishing import Publisher
from service.broker.schedules import Scheduler
from service.broker.store import Store
from service.broker.worker import Worker

MAX_BODY_BYTES = 10 * 1024 * 1024


class Broker:
    """Everything the routes and loops share."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.store = Store(config)
        self.keys = SigningKeys(config.current_signing_key, config.next_signing_key)
        self.publisher = Publisher(self.store, config)
        self.scheduler = Scheduler(self.store, self.publisher, config)


def create_broker(config: BrokerConfig | None = None, *, configure_logging: bool = True) -> Litestar:
    """`configure_logging=False` inside another app's process: its logging stays as that app set it."""
    broker = Broker(config or BrokerConfig())

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        client = HttpClient()  # keeps up to 1 MiB of each answer
        worker = Worker(broker.store, broker.publisher, Deliverer(client, broker.config, broker.keys), broker.config)
        loops = [asyncio.create_task(worker.run()), asyncio.create_task(broker.scheduler.run())]
        try:
            yield
        finally:
            for loop in loops:
                loop.cancel()
            for loop in loops:
                with contextlib.suppress(asyncio.CancelledError):
                    await loop
            await worker.stop()
            await client.aclose()

    return Litestar(
        route_handlers=[
            publish_routes.publish,
            batch_routes.batch,
            schedule_routes.create_or_toggle,
            schedule_routes.toggle,
            schedule_routes.list_schedules,
            schedule_routes.get_schedule,
            schedule_routes.delete_schedule,
            message_routes.get_message,
            message_routes.cancel_message,
            message_routes.cancel_messages,
            dlq_routes.list_dlq,
            dlq_routes.get_dlq,
            dlq_routes.delete_dlq,
            dlq_routes.delete_dlq_many,
            dlq_routes.retry_dlq,
            dlq_routes.retry_dlq_many,
            url_group_routes.upsert_endpoints,
            url_group_routes.remove_endpoints,
            url_group_routes.list_url_groups,
            url_group_routes.get_url_group,
            url_group_routes.delete_url_group,
            url_group_routes.patch_url_group,
            event_routes.list_events,
            event_routes.list_logs,
            key_routes.signing_keys,
            key_routes.rotate_signing_keys,
            queue_routes.enqueue,
            queue_routes.upsert_queue,
            queue_routes.list_queues,
            queue_routes.get_queue,
            queue_routes.delete_queue,
            queue_routes.pause_or_resume_queue,
            flow_control_routes.list_flow_control,
            flow_control_routes.get_flow_control,
            flow_control_routes.act_on_flow_control,
            flow_control_routes.global_parallelism,
        ],
        guards=[require_token],
        exception_handlers=HANDLERS,
        lifespan=[lifespan],
        state=State({"broker": broker}),
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=None,
        logging_config=LoggingConfig() if configure_logging else None,
    )


async def serve_broker(host: str, port: int, config: BrokerConfig | None = None) -> None:
    # Open client connections (keep-alive from publishers) must not hold a shutdown hostage.
    server_config = uvicorn.Config(
        create_broker(config), host=host, port=port, log_level="info", access_log=False, timeout_graceful_shutdown=3
    )
    await uvicorn.Server(server_config).serve()
