"""Call scripts for the session state machine, and a model of Asterisk to run them against.

Both runners below carry out commands the way ``coachd.engine.Engine._execute``
does (the batch contract):

- the commands a session returns for one event form a batch, run in order;
- a best-effort command (``commands.BEST_EFFORT``: Hangup, DestroyBridge, Play,
  StopPlayback, SetVolume, StartTimer, CancelTimer, Publish) that fails does not
  stop the batch; its ``CommandFailed(cmd, status, message)`` (``dropped=()``)
  reaches the session after the batch;
- any other command that fails stops the batch; its ``CommandFailed`` carries
  ``dropped``, the commands of the batch not carried out, and reaches the
  session after the batch (after the best-effort failures before it);
- the failures of a batch are all handed to the session before any of the
  batches they lead to runs; those batches run in turn, each with its own
  failures reported after it;
- 404 on Hangup, DestroyBridge or StopPlayback is not a failure at all: gone is
  done, nothing is reported;
- ``Finished`` stops everything: nothing after it runs, nothing is reported;
- ``Authorize`` is answered at once and what the session returns for the
  answer joins the running batch.

Three tools, from the most readable to the most mechanical:

``Playbook``
    mitmproxy-style scripts: ``>>`` feeds an event, ``<<`` expects the next
    command the session returned (exact equality, a command type, or a
    predicate such as :class:`Pub`)::

        pb = Playbook(session)
        pb << Answer("sup") << Authorize(...) >> Authorized(...) << CreateBridge(...)
        assert pb  # every command the session returned was expected

    Feeding ``CommandFailed(cmd, ...)`` right after ``<< cmd`` makes ``cmd`` fail
    the way the engine sees it: the script goes on with the rest of the batch
    for a best-effort ``cmd``; otherwise the rest of the batch is dropped and
    ``dropped`` is filled in (a script that spells ``dropped`` out must spell
    what the engine would drop). Either way the session hears of the failure
    once the batch is over (``pb.failures`` lists what it heard), and the
    script then expects what it answered. Feeding ``Authorized`` or
    ``Refused`` right after ``<< Authorize`` is the authorizer's answer.
    Every expected command is carried out on a strict :class:`FakeAsterisk`,
    so a script also fails when Asterisk would refuse a command (muting a
    snoop not in Stasis yet, bridging a channel that is gone...).

``FakeAsterisk``
    What Asterisk does with the commands: channels (snoops with their
    spy/whisper directions, in Stasis or not, alive or gone), bridges,
    mutes, playbacks, timers, publishes. :meth:`FakeAsterisk.routing` computes
    the *effective* audio routing from that state alone, independently of
    the session's own bookkeeping ("one ear, two mouths": the supervisor hears
    through a spying snoop on the agent bridged with it; its voice goes out
    only through a mic snoop on its channel bridged with a whispering snoop on
    the agent, both ends unmuted).

``Harness``
    Runs a session against a FakeAsterisk exactly like the engine (above;
    test_session_properties.py checks it against ``Engine._execute`` itself).
    Hooks let a test make commands fail, kill channels between commands, and
    check invariants after every command, carried out or failed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from coachd.core import commands as c
from coachd.core import events as e
from coachd.core.modes import ROUTING, Mode, Routing
from coachd.core.session import Session, State

NO_ROUTING = Routing(ear=False, agent=False, caller=False)


# --- matching ----------------------------------------------------------------


class Pub:
    """Matches a ``Publish`` by type, and by ``seq`` and data items when given."""

    def __init__(self, type_: str, *, seq: int | None = None, **data: object) -> None:
        self.type = type_
        self.seq = seq
        self.data = data

    def __call__(self, cmd: object) -> bool:
        return (
            isinstance(cmd, c.Publish)
            and cmd.type == self.type
            and (self.seq is None or cmd.seq == self.seq)
            and all(k in cmd.data and cmd.data[k] == v for k, v in self.data.items())
        )

    def __repr__(self) -> str:
        parts = [repr(self.type)]
        if self.seq is not None:
            parts.append(f"seq={self.seq}")
        parts += [f"{k}={v!r}" for k, v in self.data.items()]
        return "Pub(" + ", ".join(parts) + ")"


Expectation = object
"""A command (compared with ==), a command type, or a predicate on a command."""


def matches(expected: Expectation, actual: c.Command) -> bool:
    if isinstance(expected, type):
        return isinstance(actual, expected)
    if callable(expected):
        return bool(expected(actual))
    return expected == actual


def describe(expected: Expectation) -> str:
    if isinstance(expected, type):
        return "any " + expected.__name__
    return repr(expected)


def listing(commands: Iterable[object], mark: int | None = None) -> str:
    lines = []
    for i, cmd in enumerate(commands):
        arrow = "->" if i == mark else "  "
        lines.append(f"  {arrow} {i + 1:2}. {cmd!r}")
    return "\n".join(lines) or "  (no commands)"


# --- Asterisk -------------------------------------------------------------------


class AriFailure(Exception):
    """What an ARI call would answer instead of 2xx."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message


