"""The who-to-coach ranking and its cool-down (coachd.alerts.rank): examples and properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from coachd.alerts.rank import AgentCalls, Criteria, rank, tally
from coachd.reports.compute import AgentCount, SaleRule

T0 = datetime(2026, 3, 16, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
CRITERIA = Criteria(min_calls=15, below_conversion=3.0, cooldown=2 * HOUR)


def agent(name: str, calls: int, sales: int) -> AgentCalls:
    return AgentCalls(name, calls, sales)


def test_below_threshold_with_enough_calls_are_ranked_lowest_conversion_first() -> None:
    agents = [
        agent("good", 40, 4),  # 10 %: fine
        agent("few", 10, 0),  # too few calls to judge
        agent("low", 40, 1),  # 2.5 %
        agent("zero", 20, 0),  # 0 %
        agent("edge", 100, 3),  # exactly 3 %: not below
        agent("zero-busy", 30, 0),  # 0 % on more calls: ahead of "zero"
    ]
    ranking = rank(agents, {}, T0, CRITERIA)
    assert [(a.rank, a.agent) for a in ranking.alerts] == [
        (1, "zero-busy"),
        (2, "zero"),
        (3, "low"),
    ]
    assert all(a.new and a.since == T0 for a in ranking.alerts)
    assert ranking.raised == ranking.alerts
    assert ranking.raised_at == {"zero-busy": T0, "zero": T0, "low": T0}


def test_min_calls_is_inclusive() -> None:
    ranking = rank([agent("a", 15, 0), agent("b", 14, 0)], {}, T0, CRITERIA)
    assert [a.agent for a in ranking.alerts] == ["a"]


def test_an_agent_alerted_within_the_cooldown_stays_listed_but_is_not_raised_again() -> None:
    first = rank([agent("a", 20, 0)], {}, T0, CRITERIA)
    later = T0 + HOUR
    second = rank([agent("a", 25, 0), agent("b", 30, 0)], first.raised_at, later, CRITERIA)
    assert [(a.agent, a.new, a.since) for a in second.alerts] == [
        ("b", True, later),
        ("a", False, T0),
    ]
    assert [a.agent for a in second.raised] == ["b"]
    assert second.raised_at == {"a": T0, "b": later}


def test_after_the_cooldown_the_agent_is_raised_again() -> None:
    state = {"a": T0}
    at_end = T0 + CRITERIA.cooldown
    ranking = rank([agent("a", 20, 0)], state, at_end, CRITERIA)
    assert [(a.agent, a.new, a.since) for a in ranking.raised] == [("a", True, at_end)]


def test_recovered_agents_leave_the_list_and_expired_state_is_dropped() -> None:
    state = {"gone": T0 - 3 * HOUR, "recovered": T0 - HOUR}
    ranking = rank([agent("recovered", 20, 5)], state, T0, CRITERIA)
    assert ranking.alerts == ()
    # "recovered" is still in its cool-down: dipping again within it raises nothing.
    assert ranking.raised_at == {"recovered": T0 - HOUR}


def test_zero_cooldown_raises_every_run() -> None:
    criteria = Criteria(15, 3.0, timedelta(0))
    first = rank([agent("a", 20, 0)], {}, T0, criteria)
    second = rank([agent("a", 20, 0)], first.raised_at, T0 + timedelta(seconds=1), criteria)
    assert [a.agent for a in second.raised] == ["a"]


def test_tally_counts_sales_by_the_rule_per_campaign() -> None:
    rule = SaleRule.of(["SALE"], [("OTHER", "XSALE")], source="vicidial_statuses")
    counts = [
        AgentCount("a", "B2B", "SALE", "AGENTS", 2),
        AgentCount("a", "B2B", "NI", "AGENTS", 10),
        AgentCount("a", "B2B", "XSALE", "AGENTS", 3),  # not a sale in B2B
        AgentCount("a", "OTHER", "xsale", "TEAM2", 1),  # a sale in OTHER (any case)
        AgentCount("b", "", "NI", None, 4),
    ]
    assert tally(counts, rule) == [
        AgentCalls("a", 16, 3, ("B2B", "OTHER"), ("AGENTS", "TEAM2")),
        AgentCalls("b", 4, 0, (), ()),
    ]


# --- properties ---------------------------------------------------------------------------

NAMES = [f"agent{i}" for i in range(12)]
agents_st = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=12).map(
    lambda rows: [AgentCalls(NAMES[i], c, min(s, c)) for i, (c, s) in enumerate(rows)]
)
criteria_st = st.builds(
    Criteria,
    st.integers(1, 30),
    st.floats(0.5, 100),
    st.integers(0, 10).map(lambda h: timedelta(hours=h)),
)
state_st = st.dictionaries(
    st.sampled_from(NAMES), st.integers(-12, 0).map(lambda h: T0 + timedelta(hours=h))
)


@given(agents_st, criteria_st, state_st)
def test_the_list_is_exactly_the_qualifying_agents_in_rank_order(
    agents: list[AgentCalls], criteria: Criteria, state: dict[str, datetime]
) -> None:
    ranking = rank(agents, state, T0, criteria)
    expected = {
        a.agent
        for a in agents
        if a.calls >= criteria.min_calls and a.sales / a.calls * 100 < criteria.below_conversion
    }
    assert {a.agent for a in ranking.alerts} == expected
    assert [a.rank for a in ranking.alerts] == list(range(1, len(expected) + 1))
    keys = [(a.conversion, -a.calls, a.agent) for a in ranking.alerts]
    assert keys == sorted(keys)


@given(agents_st, criteria_st, state_st)
def test_nobody_is_raised_twice_within_the_cooldown(
    agents: list[AgentCalls], criteria: Criteria, state: dict[str, datetime]
) -> None:
    ranking = rank(agents, state, T0, criteria)
    for alert in ranking.alerts:
        last = state.get(alert.agent)
        recent = last is not None and T0 - last < criteria.cooldown
        assert alert.new is not recent
        assert alert.since == (last if recent else T0)
        assert ranking.raised_at[alert.agent] == alert.since
    assert ranking.raised == tuple(a for a in ranking.alerts if a.new)
    # The state keeps only this run's raises and entries still inside their cool-down.
    assert all(t == T0 or T0 - t < criteria.cooldown for t in ranking.raised_at.values())
    # Running again at the same instant raises nobody (when there is a cool-down).
    again = rank(agents, ranking.raised_at, T0, criteria)
    if criteria.cooldown > timedelta(0):
        assert again.raised == ()
        assert [a.agent for a in again.alerts] == [a.agent for a in ranking.alerts]
