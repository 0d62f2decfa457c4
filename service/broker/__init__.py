"""A local QStash-compatible broker: publish, queues, schedules, flow control, delivery, a DLQ.

It stands in for Upstash QStash in development and tests, so it knows nothing of jobs and
imports nothing from the rest of the project. State lives in memory, like the official
dev server.
"""

from service.broker.app import create_broker, serve_broker
from service.broker.config import BrokerConfig, Faults

__all__ = ["BrokerConfig", "Faults", "create_broker", "serve_broker"]