@dataclass
class Channel:
    id: str
    target: str | None = None
    """For a snoop: the channel it snoops on."""
    spy: c.Direction = "none"
    whisper: c.Direction = "none"
    in_stasis: bool = False
    alive: bool = True


@dataclass
class FakeAsterisk:
    """Asterisk as far as a session can see it, plus the effective audio routing."""

    supervisor: str
    agent: str = "agent-1"
    channels: dict[str, Channel] = field(default_factory=dict)
    bridges: dict[str, list[str]] = field(default_factory=dict)
    """Bridges that exist now, with their members in joining order."""
    created_bridges: list[str] = field(default_factory=list)
    destroyed_bridges: list[str] = field(default_factory=list)
    created_snoops: list[str] = field(default_factory=list)
    unstarted: list[str] = field(default_factory=list)
    """Snoops that exist but have not entered Stasis yet."""
    muted: set[tuple[str, str]] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)
    playbacks: list[c.Play | c.PlayOnBridge] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    """Playbacks stopped by a command."""
    volumes: dict[str, int] = field(default_factory=dict)
    hung_up: list[str] = field(default_factory=list)
    """Channels hung up by a command (not those that went away by themselves)."""
    killed: list[str] = field(default_factory=list)
    """Channels that went away by themselves (a hang-up, a cascade)."""
    timers: dict[str, float] = field(default_factory=dict)
    published: list[c.Publish] = field(default_factory=list)
    finished: c.Finished | None = None
    applied: list[c.Command] = field(default_factory=list)
    trace: list[tuple[c.Command, Routing]] = field(default_factory=list)
    """Every command carried out, with the routing right after it."""
    outbox: list[e.SessionEvent] = field(default_factory=list)
    """Events Asterisk sent (StasisStart, StasisEnd) not delivered yet."""

    def __post_init__(self) -> None:
        self.channels.setdefault(self.supervisor, Channel(self.supervisor, in_stasis=True))
        self.channels.setdefault(self.agent, Channel(self.agent))

    # --- queries -------------------------------------------------------------

    def alive(self, channel: str) -> bool:
        ch = self.channels.get(channel)
        return ch is not None and ch.alive

    def is_muted(self, channel: str, direction: str) -> bool:
        return (channel, direction) in self.muted

    def bridge_of(self, channel: str) -> str | None:
        for bridge, members in self.bridges.items():
            if channel in members:
                return bridge
        return None

    def bridged_together(self, *channels: str) -> bool:
        """Whether these channels are all alive and in one bridge."""
        bridge = self.bridge_of(channels[0])
        return (
            bridge is not None
            and all(self.alive(ch) for ch in channels)
            and all(ch in self.bridges[bridge] for ch in channels)
        )

    def live_snoops(self) -> list[str]:
        return [s for s in self.created_snoops if self.alive(s)]

    def routing(self) -> Routing:
        """Where audio flows, from the state of channels, bridges and mutes alone.

        Independent of the session's bookkeeping and of its names: any bridge,
        any snoop counts, so a path the session did not mean to open counts too.

        - ``ear``: the supervisor hears the call when a bridge holds the
          supervisor's channel and a snoop on the agent that spies, that
          snoop's ``in`` (what it reads from the agent's call) unmuted. In
          coachd's design: the ear snoop, bridged with the supervisor, (ear,
          "in") unmuted.
        - ``agent`` / ``caller``: the supervisor's voice enters a bridge through
          a mic snoop (a snoop on the supervisor's channel spying ``in``), its
          ``in`` unmuted, and reaches the agent through a snoop on the agent
          whispering ``out``, or the caller through one whispering ``in``, that
          snoop's ``out`` (what the bridge writes to it) unmuted. In coachd's
          design: a mouth is open only when its bridge holds both its snoops
          and both ends, (mic, "in") and (mouth, "out"), are unmuted.
        - The supervisor's own channel in a bridge with a whispering snoop
          carries the voice whatever its mutes: its RTP stream restarts (new
          SSRC, e.g. right after a DTMF digit) and a frame slips past a mute
          (session.py's module docstring), so a mute on it is no barrier here.
        """
        sup = self.supervisor
        hears = to_agent = to_caller = False
        for members in self.bridges.values():
            live = [m for m in members if self.alive(m)]
            for m in live:
                ch = self.channels[m]
                if ch.target != self.agent:
                    continue
                if (
                    sup in live
                    and ch.spy != "none"
                    and not self.is_muted(m, "in")
                    and not self.is_muted(sup, "out")
                ):
                    hears = True
                if self.is_muted(m, "out") or not self._voice_in(live, besides=m):
                    continue
                if ch.whisper in ("out", "both"):
                    to_agent = True
                if ch.whisper in ("in", "both"):
                    to_caller = True
        return Routing(ear=hears, agent=to_agent, caller=to_caller)

    def _voice_in(self, members: list[str], besides: str) -> bool:
        """Whether the supervisor's voice enters a bridge with these members."""
        for m in members:
            if m == besides:
                continue
            if m == self.supervisor:
                return True  # a mute on it is no barrier (see routing)
            ch = self.channels[m]
            if (
                ch.target == self.supervisor
                and ch.spy in ("in", "both")
                and not self.is_muted(m, "in")
            ):
                return True
        return False

    # --- what happens without the session asking ---------------------------

    def add_channel(self, channel: str) -> None:
        self.channels.setdefault(channel, Channel(channel))

    def start(self, snoop: str) -> None:
        """A snoop enters Stasis: StasisStart is on its way."""
        ch = self.channels.get(snoop)
        if ch is None or not ch.alive or ch.in_stasis:
            return
        ch.in_stasis = True
        if snoop in self.unstarted:
            self.unstarted.remove(snoop)
        self.outbox.append(e.ChannelStarted(snoop))

    def kill(self, channel: str) -> None:
        """A channel goes away, and the snoops on it with it (StasisEnd on its way)."""
        if self._gone(channel):
            self.killed.append(channel)

    def _gone(self, channel: str) -> bool:
        ch = self.channels.get(channel)
        if ch is None or not ch.alive:
            return False
        ch.alive = False
        for members in self.bridges.values():
            if channel in members:
                members.remove(channel)
        if channel in self.unstarted:
            self.unstarted.remove(channel)
        if ch.in_stasis:
            self.outbox.append(e.ChannelGone(channel))
        for other in list(self.channels.values()):
            if other.target == channel and other.alive:
                self.kill(other.id)
        return True

    def observe(self, event: e.SessionEvent) -> None:
        """Keep the model in line with an event a script feeds by hand."""
        match event:
            case e.Authorized(agent_channel=agent):
                self.add_channel(agent)
            case e.ChannelStarted(channel):
                self.start(channel)
            case e.ChannelGone(channel):
                if self._gone(channel):
                    self.killed.append(channel)
            case _:
                pass

    # --- commands ---------------------------------------------------------------

    def _channel(self, channel: str, *, stasis: int | None = None) -> Channel:
        ch = self.channels.get(channel)
        if ch is None or not ch.alive:
            raise AriFailure(404, "Channel not found")
        if stasis is not None and not ch.in_stasis:
            raise AriFailure(stasis, "Channel not in Stasis application")
        return ch

    def apply(self, cmd: c.Command) -> None:
        """Carry out one command, or raise AriFailure as ARI would."""
        match cmd:
            case c.Answer(channel):
                self._channel(channel, stasis=409)
                self.answered.add(channel)
            case c.Authorize():
                pass
            case c.CreateBridge(bridge):
                if bridge in self.bridges:
                    raise AriFailure(409, "Bridge with this id already exists")
                self.bridges[bridge] = []
                self.created_bridges.append(bridge)
            case c.CreateSnoop(snoop, target, spy, whisper):
                self._channel(target)
                if snoop in self.channels:
                    raise AriFailure(409, "Channel with this id already exists")
                self.channels[snoop] = Channel(snoop, target=target, spy=spy, whisper=whisper)
                self.created_snoops.append(snoop)
                self.unstarted.append(snoop)
            case c.Mute(channel, direction):
                self._channel(channel, stasis=409)
                self.muted.add((channel, direction))
            case c.Unmute(channel, direction):
                self._channel(channel, stasis=409)
                self.muted.discard((channel, direction))
            case c.AddToBridge(bridge, channels):
                if bridge not in self.bridges:
                    raise AriFailure(404, "Bridge not found")
                for channel in channels:
                    # Asterisk's addChannel: 400 when a channel does not exist,
                    # 422 when it is not in Stasis.
                    ch = self.channels.get(channel)
                    if ch is None or not ch.alive:
                        raise AriFailure(400, "Channel not found")
                    if not ch.in_stasis:
                        raise AriFailure(422, "Channel not in Stasis application")
                for channel in channels:
                    for members in self.bridges.values():
                        if channel in members:
                            members.remove(channel)
                    self.bridges[bridge].append(channel)
            case c.Play(channel):
                self._channel(channel, stasis=409)
                self.playbacks.append(cmd)
            case c.PlayOnBridge(bridge):
                if bridge not in self.bridges:
                    raise AriFailure(404, "Bridge not found")
                self.playbacks.append(cmd)
            case c.StopPlayback(playback):
                playing = [p.playback for p in self.playbacks if p.playback not in self.stopped]
                if playback not in playing:
                    raise AriFailure(404, "Playback not found")
                self.stopped.append(playback)
            case c.SetVolume(channel, level):
                self._channel(channel, stasis=409)
                self.volumes[channel] = level
            case c.Hangup(channel):
                self._channel(channel)
                self.hung_up.append(channel)
                self._gone(channel)
            case c.DestroyBridge(bridge):
                if bridge not in self.bridges:
                    raise AriFailure(404, "Bridge not found")
                del self.bridges[bridge]
                self.destroyed_bridges.append(bridge)
            case c.StartTimer(name, seconds):
                self.timers[name] = seconds
            case c.CancelTimer(name):
                self.timers.pop(name, None)
            case c.Publish():
                self.published.append(cmd)
            case c.Finished():
                self.finished = cmd
            case _:
                raise AssertionError(f"unknown command {cmd!r}")
        self.applied.append(cmd)
        self.trace.append((cmd, self.routing()))


