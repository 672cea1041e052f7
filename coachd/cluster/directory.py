"""The cluster's agent directory: which agents are on calls on which node. Pure, no I/O.

Each node publishes, retained, one topic per agent with a call in progress on
its Asterisk, and clears it (empty retained payload) when the call ends::

    <cluster.topic_prefix>/<node>/agents/<agent>
    {"node": "pbx2", "agent": "1301", "endpoint": "PJSIP/1301",
     "on_call": true, "since": "2026-12-02T08:20:01.250Z"}

Every node subscribes to ``<cluster.topic_prefix>/+/agents/+`` and keeps
:class:`Directory`, the view of the others' agents, from those messages. Ids
in topic levels are escaped as in :func:`coachd.mqtt.topics.topic_level`.

Whether a node is there at all is its ``<cluster.topic_prefix>/<node>/available``
(``online``, ``stopped``, or ``offline``: the Last Will of its cluster
connection, sent by the broker when the node dies or its link breaks). The
entries of a node that is not ``online`` stay known, so that a session for one
of its agents is refused with that reason rather than sent to a dead node.

:class:`LocalDirectory` turns the set of agents on calls here (read from ARI
by the caller) into the messages that bring the broker up to date, and clears
entries of this node that a previous run left retained.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final
from urllib.parse import unquote

from coachd.mqtt.topics import CLEARED, Message, encode, rfc3339, topic_level

SUPERVISOR_PREFIXES: Final = ("coachd-", "coachdring-")
"""Channels coachd made: never an agent's call."""


@dataclass(frozen=True, slots=True)
class Entry:
    node: str
    agent: str
    endpoint: str
    since: str


@dataclass(frozen=True, slots=True)
class DirectoryTopics:
    prefix: str

    def entry(self, node: str, agent: str) -> str:
        return f"{self.prefix}/{topic_level(node)}/agents/{topic_level(agent)}"

    @property
    def filter(self) -> str:
        """Every node's agents."""
        return self.prefix + "/+/agents/+"

    def available(self, node: str) -> str:
        return f"{self.prefix}/{topic_level(node)}/available"

    @property
    def available_filter(self) -> str:
        return self.prefix + "/+/available"

    def node_of_available(self, topic: str) -> str | None:
        head = self.prefix + "/"
        if not topic.startswith(head) or not topic.endswith("/available"):
            return None
        node = topic[len(head) : -len("/available")]
        return unquote(node) if node and "/" not in node else None

    def parse(self, topic: str) -> tuple[str, str] | None:
        """``(node, agent)`` of an entry topic, else None."""
        head = self.prefix + "/"
        if not topic.startswith(head):
            return None
        parts = topic[len(head) :].split("/")
        if len(parts) != 3 or parts[1] != "agents" or not parts[0] or not parts[2]:
            return None
        return unquote(parts[0]), unquote(parts[2])


def endpoint_of_channel(name: str) -> str:
    """``PJSIP/1301-0000002a`` -> ``PJSIP/1301``."""
    head, sep, _ = name.rpartition("-")
    return head if sep else name


def agents_on_calls(
    channels: Iterable[tuple[str, str, str]],
    *,
    technologies: Iterable[str],
    exclude: Iterable[str] = (),
    patterns: Iterable[str] = (),
) -> dict[str, str]:
    """Agents with an answered call: ``agent -> endpoint``.

    ``channels`` are ``(id, name, state)``. Counted: Up channels of one of
    ``technologies``, not made by coachd, whose endpoint is not in ``exclude``
    (supervisors, trunks) and matches one of ``patterns`` (fnmatch; none: any).
    The agent is the endpoint's resource, as in ``*223<agent>``.
    """
    techs = tuple(technologies)
    excluded = set(exclude)
    wanted = tuple(patterns)
    found: dict[str, str] = {}
    for cid, name, state in channels:
        if state != "Up" or cid.startswith(SUPERVISOR_PREFIXES):
            continue
        endpoint = endpoint_of_channel(name)
        tech, sep, agent = endpoint.partition("/")
        if not sep or not agent or tech not in techs or endpoint in excluded:
            continue
        if wanted and not any(fnmatch.fnmatchcase(endpoint, p) for p in wanted):
            continue
        found.setdefault(agent, endpoint)
    return dict(sorted(found.items()))


