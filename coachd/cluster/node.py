"""This coachd as a node of a cluster: the hand-off of a supervisor's call to the
node where the agent's call is, and the other end of it.

On the supervisor's node (home): the usual authorizer checks the supervisor
(identity, level, the mode) with :class:`ClusterResolver`, which finds an
agent that is not on a call here in the directory and answers with a channel
marked :data:`REMOTE_PREFIX` + node. The engine then calls :meth:`ClusterNode.hand_off`:
a grant is signed for that node, put on the supervisor's channel
(``_COACHD_GRANT``, inherited by the trunk call; ``COACHD_TRUNK``, the Dial()
target) and the channel continues in the dialplan at
``coachd-cluster-out,handoff,1``, which dials the trunk with the grant in the
``X-Coachd-Grant`` header.

On the agent's node: the trunk's context sends the call to
``Stasis(<app>,cluster,<grant>)``; :meth:`ClusterNode.accept` verifies the
grant (signature, audience, expiry, replay) and the session runs with the
signed supervisor and modes, the agent's channel resolved here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Final

import structlog

from coachd.ari.client import AriClient
from coachd.ari.errors import AriError
from coachd.authorize import AgentResolver
from coachd.cluster.config import ClusterConfig
from coachd.cluster.directory import Directory, LocalDirectory, agents_on_calls
from coachd.cluster.forwarding import Forwarder, Handoffs
from coachd.cluster.signing import Grant, GrantRefused, Verifier, issue
from coachd.core import events as e
from coachd.core.modes import Mode
from coachd.mqtt.topics import Message

log = structlog.get_logger(__name__)

REMOTE_PREFIX: Final = "cluster:"
"""``agent_channel`` of an agent on another node: ``cluster:<node>``."""
HANDOFF_CONTEXT: Final = "coachd-cluster-out"
HANDOFF_EXTEN: Final = "handoff"
GRANT_VARIABLE: Final = "_COACHD_GRANT"
"""One leading underscore: inherited by the trunk call, where the header is added."""
TRUNK_VARIABLE: Final = "COACHD_TRUNK"
STASIS_ARG: Final = "cluster"
"""First Stasis() argument of a call handed over by another node."""
FAILED_ARG: Final = "cluster-failed"
"""First Stasis() argument of a hand-off whose trunk call failed (then the
session id and DIALSTATUS): the call is back on its home node."""
SESSION_VARIABLE: Final = "COACHD_SESSION"


class ClusterResolver:
    """Agents on calls here first; else where the directory says they are."""

    def __init__(self, local: AgentResolver, directory: Directory) -> None:
        self._local = local
        self._directory = directory

    async def resolve(self, agent: str) -> tuple[str, str] | None:
        found = await self._local.resolve(agent)
        if found is not None and found[1]:
            return found
        entry = self._directory.locate(agent)
        if entry is not None:
            return entry.node + ":" + entry.endpoint, REMOTE_PREFIX + entry.node
        return found


class ClusterNode:
    def __init__(
        self,
        config: ClusterConfig,
        *,
        instance: str,
        technologies: Iterable[str],
        supervisor_endpoints: Iterable[str],
        clock: Callable[[], float] | None = None,
    ) -> None:
        assert config.secret is not None
        self.config = config
        self.node = config.node_name(instance)
        self.secret = config.secret.encode()
        verifier = Verifier(self.node, self.secret, max_ttl=config.grant_ttl + 5.0)
        if clock is not None:
            verifier.clock = clock
        self.verifier = verifier
        self.directory = Directory(self.node, config.topic_prefix)
        self.local = LocalDirectory(self.node, config.topic_prefix)
        self._technologies = tuple(technologies)
        self._excluded = (*supervisor_endpoints, *config.trunk_endpoints)
        self.handoffs = Handoffs()
        """Sessions sent to other nodes: where requests for them go."""
        self.forwarder: Forwarder | None = None
        """Set by the cluster link (:mod:`coachd.cluster.link`)."""
        self.hosted: dict[str, Grant] = {}
        """Sessions handed over to this node and running: session id -> the verified
        grant (kept by the engine while the session runs)."""

    # --- the supervisor's node ------------------------------------------------

    @staticmethod
    def remote_node(agent_channel: str) -> str | None:
        return (
            agent_channel.removeprefix(REMOTE_PREFIX)
            if agent_channel.startswith(REMOTE_PREFIX)
            else None
        )

    def unavailable(self, node: str) -> str | None:
        """Why ``node`` cannot take a session (its Last Will, a clean stop), or None."""
        return self.directory.unavailable(node)

    def grant_for(
        self,
        *,
        node: str,
        session_id: str,
        supervisor: str,
        endpoint: str,
        agent: str,
        mode: Mode,
        modes: Iterable[Mode],
    ) -> tuple[Grant, str]:
        return issue(
            secret=self.secret,
            issuer=self.node,
            audience=node,
            supervisor=supervisor,
            endpoint=endpoint,
            agent=agent,
            mode=mode,
            modes=modes,
            session_id=session_id,
            ttl=self.config.grant_ttl,
        )

    async def hand_off(
        self, ari: AriClient, *, channel: str, node: str, grant: Grant, token: str
    ) -> None:
        """Send the supervisor's call to ``node`` with ``token`` (``grant`` signed, from
        :meth:`grant_for`). Raises AriError."""
        await ari.set_variable(channel, GRANT_VARIABLE, token)
        await ari.set_variable(channel, TRUNK_VARIABLE, self.config.trunk_for(node))
        await ari.set_variable(channel, SESSION_VARIABLE, grant.session_id)
        await ari.continue_in_dialplan(
            channel, context=HANDOFF_CONTEXT, extension=HANDOFF_EXTEN, priority=1
        )
        self.handoffs.add(grant.session_id, node, grant.agent)
        log.info(
            "session_handed_off",
            node=node,
            supervisor=grant.supervisor,
            modes=sorted(m.value for m in grant.modes),
            expires=grant.expires,
        )

    # --- the agent's node -------------------------------------------------------

    def accept(self, channel_endpoint: str, token: str) -> Grant | e.Refused:
        """The grant a handed-over call carries, or why it starts no session."""
        trunks = self.config.trunk_endpoints
        if trunks and channel_endpoint not in trunks:
            log.warning("cluster_grant_refused", reason="not_a_trunk", endpoint=channel_endpoint)
            return e.Refused("not_permitted", "a grant is only taken from a cluster trunk")
        try:
            grant = self.verifier.verify(token)
        except GrantRefused as exc:
            log.warning(
                "cluster_grant_refused",
                reason=exc.reason,
                detail=exc.detail,
                endpoint=channel_endpoint,
            )
            return e.Refused("not_permitted", "grant refused: " + exc.reason)
        log.info(
            "cluster_grant_accepted",
            issuer=grant.issuer,
            supervisor=grant.supervisor,
            agent=grant.agent,
            session_id=grant.session_id,
        )
        return grant

    @staticmethod
    async def authorize_grant(grant: Grant, resolver: AgentResolver) -> e.Authorized | e.Refused:
        """The permission was checked and signed at the supervisor's node; here only
        the agent's call is looked up (never handed on again)."""
        found = await resolver.resolve(grant.agent)
        if found is None:
            return e.Refused("unknown_agent", "no endpoint for agent")
        if not found[1]:
            return e.Refused("agent_not_on_call", "the agent has no call in progress")
        return e.Authorized(grant.supervisor, grant.modes, found[1])

    # --- the directory -------------------------------------------------------------

    def on_message(self, topic: str, payload: bytes, retained: bool) -> list[Message]:
        """A directory message from the broker; returns what to send (stale clears)."""
        if retained:
            stale = self.local.stale(topic, payload)
            if stale is not None:
                return [stale]
        if self.directory.apply(topic, payload):
            parsed = self.directory.topics.parse(topic)
            if parsed is not None:
                node, agent = parsed
                on_call = self.directory.entries.get((node, agent)) is not None
                log.debug("cluster_directory", node=node, agent=agent, on_call=on_call)
        return []

    async def publish_agents(self, ari: AriClient, send: Callable[[list[Message]], None]) -> None:
        """Keep this node's entries in step with the agents on calls here (a task)."""
        while True:
            try:
                channels = await ari.list_channels()
            except AriError as exc:
                log.debug("cluster_directory_unreadable", status=exc.status)
            else:
                on_calls = agents_on_calls(
                    ((ch.id, ch.name, ch.state) for ch in channels),
                    technologies=self._technologies,
                    exclude=self._excluded,
                    patterns=self.config.agent_endpoints,
                )
                messages = self.local.update(on_calls, datetime.now(UTC))
                if messages:
                    send(messages)
            await asyncio.sleep(self.config.directory_interval)