def engine_ignores(cmd: c.Command, failure: AriFailure) -> bool:
    """The engine suppresses 404 on Hangup, DestroyBridge, StopPlayback: gone is done."""
    return failure.status == 404 and isinstance(cmd, (c.Hangup, c.DestroyBridge, c.StopPlayback))


def report(cmd: c.Command, failure: AriFailure, rest: Iterable[c.Command]) -> e.CommandFailed:
    """What the engine tells the session when ``cmd`` fails with ``rest`` still to run."""
    if c.is_best_effort(cmd):
        return e.CommandFailed(cmd, failure.status, failure.message)
    return e.CommandFailed(cmd, failure.status, failure.message, dropped=tuple(rest))


# --- playbook -----------------------------------------------------------------------


class Playbook:
    """A call script: ``>>`` feeds an event, ``<<`` expects the next command."""

    def __init__(self, session: Session, asterisk: FakeAsterisk | None = None) -> None:
        self.session = session
        self._asterisk = asterisk or FakeAsterisk(supervisor=session.supervisor_channel)
        self._started = False
        self.batch: list[c.Command] = []
        """The batch being expected now."""
        self.trigger = ""
        """What the batch being expected now was returned for."""
        self.pending: deque[c.Command] = deque()
        self.consumed: list[c.Command] = []
        """Every command expected so far, in order (carried out or failed)."""
        self.failures: list[e.CommandFailed] = []
        """Every failure handed to the session, as the engine hands it (``dropped`` filled in)."""
        self._unapplied: c.Command | None = None
        self._reports: list[e.CommandFailed] = []
        """Failures of the running batch: the session hears of them once it is over."""
        self._later: deque[tuple[str, list[c.Command]]] = deque()
        """Batches the failures of an earlier batch led to, waiting their turn."""

    @property
    def asterisk(self) -> FakeAsterisk:
        self._flush()
        return self._asterisk

    @property
    def routing(self) -> Routing:
        return self.asterisk.routing()

    @property
    def published(self) -> list[c.Publish]:
        """The Publish commands carried out."""
        return list(self.asterisk.published)

    def __rshift__(self, event: e.SessionEvent) -> Playbook:
        self._ensure_started()
        if isinstance(event, e.CommandFailed):
            self._fail(event)
            return self
        self._flush()
        if self.pending:
            raise AssertionError(
                f"{event!r} fed while commands returned for {self.trigger} were not "
                f"expected yet:\n{listing(self.batch, len(self.batch) - len(self.pending))}"
            )
        self._asterisk.observe(event)
        self._receive(">> " + repr(event), self.session.handle(event))
        self._settle()
        return self

    def __lshift__(self, expected: Expectation) -> Playbook:
        self._ensure_started()
        self._flush()
        index = len(self.batch) - len(self.pending)
        if not self.pending:
            raise AssertionError(
                f"expected {describe(expected)} after {self.trigger}, but there is no "
                f"command left; the session returned:\n{listing(self.batch)}"
            )
        actual = self.pending[0]
        if not matches(expected, actual):
            raise AssertionError(
                f"after {self.trigger}, command {index + 1}:\n"
                f"  expected {describe(expected)}\n"
                f"  actual   {actual!r}\n"
                f"the session returned:\n{listing(self.batch, index)}"
            )
        self.pending.popleft()
        self.consumed.append(actual)
        self._unapplied = actual
        return self

    def take(self, *types: type) -> list[c.Command]:
        """Expect the commands of these types that come next, however many, and return them."""
        self._ensure_started()
        out: list[c.Command] = []
        while True:
            self._flush()
            if not self.pending or not isinstance(self.pending[0], types):
                return out
            cmd = self.pending[0]
            self << cmd
            out.append(cmd)

    def rest(self) -> list[c.Command]:
        """Expect whatever is left to run (the failures reported meanwhile included)."""
        self._ensure_started()
        out: list[c.Command] = []
        while True:
            self._flush()
            if not self.pending:
                return out
            cmd = self.pending[0]
            self << cmd
            out.append(cmd)

    def feed(self, event: e.SessionEvent) -> list[c.Command]:
        """Feed an event and expect everything the engine would run for it; returns that."""
        self >> event
        return self.rest()

    def __bool__(self) -> bool:
        self._ensure_started()
        self._flush()
        if self.pending:
            raise AssertionError(
                f"commands returned for {self.trigger} were never expected:\n"
                f"{listing(self.batch, len(self.batch) - len(self.pending))}"
            )
        return True

    # --- internals -------------------------------------------------------------------

    def _fail(self, event: e.CommandFailed) -> None:
        cmd = event.command
        if self._unapplied is None or cmd != self._unapplied:
            raise AssertionError(
                f"{event!r} fed, but the command just expected and not carried out yet "
                f"is {self._unapplied!r} (reading pb.asterisk carries it out)"
            )
        if isinstance(cmd, c.Finished):
            raise AssertionError("Finished is not an ARI call: it cannot fail")
        if engine_ignores(cmd, AriFailure(event.status, event.message)):
            raise AssertionError(f"the engine never reports a 404 on {type(cmd).__name__}")
        dropped = () if c.is_best_effort(cmd) else tuple(self.pending)
        if c.is_best_effort(cmd) and event.dropped:
            raise AssertionError(
                f"{type(cmd).__name__} is best-effort: the engine drops nothing for it"
            )
        if event.dropped and event.dropped != dropped:
            raise AssertionError(
                f"{event!r}: the engine would drop {dropped!r}, not {event.dropped!r}"
            )
        self._unapplied = None
        if not c.is_best_effort(cmd):
            self.pending.clear()  # the engine stops the batch here
        self._reports.append(replace(event, dropped=dropped))
        self._settle()

    def _ensure_started(self) -> None:
        if not self._started:
            self._started = True
            self._receive("start()", self.session.start())

    def _receive(self, trigger: str, commands: list[c.Command]) -> None:
        self.trigger = trigger
        self.batch = list(commands)
        self.pending = deque(commands)

    def _flush(self) -> None:
        """Carry out the command expected last, if the script did not make it fail."""
        cmd, self._unapplied = self._unapplied, None
        if cmd is not None:
            try:
                self._asterisk.apply(cmd)
            except AriFailure as failure:
                if not engine_ignores(cmd, failure):
                    raise AssertionError(
                        f"Asterisk would refuse {cmd!r}: {failure}; feed CommandFailed "
                        "right after expecting it if that is what the script is about"
                    ) from None
            if isinstance(cmd, c.Finished):
                # The engine stops here: nothing else runs, no failure is reported.
                self.pending.clear()
                self._reports.clear()
                self._later.clear()
        self._settle()

    def _settle(self) -> None:
        """Once a batch is over, the session hears of its failures; the next batch begins."""
        if self.pending or self._unapplied is not None:
            return
        for failure in self._reports:
            self.failures.append(failure)
            trigger = f">> {failure!r} (reported after its batch)"
            self._later.append((trigger, self.session.handle(failure)))
        self._reports.clear()
        while not self.pending and self._later:
            self._receive(*self._later.popleft())


