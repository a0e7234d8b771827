"""agent.py + invoker.py + context.py: the two kinds of stage, AgentInvoker driving one by hand
(errors are routed, never escape), and what the context hands a stage."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import posix_ipc
import pytest

from hftpipe.runtime import Agent, AgentInvoker, AsyncAgent, StageContext
from hftpipe.runtime.agent import Drive, Stage
from hftpipe.substrate.control import ControlFile
from hftpipe.substrate.control_layout import PipelineState
from hftpipe.substrate.counters import CounterKind
from hftpipe.substrate.shm import segment_name, unlink_semaphore


class ScriptedAgent(Agent):
    """Records its lifecycle calls; ``do_work`` returns (or raises) the next scripted outcome."""

    def __init__(self, ctx: StageContext, outcomes: list[int | BaseException] | None = None) -> None:
        super().__init__(ctx)
        self.events: list[str] = []
        self.outcomes = list(outcomes or [])

    def on_start(self) -> None:
        self.events.append("start")

    def do_work(self) -> int:
        self.events.append("work")
        outcome = self.outcomes.pop(0) if self.outcomes else 1
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def on_close(self) -> None:
        self.events.append("close")


@pytest.fixture
def control(pipeline_name: str) -> Iterator[ControlFile]:
    cf = ControlFile.create(pipeline_name, ["feed", "solo"], [])
    try:
        yield cf
    finally:
        cf.close()
        cf.segment.unlink()


@pytest.fixture
def ctx(control: ControlFile) -> Iterator[StageContext]:
    context = StageContext.of(control, "solo", 0)
    try:
        yield context
    finally:
        context.close()


def test_should_call_start_then_work_then_close_in_order(ctx: StageContext) -> None:
    agent = ScriptedAgent(ctx, [3, 0, 7])
    invoker = AgentInvoker(agent)
    invoker.start()
    assert [invoker.invoke() for _ in range(3)] == [3, 0, 7]
    invoker.close()
    assert agent.events == ["start", "work", "work", "work", "close"]
    assert (invoker.started, invoker.closed) == (True, True)


def test_should_close_only_once(ctx: StageContext) -> None:
    agent = ScriptedAgent(ctx)
    invoker = AgentInvoker(agent)
    invoker.start()
    invoker.close()
    invoker.close()
    assert agent.events == ["start", "close"]


def test_should_not_call_on_close_for_an_agent_that_never_started(ctx: StageContext) -> None:
    agent = ScriptedAgent(ctx)
    AgentInvoker(agent).close()
    assert agent.events == []


def test_should_refuse_invoke_before_start(ctx: StageContext) -> None:
    agent = ScriptedAgent(ctx)
    invoker = AgentInvoker(agent)
    with pytest.raises(RuntimeError, match=re.escape("invoke() needs start() first and no close()")):
        invoker.invoke()
    assert agent.events == []


def test_should_refuse_invoke_after_close(ctx: StageContext) -> None:
    agent = ScriptedAgent(ctx)
    invoker = AgentInvoker(agent)
    invoker.start()
    invoker.close()
    with pytest.raises(RuntimeError, match=re.escape("invoke() needs start() first and no close()")):
        invoker.invoke()
    assert agent.events == ["start", "close"]


def test_should_route_a_do_work_exception_to_the_counter_and_error_log(ctx: StageContext, control: ControlFile) -> None:
    invoker = AgentInvoker(ScriptedAgent(ctx, [ValueError("bad tick")]))
    invoker.start()
    assert invoker.invoke() == 0
    assert control.read_counters(ctx.index)["errors"] == 1
    assert [(e.message, e.count) for e in control.read_errors(ctx.index)] == [("ValueError: bad tick", 1)]
    assert invoker.errors.consecutive == 1
    assert control.read_errors(control.stage_index("feed")) == []


def test_should_count_repeats_of_one_error_in_one_entry_and_log_it_once(
    ctx: StageContext, control: ControlFile, caplog: pytest.LogCaptureFixture
) -> None:
    invoker = AgentInvoker(ScriptedAgent(ctx, [KeyError("px"), KeyError("px"), RuntimeError("down")]))
    invoker.start()
    with caplog.at_level(logging.ERROR, logger="hftpipe.solo"):
        for _ in range(3):
            assert invoker.invoke() == 0
    assert control.read_counters(ctx.index)["errors"] == 3
    assert [(e.message, e.count) for e in control.read_errors(ctx.index)] == [
        ("KeyError: 'px'", 2),
        ("RuntimeError: down", 1),
    ]
    logged = [r.getMessage().splitlines()[0] for r in caplog.records if r.name == "hftpipe.solo"]
    assert logged == ["KeyError: 'px'", "RuntimeError: down"]
    assert "Traceback (most recent call last)" in caplog.records[0].getMessage()
    assert invoker.errors.consecutive == 3


def test_should_reset_the_consecutive_error_count_after_a_good_duty_cycle(ctx: StageContext) -> None:
    invoker = AgentInvoker(ScriptedAgent(ctx, [ValueError("x"), ValueError("x"), 4, ValueError("y")]))
    invoker.start()
    invoker.invoke()
    invoker.invoke()
    assert invoker.errors.consecutive == 2
    assert invoker.invoke() == 4
    assert invoker.errors.consecutive == 0
    invoker.invoke()
    assert invoker.errors.consecutive == 1


def test_should_let_exit_requests_escape_do_work(ctx: StageContext, control: ControlFile) -> None:
    invoker = AgentInvoker(ScriptedAgent(ctx, [SystemExit(3)]))
    invoker.start()
    with pytest.raises(SystemExit):
        invoker.invoke()
    assert control.read_counters(ctx.index)["errors"] == 0


def test_should_route_the_base_agent_do_work_as_not_implemented(ctx: StageContext, control: ControlFile) -> None:
    invoker = AgentInvoker(Agent(ctx), logging.getLogger("hftpipe.test-agent"))
    invoker.start()
    assert invoker.invoke() == 0
    assert [e.message for e in control.read_errors(ctx.index)] == ["NotImplementedError: "]


def test_should_name_the_agent_after_its_stage(ctx: StageContext) -> None:
    assert ScriptedAgent(ctx).role_name == "solo"


def test_should_hand_out_the_standard_counters_of_its_own_block(ctx: StageContext, control: ControlFile) -> None:
    ctx.counter(CounterKind.MESSAGES_OUT).add(9)
    assert control.read_counters(ctx.index)["messages_out"] == 9
    assert control.read_counters(control.stage_index("feed"))["messages_out"] == 0


def test_should_report_halted_unless_the_pipeline_is_running(ctx: StageContext, control: ControlFile) -> None:
    assert ctx.halted
    control.set_state(PipelineState.RUNNING)
    assert not ctx.halted
    control.set_state(PipelineState.HALTED)
    assert ctx.halted


def test_should_demand_exactly_one_ring_from_the_input_and_output_helpers(ctx: StageContext) -> None:
    with pytest.raises(RuntimeError, match=re.escape("stage 'solo' needs exactly one input ring, has 0")):
        ctx.the_input()
    with pytest.raises(RuntimeError, match=re.escape("stage 'solo' needs exactly one output ring, has 0")):
        ctx.the_output()


def test_should_make_polling_and_async_agents_siblings_neither_pretending_to_be_the_other() -> None:
    assert issubclass(Agent, Stage) and issubclass(AsyncAgent, Stage)
    assert not issubclass(AsyncAgent, Agent) and not issubclass(Agent, AsyncAgent)
    assert not hasattr(AsyncAgent, "do_work")
    assert not hasattr(Agent, "run")
    assert (Agent.drive, AsyncAgent.drive) == (Drive.DUTY_CYCLE, Drive.EVENT_LOOP)


def test_should_give_async_agents_the_same_lifecycle_and_name(ctx: StageContext) -> None:
    agent = AsyncAgent(ctx)
    agent.on_start()
    agent.on_close()
    assert agent.role_name == "solo"


def test_should_close_the_semaphores_the_context_owns_when_it_closes(control: ControlFile, pipeline_name: str) -> None:
    name = segment_name(pipeline_name, "bell", "solo")
    posix_ipc.Semaphore(name, posix_ipc.O_CREX, initial_value=0)  # the owner's; glibc shares one handle per name
    try:
        context = StageContext.of(control, "solo", 0)
        bell = posix_ipc.Semaphore(name)
        assert context.own(bell) is bell
        bell.release()
        context.close()
        context.close()  # idempotent
        with pytest.raises(posix_ipc.ExistentialError, match="closed"):
            bell.release()
    finally:
        unlink_semaphore(name)
