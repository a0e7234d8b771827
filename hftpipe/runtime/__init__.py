"""The runtime: agents, their context and ports, runners, wiring, config, placement, supervisor.

The public API a stage is written against is re-exported here; import it from
``hftpipe.runtime`` rather than from the modules that implement it:

* :class:`Agent` / :class:`AsyncAgent`: the two kinds of stage (a duty cycle
  polled by the runner, or an asyncio ``run``), siblings over one lifecycle;
* :class:`StageContext`: what a stage sees of its pipeline;
* :class:`InputPort` / :class:`OutputPort`: the ends of the rings a stage reads
  and publishes to, which measure each hop (see :mod:`hftpipe.runtime.ports`);
* :class:`AgentInvoker`: drive an agent by hand, one duty cycle at a time (tests).
"""

from hftpipe.runtime.agent import Agent, AsyncAgent
from hftpipe.runtime.context import StageContext
from hftpipe.runtime.invoker import AgentInvoker
from hftpipe.runtime.ports import InputPort, OutputPort

__all__ = ["Agent", "AgentInvoker", "AsyncAgent", "InputPort", "OutputPort", "StageContext"]