# --- engine model -------------------------------------------------------------------

Snapshot = tuple[State, Mode | None]


def snapshot(session: Session) -> Snapshot:
    return (session.state, session.mode)


def allowed(snap: Snapshot) -> Routing:
    """The routing a session in this state may have: its mode's while active, else none."""
    state, mode = snap
    if state is State.ACTIVE and mode is not None:
        return ROUTING[mode]
    return NO_ROUTING


def within(routing: Routing, limit: Routing) -> bool:
    return (
        (limit.ear or not routing.ear)
        and (limit.agent or not routing.agent)
        and (limit.caller or not routing.caller)
    )


Authorizer = Callable[[c.Authorize], e.SessionEvent]
Interferer = Callable[["Harness", c.Command], AriFailure | None]
Checker = Callable[["Harness", c.Command | None], None]


class Harness:
    """Runs a session against a FakeAsterisk the way the engine does (see the module doc)."""

    def __init__(
        self,
        session: Session,
        asterisk: FakeAsterisk,
        *,
        authorize: Authorizer,
        interfere: Interferer | None = None,
        check: Checker | None = None,
        mode_request: Callable[[Mode], e.ModeRequested] | None = None,
    ) -> None:
        self.session = session
        self.asterisk = asterisk
        self.authorize = authorize
        self.interfere = interfere
        """Called before each command; a failure it returns replaces carrying it out."""
        self.check = check
        """Called after each command (carried out, ignored or failed) and after each event."""
        self.mode_request = mode_request or (lambda mode: e.ModeRequested(mode, "dtmf"))
        self.finished: c.Finished | None = None
        self.emitted: list[c.Command] = []
        """Every command the session returned, carried out or not."""
        self.refused: list[c.Command] = []
        """Every command that failed, reported to the session or not (Finished came first)."""
        self.failures: list[e.CommandFailed] = []
        """Every failure handed to the session."""
        self.seen: list[Snapshot] = [snapshot(session)]
        """The session's states since the engine took the current event: before it,
        after it, and after each CommandFailed or Authorize answer it led to."""

    @property
    def pre(self) -> Snapshot:
        """The session's state before the event being handled now."""
        return self.seen[0]

    @property
    def dropped(self) -> list[c.Command]:
        """Every command the engine did not carry out because one before it failed."""
        return [cmd for failure in self.failures for cmd in failure.dropped]

    def failed(self, cmd: c.Command) -> bool:
        """Whether ``cmd`` was run and failed."""
        return cmd in self.refused

    def start(self) -> None:
        self.seen = [snapshot(self.session)]
        self._run(self._handle(None))

    def feed(self, event: e.SessionEvent) -> None:
        """Deliver one event to the session, as the engine's session task does."""
        if self.finished is not None:
            return  # the engine closed the session: nothing reaches it any more
        if isinstance(event, e.DtmfReceived):
            mode = self.session.mode_for_digit(event.digit)
            if mode is not None and event.channel == self.session.supervisor_channel:
                event = self.mode_request(mode)
        self.seen = [snapshot(self.session)]
        self._run(self._handle(event))

    def deliver(self, index: int = 0) -> None:
        """Deliver one of the events Asterisk sent."""
        self.feed(self.asterisk.outbox.pop(index))

    def deliver_all(self) -> None:
        while self.asterisk.outbox and self.finished is None:
            self.deliver(0)

    def _handle(self, event: e.SessionEvent | None) -> list[c.Command]:
        if isinstance(event, e.CommandFailed):
            self.failures.append(event)
        commands = self.session.start() if event is None else self.session.handle(event)
        self.seen.append(snapshot(self.session))
        self.emitted += commands
        return commands

    def _run(self, commands: list[c.Command]) -> None:
        """``Engine._execute``: batches in turn, failures reported after their batch."""
        batches = deque([commands])
        while batches:
            queue = deque(batches.popleft())
            reports: list[e.CommandFailed] = []
            while queue:
                cmd = queue.popleft()
                if isinstance(cmd, c.Finished):
                    self.asterisk.apply(cmd)
                    self.finished = cmd
                    self._check(cmd)
                    return
                failure = self._attempt(cmd)
                if failure is not None:
                    self.refused.append(cmd)
                    reports.append(report(cmd, failure, queue))
                    self._check(cmd)
                    if c.is_best_effort(cmd):
                        continue
                    break
                self._check(cmd)
                if isinstance(cmd, c.Authorize):
                    result = self.authorize(cmd)
                    if isinstance(result, e.Authorized):
                        self.session.agent_channel = result.agent_channel
                        self.asterisk.add_channel(result.agent_channel)
                    queue.extend(self._handle(result))
            for failure_event in reports:
                batches.append(self._handle(failure_event))
        self._check(None)

    def _attempt(self, cmd: c.Command) -> AriFailure | None:
        """Carry ``cmd`` out; the failure the engine would see, if any."""
        failure = self.interfere(self, cmd) if self.interfere is not None else None
        if failure is None:
            try:
                self.asterisk.apply(cmd)
            except AriFailure as natural:
                failure = natural
        if failure is not None and engine_ignores(cmd, failure):
            return None
        return failure

    def _check(self, cmd: c.Command | None) -> None:
        if self.check is not None:
            self.check(self, cmd)
