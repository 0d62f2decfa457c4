"""The schedule service's operations against a real database."""

import pytest

from domain.schedule.lifecycle import ScheduleStatus
from projections.log import Metadata
from service.jobs.kinds import load_kinds
from service.jobs.observers import Observers
from service.live.event_feed import EventFeed
from service.schedules import service

pytestmark = pytest.mark.anyio
ACTOR = Metadata(actor="ops")
SPEC = {"owner": "ada", "kind": "demo.count", "params": {"total": 3}, "cron": "*/5 * * * *"}


async def test_an_idempotency_key_returns_the_schedule_it_created(pool):
    kinds = load_kinds()
    first_id, first, new = await service.create(pool, kinds, {**SPEC, "idempotency_key": "k"}, ACTOR)
    again_id, again, again_new = await service.create(pool, kinds, {**SPEC, "idempotency_key": "k"}, ACTOR)
    assert (new, again_new) == (True, False)
    assert (again_id, again) == (first_id, first)


async def test_pause_resume_delete_and_pages(pool):
    kinds = load_kinds()
    ids = [(await service.create(pool, kinds, SPEC, ACTOR))[0] for _ in range(3)]
    await service.pause(pool, kinds, ids[0], ACTOR)
    assert (await service.get(pool, ids[0])).status is ScheduleStatus.PAUSED
    await service.resume(pool, kinds, ids[0], ACTOR)
    await service.delete(pool, kinds, ids[1], ACTOR)
    first = await service.page(pool, owner="ada", limit=2)
    state = first[-1][1]
    assert state.created_at is not None
    rest = await service.page(pool, owner="ada", after=(state.created_at, first[-1][0]))
    assert sorted(i for i, _ in first + rest) == sorted(ids)
    assert [i for i, _ in await service.page(pool, owner="ada", status=ScheduleStatus.DELETED)] == [ids[1]]
    assert await service.page(pool, owner="bob") == []


async def test_a_trigger_creates_a_job_once_per_key(pool):
    kinds = load_kinds()
    schedule_id, _, _ = await service.create(pool, kinds, {**SPEC, "overlap": "allow"}, ACTOR)
    first = await service.trigger(pool, kinds, schedule_id, ACTOR, idempotency_key="t")
    assert first.job is not None
    assert (await service.get(pool, schedule_id)).jobs_created == 1
    again = await service.trigger(pool, kinds, schedule_id, ACTOR, idempotency_key="t")
    assert again.events == [] and (await service.get(pool, schedule_id)).jobs_created == 1


async def test_every_change_rings_the_schedule_keepers_doorbell_and_a_repeat_does_not(pool, database_url):
    kinds, feed = load_kinds(), EventFeed(database_url)
    observers = Observers(feed=feed)
    rang = []

    async def rings(operation) -> None:
        feed.schedules_changed.clear()
        await operation
        rang.append(feed.schedules_changed.is_set())

    schedule_id = (await service.create(pool, kinds, {**SPEC, "idempotency_key": "k"}, ACTOR, observers=observers))[0]
    await rings(service.create(pool, kinds, {**SPEC, "idempotency_key": "k"}, ACTOR, observers=observers))
    await rings(service.update(pool, kinds, schedule_id, {"cron": "0 * * * *"}, ACTOR, observers=observers))
    await rings(service.pause(pool, kinds, schedule_id, ACTOR, observers=observers))
    await rings(service.resume(pool, kinds, schedule_id, ACTOR, observers=observers))
    await rings(service.delete(pool, kinds, schedule_id, ACTOR, observers=observers))
    assert rang == [False, True, True, True, True]
