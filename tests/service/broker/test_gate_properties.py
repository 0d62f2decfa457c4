"""The gate under random arrivals, attempt ends, settlements and pauses: no key, queue or the
broker ever runs more than its parallelism, a queue starts its messages in arrival order,
and once everything is resumed and settles, every message has started."""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from service.broker.gate import Gate
from service.broker.records import FlowControl, Message, MessageSpec

KEYS = {"a": 1, "b": 2}
QUEUES = {"q": 1, "r": 2}
GLOBAL = 3


class GateMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.gate = Gate(lambda: None, GLOBAL)
        for name, parallelism in QUEUES.items():
            self.gate.queue(name, 0).parallelism = parallelism
        self.in_flight: list[Message] = []
        self.between_attempts: list[Message] = []  # started, awaiting a retry or their settlement
        self.arrived: dict[str, list[str]] = {name: [] for name in QUEUES}
        self.first_started: dict[str, list[str]] = {name: [] for name in QUEUES}
        self.count = 0

    @rule(key=st.sampled_from([None, *KEYS]), queue=st.sampled_from([None, *QUEUES]))
    def arrive(self, key: str | None, queue: str | None) -> None:
        self.count += 1
        flow = FlowControl(key=key, parallelism=KEYS[key]) if key is not None else None
        message = Message(
            message_id=f"m{self.count}",
            spec=MessageSpec(url="http://x", flow_control=flow, queue=queue),
            created_at_ms=0,
            not_before_ms=0,
        )
        self.gate.accepted(message.spec, 0)
        if queue is not None:
            self.arrived[queue].append(message.message_id)
        self._admit([message])

    @precondition(lambda self: self.in_flight)
    @rule(index=st.integers(min_value=0), retry=st.booleans())
    def end_attempt(self, index: int, retry: bool) -> None:
        message = self.in_flight.pop(index % len(self.in_flight))
        self.gate.attempt_ended(message)
        if retry:
            self._admit([message])
        else:
            self.gate.finished(message)
            self._admit([])

    @rule(name=st.sampled_from(sorted(QUEUES)), paused=st.booleans())
    def pause_queue(self, name: str, paused: bool) -> None:
        self.gate.queues[name].paused = paused
        self._admit([])

    @rule(key=st.sampled_from(sorted(KEYS)), paused=st.booleans())
    def pause_key(self, key: str, paused: bool) -> None:
        self.gate.flow_key(key).paused = paused
        self._admit([])

    def _admit(self, due: list[Message]) -> None:
        for message in self.gate.admit(due, now=0.0):
            queue = message.spec.queue
            if queue is not None and message.message_id not in self.first_started[queue]:
                self.first_started[queue].append(message.message_id)
            self.in_flight.append(message)

    @invariant()
    def nothing_runs_past_its_parallelism(self) -> None:
        assert len(self.in_flight) == self.gate.active <= GLOBAL
        for key, parallelism in KEYS.items():
            running = [m for m in self.in_flight if m.spec.flow_control and m.spec.flow_control.key == key]
            assert len(running) == self.gate.flow_key(key).active <= parallelism
        for name, parallelism in QUEUES.items():
            assert len(self.gate.queues[name].holders) <= parallelism

    @invariant()
    def queues_start_their_messages_in_arrival_order(self) -> None:
        for name, started in self.first_started.items():
            assert started == self.arrived[name][: len(started)]

    def teardown(self) -> None:
        """Resume everything and let every attempt end: nothing is left waiting."""
        for queue in self.gate.queues.values():
            queue.paused = False
        for key in self.gate.flow_keys.values():
            key.paused = False
        self._admit([])
        while self.in_flight:
            message = self.in_flight.pop(0)
            self.gate.attempt_ended(message)
            self.gate.finished(message)
            self._admit([])
        assert self.gate.waiting == {}


TestGate = GateMachine.TestCase
TestGate.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