def entry_payload(entry: Entry) -> bytes:
    return encode(
        {
            "node": entry.node,
            "agent": entry.agent,
            "endpoint": entry.endpoint,
            "on_call": True,
            "since": entry.since,
        }
    )


@dataclass
class LocalDirectory:
    """This node's entries, kept in step with the agents on calls here."""

    node: str
    prefix: str
    topics: DirectoryTopics = field(init=False)
    entries: dict[str, Entry] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.topics = DirectoryTopics(self.prefix)

    def update(self, on_calls: Mapping[str, str], now: datetime) -> list[Message]:
        """Messages for what changed since the last update (retained)."""
        messages: list[Message] = []
        for agent in sorted(set(self.entries) - set(on_calls)):
            del self.entries[agent]
            messages.append(Message(self.topics.entry(self.node, agent), CLEARED, retain=True))
        for agent, endpoint in sorted(on_calls.items()):
            known = self.entries.get(agent)
            if known is not None and known.endpoint == endpoint:
                continue
            entry = Entry(self.node, agent, endpoint, rfc3339(now.astimezone(UTC)))
            self.entries[agent] = entry
            messages.append(
                Message(self.topics.entry(self.node, agent), entry_payload(entry), retain=True)
            )
        return messages

    def snapshot(self) -> list[Message]:
        """Every live entry (sent again after a reconnect)."""
        return [
            Message(self.topics.entry(self.node, e.agent), entry_payload(e), retain=True)
            for e in self.entries.values()
        ]

    def stale(self, topic: str, payload: bytes) -> Message | None:
        """The message clearing ``topic`` when it is a retained entry of this node
        that is not live (left by an earlier run), else None."""
        parsed = self.topics.parse(topic)
        if parsed is None or parsed[0] != self.node or not payload:
            return None
        if parsed[1] in self.entries:
            return None
        return Message(topic, CLEARED, retain=True)


def parse_entry(node: str, agent: str, payload: bytes) -> Entry | None:
    """The entry a message states, None for a cleared or unusable one."""
    if not payload:
        return None
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("on_call") is not True:
        return None
    endpoint = data.get("endpoint")
    since = data.get("since")
    if data.get("node") != node or data.get("agent") != agent or not isinstance(endpoint, str):
        return None
    return Entry(node, agent, endpoint, since if isinstance(since, str) else "")


@dataclass
class Directory:
    """Where the other nodes' agents are on calls, from their retained entries."""

    node: str
    """This node: its own entries are not the directory's business."""
    prefix: str
    topics: DirectoryTopics = field(init=False)
    entries: dict[tuple[str, str], Entry] = field(init=False, default_factory=dict)
    nodes: dict[str, tuple[str, str]] = field(init=False, default_factory=dict)
    """node -> (its last ``available`` status, since when, RFC 3339)."""

    def __post_init__(self) -> None:
        self.topics = DirectoryTopics(self.prefix)

    def apply(self, topic: str, payload: bytes) -> bool:
        """Take in one message; True when it was a directory entry of another node."""
        parsed = self.topics.parse(topic)
        if parsed is None or parsed[0] == self.node:
            return False
        node, agent = parsed
        entry = parse_entry(node, agent, payload)
        if entry is None:
            self.entries.pop((node, agent), None)
        else:
            self.entries[(node, agent)] = entry
        return True

    def apply_available(self, node: str, payload: bytes, now: datetime) -> None:
        """Take in a node's ``available`` message (an empty one: forgotten)."""
        if node == self.node:
            return
        status = payload.decode("utf-8", "replace")[:32]
        if not status:
            self.nodes.pop(node, None)
            return
        previous = self.nodes.get(node)
        if previous is None or previous[0] != status:
            self.nodes[node] = (status, rfc3339(now.astimezone(UTC)))

    def unavailable(self, node: str) -> str | None:
        """Why ``node`` cannot take a session now; None when it is online."""
        status, since = self.nodes.get(node, ("unknown", ""))
        if status == "online":
            return None
        if status == "unknown":
            return "node " + node + " has not said it is online"
        return "node " + node + " is " + status + " since " + since

    def locate(self, agent: str) -> Entry | None:
        """The node where ``agent`` is on a call; None when none or ambiguous."""
        found = [e for (_, a), e in self.entries.items() if a == agent]
        return found[0] if len(found) == 1 else None
