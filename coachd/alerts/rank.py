"""Who to coach: the ranked alert list and the cool-down. Pure: no I/O, no clock.

An agent is **alerted** when, over the window, they took at least
``min_calls`` calls and their conversion (sales / calls x 100, as the reports
count them: :mod:`coachd.reports.compute`) is strictly below
``below_conversion``. The list is ranked by conversion, lowest first; on equal
conversion the agent with more calls first (more evidence, more calls lost),
then by agent id.

Every alerted agent is on the list. An agent is **raised** (a new alert,
``new`` true) unless it was raised less than ``cooldown`` ago; ``since`` is
when it was last raised. The cool-down state (agent -> last raised) keeps only
the entries still inside their cool-down.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from coachd.reports.compute import AgentCount, SaleRule

SYSTEM_USERS: tuple[str, ...] = ("VDAD", "VDCL")
"""``vicidial_log.user`` of calls no agent took (VICIdial's auto-dialer and
closer placeholders): never agents to coach."""


def conversion(sales: int, calls: int) -> float:
    """Percent of calls that were sales (0 without calls)."""
    return sales / calls * 100 if calls else 0.0


@dataclass(frozen=True, slots=True)
class AgentCalls:
    """One agent's calls and sales over the window."""

    agent: str
    calls: int
    sales: int
    campaigns: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()

    @property
    def conversion(self) -> float:
        return conversion(self.sales, self.calls)


@dataclass(frozen=True, slots=True)
class Criteria:
    min_calls: int
    below_conversion: float
    """Percent; an agent must be strictly below it."""
    cooldown: timedelta

    def qualifies(self, agent: AgentCalls) -> bool:
        # sales / calls * 100 < below, without the float division.
        return (
            agent.calls >= self.min_calls
            and agent.sales * 100 < self.below_conversion * agent.calls
        )


@dataclass(frozen=True, slots=True)
class Alert:
    rank: int
    agent: str
    calls: int
    sales: int
    since: datetime
    """When this agent was last raised (this run, if ``new``)."""
    new: bool
    campaigns: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()

    @property
    def conversion(self) -> float:
        return conversion(self.sales, self.calls)


@dataclass(frozen=True, slots=True)
class Ranking:
    alerts: tuple[Alert, ...]
    """Every alerted agent, ranked."""
    raised: tuple[Alert, ...]
    """The alerts that are new this run (outside their cool-down), in rank order."""
    raised_at: Mapping[str, datetime] = field(default_factory=dict)
    """The cool-down state after this run: agent -> last raised."""


def tally(counts: Iterable[AgentCount], rule: SaleRule) -> list[AgentCalls]:
    """Per-agent calls and sales of ``counts`` (sales by ``rule``), by agent id."""
    calls: dict[str, int] = defaultdict(int)
    sales: dict[str, int] = defaultdict(int)
    campaigns: dict[str, set[str]] = defaultdict(set)
    groups: dict[str, set[str]] = defaultdict(set)
    for c in counts:
        calls[c.user] += c.calls
        if rule.is_sale(c.campaign_id, c.status):
            sales[c.user] += c.calls
        if c.campaign_id:
            campaigns[c.user].add(c.campaign_id)
        if c.user_group:
            groups[c.user].add(c.user_group)
    return [
        AgentCalls(
            agent,
            calls[agent],
            sales[agent],
            tuple(sorted(campaigns[agent])),
            tuple(sorted(groups[agent])),
        )
        for agent in sorted(calls)
    ]


def _order(agent: AgentCalls) -> tuple[float, int, str]:
    return (agent.conversion, -agent.calls, agent.agent)


def rank(
    agents: Iterable[AgentCalls],
    raised_at: Mapping[str, datetime],
    now: datetime,
    criteria: Criteria,
) -> Ranking:
    """The ranked alerts at ``now``, given when agents were last raised."""
    state = {a: t for a, t in raised_at.items() if now - t < criteria.cooldown}
    alerts: list[Alert] = []
    for i, agent in enumerate(sorted(filter(criteria.qualifies, agents), key=_order)):
        last = state.get(agent.agent)
        new = last is None
        since = now if last is None else last
        if new:
            state[agent.agent] = now
        alerts.append(
            Alert(
                rank=i + 1,
                agent=agent.agent,
                calls=agent.calls,
                sales=agent.sales,
                since=since,
                new=new,
                campaigns=agent.campaigns,
                user_groups=agent.user_groups,
            )
        )
    raised = tuple(a for a in alerts if a.new)
    return Ranking(tuple(alerts), raised, state)
