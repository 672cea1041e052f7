"""Carries out what sessions decide: ARI events in, ARI calls out.

Each session runs in its own task with an inbox, so a slow ARI call for one
session never delays another, and a session's commands run strictly in the
order the state machine returned them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import structlog

from coachd.ari.client import AriClient
from coachd.ari.errors import AriError, AriNotFound
from coachd.ari.translate import endpoint_of, translate
from coachd.authorize import AgentResolver, Authorizer
from coachd.cluster.node import FAILED_ARG, STASIS_ARG, ClusterNode
from coachd.cluster.signing import Grant
from coachd.core import commands as c
from coachd.core import events as e
from coachd.core.modes import Mode, parse_mode
from coachd.core.registry import PREFIX, Registry
from coachd.core.session import Session, State

log = structlog.get_logger(__name__)


RING_PREFIX = "coachdring-"
"""Calls coachd places to supervisors (not "coachd-": those are a session's own objects)."""
RING_CAUSES = {17: "busy", 18: "no_answer", 19: "no_answer", 21: "rejected"}


class EventSink(Protocol):
    async def publish(self, session: Session, event: c.Publish) -> None: ...


class LogSink:
    async def publish(self, session: Session, event: c.Publish) -> None:
        log.info("session_event", event_type=event.type, seq=event.seq, **event.data)


class FanOut:
    """Every event to every sink, in order."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks: list[EventSink] = list(sinks)

    def add(self, *sinks: EventSink) -> None:
        self.sinks.extend(sinks)

    async def publish(self, session: Session, event: c.Publish) -> None:
        for sink in self.sinks:
            await sink.publish(session, event)


class Engine:
    def __init__(
        self,
        *,
        ari: AriClient,
        app: str,
        registry: Registry,
        authorizer: Authorizer,
        sink: EventSink,
    ) -> None:
        self.ari = ari
        self.app = app
        self.registry = registry
        self.authorizer = authorizer
        self.sink = sink
        self._inboxes: dict[str, asyncio.Queue[e.SessionEvent]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self.accepting = True
        self._asterisk_boot = ""
        self.on_switch: Callable[[float], None] | None = None
        """Told how long each mode switch took, request to routing applied (metrics)."""
        self._ringing: dict[str, tuple[str, str, str, Mode]] = {}
        """Supervisor calls coachd placed: channel id -> (session id, endpoint, agent, mode)."""
        self.cluster: ClusterNode | None = None
        """Set when ``[cluster]`` is enabled (with :attr:`agents`, the local resolver)."""
        self.agents: AgentResolver | None = None

    # --- events from Asterisk ---------------------------------------------

    async def on_ari_event(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        channel = event.get("channel") or {}
        cid = str(channel.get("id", ""))
        new = cid and not cid.startswith(PREFIX) and self.registry.for_object(cid) is None
        if kind == "StasisStart" and new:
            await self._supervisor_arrived(channel, [str(a) for a in event.get("args", [])])
            return
        if kind == "ChannelDestroyed" and cid in self._ringing:
            await self._ringing_failed(cid, int(event.get("cause", 0) or 0))
            return
        routed = translate(event)
        if routed is None:
            return
        session = self.registry.for_object(routed.object_id)
        if session is None:
            if isinstance(routed.event, e.ChannelStarted) and routed.object_id.startswith(PREFIX):
                # A leftover of a session that no longer exists.
                with contextlib.suppress(AriError):
                    await self.ari.hangup(routed.object_id)
            return
        self.deliver(session, routed.event)

    def deliver(self, session: Session, event: e.SessionEvent) -> None:
        inbox = self._inboxes.get(session.id)
        if inbox is not None:
            inbox.put_nowait(event)

    async def _supervisor_arrived(self, channel: Mapping[str, Any], args: list[str]) -> None:
        cid = str(channel["id"])
        endpoint = endpoint_of(str(channel.get("name", "")))
        mode = parse_mode(args[0]) if args else None
        agent = args[1] if len(args) > 1 else ""
        # A call coachd placed (HTTP API) keeps the session id it was given.
        rung = self._ringing.pop(cid, None)
        sid = rung[0] if rung else ""
        grant: Grant | e.Refused | None = None
        answered = False
        if self.cluster is not None and args[:1] == [STASIS_ARG]:
            # Handed over by another node: only what its grant says counts.
            grant = self.cluster.accept(endpoint, args[1] if len(args) > 1 else "")
            if isinstance(grant, Grant):
                endpoint, agent, mode = grant.endpoint, grant.agent, grant.mode
                sid = "" if grant.session_id in self.registry.sessions else grant.session_id
            else:
                mode, agent = Mode.MONITOR, ""
        elif self.cluster is not None and args[:1] == [FAILED_ARG]:
            # A hand-off whose trunk call failed: the supervisor is back here.
            sid, status = [*args[1:3], "", ""][:2]
            handed = self.cluster.handoffs.pop(sid)
            node = handed.node if handed is not None else "the other node"
            grant = e.Refused("node_unreachable", "the trunk call to " + node + ": " + status)
            agent = handed.agent if handed is not None else ""
            mode, answered = Mode.MONITOR, True
            if handed is None or sid in self.registry.sessions:
                sid = ""
            log.warning("cluster_handoff_failed", node=node, dialstatus=status, session_id=sid)
        session = self.registry.open(
            channel=cid, endpoint=endpoint, agent=agent, mode=mode or Mode.MONITOR, session_id=sid
        )
        if isinstance(grant, Grant) and self.cluster is not None:
            self.cluster.hosted[session.id] = grant
        inbox: asyncio.Queue[e.SessionEvent] = asyncio.Queue()
        self._inboxes[session.id] = inbox
        first: list[c.Command] = session.start()
        if isinstance(grant, e.Refused) and self.accepting:
            first = [*([] if answered else [c.Answer(cid)]), *session.handle(grant)]
        elif mode is None or not agent or not self.accepting:
            reason = "bad_request" if self.accepting else "shutting_down"
            first = [c.Answer(cid), *session.handle(e.Refused(reason, "arguments: " + repr(args)))]
        task = asyncio.create_task(self._run(session, inbox, first), name="session-" + session.id)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- one session --------------------------------------------------------

    async def _run(
        self, session: Session, inbox: asyncio.Queue[e.SessionEvent], first: list[c.Command]
    ) -> None:
        structlog.contextvars.bind_contextvars(
            session_id=session.id, agent=session.agent, endpoint=session.endpoint
        )
        log.info("session_opened", requested_mode=session.requested_mode.value)
        try:
            finished = await self._execute(session, first)
            while not finished:
                event = await inbox.get()
                if isinstance(event, e.DtmfReceived):
                    log.debug("dtmf_received", digit=event.digit)
                    mode = session.mode_for_digit(event.digit)
                    if mode is not None and event.channel == session.supervisor_channel:
                        event = self.registry.mode_request(session, mode, "dtmf")
                before, started = session.mode, time.monotonic()
                finished = await self._execute(session, session.handle(event))
                switched = isinstance(event, e.ModeRequested) and session.mode != before
                if switched and self.on_switch is not None:
                    self.on_switch(time.monotonic() - started)
        finally:
            for key in [k for k in self._timers if k[0] == session.id]:
                self._timers.pop(key).cancel()
            self._inboxes.pop(session.id, None)
            if self.cluster is not None:
                self.cluster.hosted.pop(session.id, None)
            self.registry.close(session)
            log.info("session_closed", reason=session.end_reason)

    async def _execute(self, session: Session, commands: list[c.Command]) -> bool:
        """Run a batch in order, feeding results back. True once the session finished.

        A best-effort command that fails is reported after the batch; any other
        failure stops the batch and is reported with what was dropped.
        """
        batches = deque([commands])
        while batches:
            queue = deque(batches.popleft())
            reports: list[e.SessionEvent] = []
            while queue:
                cmd = queue.popleft()
                if isinstance(cmd, c.Finished):
                    return True
                if isinstance(cmd, (c.Mute, c.Unmute)) and queue and type(queue[0]) is type(cmd):
                    failed = await self._toggle_together(session, cmd, queue)
                    if failed is not None:
                        reports.append(failed)
                        break
                    continue
                try:
                    follow_up = await self._do(session, cmd)
                except AriError as exc:
                    log.warning(
                        "ari_command_failed",
                        command=type(cmd).__name__,
                        status=exc.status,
                        message=exc.message,
                    )
                    if c.is_best_effort(cmd):
                        reports.append(e.CommandFailed(cmd, exc.status, exc.message))
                        continue
                    reports.append(
                        e.CommandFailed(cmd, exc.status, exc.message, dropped=tuple(queue))
                    )
                    break
                if follow_up is not None:
                    queue.extend(session.handle(follow_up))
            for report in reports:
                batches.append(session.handle(report))
        return False

    async def _toggle_together(
        self, session: Session, first: c.Mute | c.Unmute, queue: deque[c.Command]
    ) -> e.CommandFailed | None:
        """A run of mutes (or of unmutes) at once: they are independent, and the run
        ends before anything of the other kind, so closing still precedes opening.
        A failure drops what follows the run, and the run's other failures."""
        group: list[c.Command] = [first]
        while queue and type(queue[0]) is type(first):
            group.append(queue.popleft())
        results = await asyncio.gather(
            *(self._do(session, cmd) for cmd in group), return_exceptions=True
        )
        failures = []
        for cmd, result in zip(group, results, strict=True):
            if isinstance(result, AriError):
                log.warning(
                    "ari_command_failed",
                    command=type(cmd).__name__,
                    status=result.status,
                    message=result.message,
                )
                failures.append((cmd, result))
            elif isinstance(result, BaseException):
                raise result
        if not failures:
            return None
        (cmd, exc), *others = failures
        dropped = tuple(other for other, _ in others) + tuple(queue)
        queue.clear()
        return e.CommandFailed(cmd, exc.status, exc.message, dropped=dropped)

    async def _do(self, session: Session, cmd: c.Command) -> e.SessionEvent | None:
        ari = self.ari
        match cmd:
            case c.Answer(channel):
                await ari.answer(channel)
            case c.Authorize(endpoint, agent, mode):
                result = await self._authorize(session, endpoint, agent, mode)
                if isinstance(result, e.HandedOff):
                    return result
                if isinstance(result, e.Authorized) and mode in result.modes:
                    session.agent_channel = result.agent_channel
                    check = self.registry.mode_request(session, mode, "dial")
                    if check.blocked_by is not None:
                        return e.Refused("another_supervisor_talking", check.blocked_by)
                if isinstance(result, e.Authorized):
                    structlog.contextvars.bind_contextvars(supervisor=result.supervisor)
                return result
            case c.CreateBridge(bridge):
                await ari.create_bridge(bridge, name=bridge)
            case c.CreateSnoop(snoop, target, spy, whisper):
                await ari.snoop(target, app=self.app, snoop_id=snoop, spy=spy, whisper=whisper)
            case c.Mute(channel, direction):
                await ari.mute(channel, direction)
            case c.Unmute(channel, direction):
                await ari.unmute(channel, direction)
            case c.AddToBridge(bridge, channels):
                await ari.add_channels(bridge, list(channels))
            case c.Play(channel, media, playback):
                await ari.play_on_channel(channel, media, playback)
            case c.PlayOnBridge(bridge, media, playback):
                await ari.play_on_bridge(bridge, media, playback)
            case c.StopPlayback(playback):
                with contextlib.suppress(AriNotFound):
                    await ari.stop_playback(playback)
            case c.SetVolume(channel, level):
                await ari.set_variable(channel, "VOLUME(TX)", str(level))
            case c.Hangup(channel):
                # Gone is what we wanted.
                with contextlib.suppress(AriNotFound):
                    await ari.hangup(channel)
            case c.DestroyBridge(bridge):
                with contextlib.suppress(AriNotFound):
                    await ari.destroy_bridge(bridge)
            case c.StartTimer(name, seconds):
                loop = asyncio.get_running_loop()
                previous = self._timers.pop((session.id, name), None)
                if previous is not None:  # a timer restarted under the same name
                    previous.cancel()
                self._timers[(session.id, name)] = loop.call_later(
                    seconds, self.deliver, session, e.TimerFired(name)
                )
            case c.CancelTimer(name):
                handle = self._timers.pop((session.id, name), None)
                if handle is not None:
                    handle.cancel()
            case c.Publish():
                await self.sink.publish(session, cmd)
            case _:
                raise AssertionError(f"unknown command {cmd!r}")
        return None

    async def _authorize(
        self, session: Session, endpoint: str, agent: str, mode: Mode
    ) -> e.Authorized | e.Refused | e.HandedOff:
        cluster = self.cluster
        grant = cluster.hosted.get(session.id) if cluster is not None else None
        if cluster is not None and grant is not None and self.agents is not None:
            return await cluster.authorize_grant(grant, self.agents)
        result = await self.authorizer.authorize(endpoint, agent, mode)
        node = None
        if cluster is not None and isinstance(result, e.Authorized):
            node = cluster.remote_node(result.agent_channel)
        if cluster is None or node is None or not isinstance(result, e.Authorized):
            return result
        refusal = self.node_refusal(result)
        if refusal is not None:
            return refusal
        # The agent's call is on another node: permissions were checked here.
        grant, token = cluster.grant_for(
            node=node,
            session_id=session.id,
            supervisor=result.supervisor,
            endpoint=endpoint,
            agent=agent,
            mode=mode,
            modes=result.modes,
        )
        await cluster.hand_off(
            self.ari, channel=session.supervisor_channel, node=node, grant=grant, token=token
        )
        return e.HandedOff(node)

    def node_refusal(self, verdict: e.Authorized) -> e.Refused | None:
        """For an agent on another node that cannot take the session now (its Last
        Will said it is gone, or it stopped): why; else None."""
        cluster = self.cluster
        node = cluster.remote_node(verdict.agent_channel) if cluster is not None else None
        if cluster is None or node is None:
            return None
        why = cluster.unavailable(node)
        if why is None:
            return None
        log.warning("cluster_node_unavailable", node=node, detail=why)
        return e.Refused("node_unavailable", why)

    # --- requests from outside (MQTT control, later the HTTP API) ---------------

    def request_mode(
        self, session_id: str, supervisor: str, mode_name: str, source: str
    ) -> str | None:
        """Ask a session to switch mode on behalf of ``supervisor``.

        Returns None when the request was passed to the session (its outcome is
        the mode_changed or mode_refused event), else why it was refused.
        """
        mode = parse_mode(mode_name)
        if mode is None and session_id in self.registry.sessions:
            return "invalid_mode"
        session = self._live_session(session_id, supervisor)
        if isinstance(session, str):
            return session
        assert mode is not None  # a known session: checked above
        if mode not in session.granted:
            return "not_permitted"
        self.deliver(session, self.registry.mode_request(session, mode, source))
        return None

    def _live_session(self, session_id: str, supervisor: str) -> Session | str:
        """``supervisor``'s active session ``session_id``, or why a request to it is refused."""
        session = self.registry.sessions.get(session_id)
        if session is None:
            return "unknown_session"
        if not session.supervisor or supervisor != session.supervisor:
            return "not_your_session"
        if session.state is not State.ACTIVE:
            return "session_not_active"
        return session

    async def ring_supervisor(
        self, *, session_id: str, endpoint: str, agent: str, mode: Mode, timeout: int = 30
    ) -> None:
        """Call the supervisor's phone; answered, it enters the usual feature-code flow.

        Raises AriError when Asterisk refuses to place the call.
        """
        channel_id = RING_PREFIX + session_id
        self._ringing[channel_id] = (session_id, endpoint, agent, mode)
        try:
            await self.ari.originate(
                endpoint=endpoint,
                app=self.app,
                app_args=mode.value + "," + agent,
                channel_id=channel_id,
                caller_id='"coachd" <coachd>',
                timeout=timeout,
            )
        except AriError:
            self._ringing.pop(channel_id, None)
            raise

    async def _ringing_failed(self, channel_id: str, cause: int) -> None:
        session_id, endpoint, agent, mode = self._ringing.pop(channel_id)
        reason = RING_CAUSES.get(cause, "call_failed")
        session = Session(
            id=session_id,
            supervisor_channel=channel_id,
            endpoint=endpoint,
            agent=agent,
            requested_mode=mode,
        )
        log.info("supervisor_not_reached", session_id=session_id, cause=cause, reason=reason)
        for cmd in session.ringing_failed(reason):
            if isinstance(cmd, c.Publish):
                await self.sink.publish(session, cmd)

    def request_cue(self, session_id: str, supervisor: str, name: str, source: str) -> str | None:
        """Ask a session to play a whisper cue; None when passed on (its outcome is
        the cue_played or cue_refused event), else why not."""
        session = self._live_session(session_id, supervisor)
        if isinstance(session, str):
            return session
        self.deliver(session, e.CueRequested(name, source))
        return None

    def end_session(self, session_id: str, reason: str) -> bool:
        """End a live session (the supervisor is hung up); False if there is none."""
        session = self.registry.sessions.get(session_id)
        if session is None:
            return False
        self.deliver(session, e.EndRequested(reason))
        return True

    # --- whole-engine operations --------------------------------------------

    async def reconcile(self) -> None:
        """Make coachd's view and Asterisk's agree; runs on every (re)connect.

        - A live session whose channels went away while the event stream was
          down hears of it now (events of a lost connection never arrive).
        - Anything coachd made (``coachd-*`` channels and bridges) that no live
          session owns is removed, and so is a supervisor's call sent to this
          Stasis application by a previous run: after a crash or restart nothing
          may keep whispering into an agent's ear, and nobody sits in silence.
        """
        started = time.monotonic()
        info = await self.ari.info()
        boot = str((info.get("status") or {}).get("startup_time", ""))
        if self._asterisk_boot and boot != self._asterisk_boot:
            # Asterisk restarted while we were away: every channel of every
            # session is gone with it.
            log.warning("asterisk_restarted", sessions=len(self.registry.sessions))
            for session in list(self.registry.sessions.values()):
                self.deliver(session, e.EndRequested("asterisk_restart"))
        self._asterisk_boot = boot
        channels = await self.ari.list_channels()
        present = {ch.id for ch in channels}
        for session in list(self.registry.sessions.values()):
            for channel_id in [session.supervisor_channel, *sorted(session.snoops)]:
                if channel_id not in present and channel_id not in session.pending:
                    self.deliver(session, e.ChannelGone(channel_id))
        removed = 0
        for channel in channels:
            owned = self.registry.for_object(channel.id) is not None
            # A supervisor's call not answered yet may be one whose StasisStart is
            # still on its way to us: only answered calls are a previous run's.
            leftover = channel.id.startswith(PREFIX) or (
                channel.in_stasis_app(self.app) and channel.state == "Up"
            )
            if leftover and not owned:
                with contextlib.suppress(AriNotFound):
                    await self.ari.hangup(channel.id)
                removed += 1
        for bridge in await self.ari.list_bridges():
            if bridge.id.startswith(PREFIX) and self.registry.for_object(bridge.id) is None:
                with contextlib.suppress(AriNotFound):
                    await self.ari.destroy_bridge(bridge.id)
                removed += 1
        log.info(
            "reconciled",
            removed=removed,
            sessions=len(self.registry.sessions),
            elapsed_ms=round((time.monotonic() - started) * 1000, 1),
        )

    async def shutdown(self, timeout: float) -> None:
        """Stop taking sessions, end the running ones, wait for them (bounded)."""
        self.accepting = False
        for session in list(self.registry.sessions.values()):
            self.deliver(session, e.EndRequested("shutdown", tone=True))
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
