"""The last alert list as ``GET /v1/alerts`` shows it to each token.

An admin token sees every alert. A supervisor's token sees the agents it may
coach: in VICIdial mode, those that a ``coachd_grants`` row of the supervisor
(with at least one mode) covers, by the user group and campaign of the
agent's calls in the window (any of them); without VICIdial mode,
supervisors have no groups and see every alert. ``rank`` stays the agent's
place in the whole list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from coachd.alerts.payload import AlertList, empty_payload
from coachd.alerts.rank import Alert
from coachd.vicidial.directory import Grant

GrantsOf = Callable[[str], Awaitable[Sequence[Grant]]]
"""A supervisor's ``coachd_grants`` rows (raises StoreError when unreadable)."""


def may_coach(grants: Sequence[Grant], alert: Alert) -> bool:
    """Whether some grant with a mode covers one of the agent's groups and campaigns."""
    groups: Sequence[str | None] = alert.user_groups or (None,)
    campaigns: Sequence[str | None] = alert.campaigns or (None,)
    return any(
        g.modes and g.covers(group, campaign)
        for g in grants
        for group in groups
        for campaign in campaigns
    )


class AlertBoard:
    def __init__(self, instance: str, grants: GrantsOf | None = None) -> None:
        self.instance = instance
        self.grants = grants
        self.latest: AlertList | None = None

    async def visible_to(self, role: str, user: str | None) -> dict[str, object]:
        """The payload for a token of ``role`` (``admin``/``supervisor``) and ``user``."""
        latest = self.latest
        if latest is None:
            return empty_payload(self.instance)
        if role == "admin" or self.grants is None:
            return latest.payload(self.instance)
        grants = await self.grants(user or "")
        shown = tuple(a for a in latest.ranking.alerts if may_coach(grants, a))
        return latest.payload(self.instance, shown)
