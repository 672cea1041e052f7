"""The composition root: builds every part from the configuration and runs them.

Every long-running loop is a named task in one TaskGroup. SIGTERM and SIGINT
only set an event; shutdown then runs in a fixed order: stop taking sessions,
end the running ones (bounded), flush events and publish "stopped" on MQTT,
stop the event stream, close the ARI client.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import UTC, datetime
from pathlib import Path

import structlog
from aiohttp import web

from coachd.alerts.job import AlertsJob
from coachd.ari.client import AriClient
from coachd.ari.events import EventStream
from coachd.authorize import AgentResolver, Authorizer, ConfigAuthorizer, EndpointResolver
from coachd.cluster.link import ClusterLink
from coachd.cluster.node import ClusterNode, ClusterResolver
from coachd.config import Config, LimitsConfig
from coachd.core.modes import Mode
from coachd.core.registry import Registry
from coachd.core.session import Options, TimeLimit
from coachd.engine import Engine, FanOut, LogSink
from coachd.http.api import VICIDIAL_API, Api
from coachd.http.feed import EventFeed
from coachd.http.metrics import Metrics, Readings
from coachd.http.session_ops import SessionOps
from coachd.mqtt.control import InvalidRequest, parse_set_request, result_payload
from coachd.mqtt.publisher import MqttPublisher
from coachd.recovery import end_lost_sessions
from coachd.sdnotify import Notifier
from coachd.storage.log import CoachingLog
from coachd.storage.store import default_sqlite_path, describe, open_store
from coachd.vicidial import setup as vicidial
from coachd.vicidial.blind_monitor import BlindMonitor

log = structlog.get_logger(__name__)


def _mqtt_readings(mqtt: MqttPublisher) -> dict[str, float]:
    stats = mqtt.stats()
    return {
        "connected": float(stats.connected),
        "queue_depth": stats.queued,
        "dropped": stats.dropped,
        "reconnects": stats.reconnects,
        "published": stats.published,
    }


def _store_readings(coaching_log: CoachingLog) -> dict[str, float]:
    stats = coaching_log.stats()
    return {
        "rows_written": stats.written,
        "rows_spooled": stats.spooled,
        "rows_rejected": stats.rejected,
        "rows_queued": stats.queued,
        "spool_pending": stats.spool_pending,
        "available": float(coaching_log.available.is_set()),
    }


def spool_path(config: Config) -> Path:
    """Where coaching-log rows wait while the database is away."""
    if config.database.spool is not None:
        return Path(config.database.spool)
    return default_sqlite_path().parent / "coaching-log.spool.jsonl"


class MqttControl:
    """Answers ``<prefix>/sessions/<id>/set`` requests through the engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def answer(self, session_id: str, payload: bytes) -> bytes:
        try:
            request = parse_set_request(payload)
        except InvalidRequest as exc:
            log.info("mqtt_set_invalid", session_id=session_id, error=str(exc))
            return result_payload(None, "invalid_request", str(exc))
        cluster = self.engine.cluster
        node = cluster.handoffs.node_of(session_id) if cluster is not None else None
        if cluster is not None and node is not None and cluster.forwarder is not None:
            # The session runs on the node it was handed over to: ask there.
            answer = await cluster.forwarder.ask(
                node,
                session_id,
                "mode",
                role="supervisor",
                user=request.supervisor,
                body={"mode": request.mode},
                source="mqtt",
            )
            failure = answer.body.get("error") if answer.status >= 300 else None
            code = str(failure.get("code", "error")) if isinstance(failure, dict) else None
            log.info("mqtt_set_forwarded", session_id=session_id, node=node, refused=code)
            return result_payload(request.request_id, code)
        error = self.engine.request_mode(session_id, request.supervisor, request.mode, "mqtt")
        log.info(
            "mqtt_set",
            session_id=session_id,
            supervisor=request.supervisor,
            mode=request.mode,
            refused=error,
        )
        return result_payload(request.request_id, error)


def time_limits(limits: LimitsConfig) -> tuple[TimeLimit, ...]:
    out = []
    for mode in Mode:
        warning, limit = limits.for_mode(mode.value)
        if warning or limit:
            out.append(TimeLimit(mode, warning, limit))
    return tuple(out)


async def serve(config: Config, stop: asyncio.Event) -> None:
    async with AriClient(
        url=config.ari.url,
        username=config.ari.username,
        password=config.ari.password,
        timeout=config.ari.request_timeout,
    ) as ari:
        registry = Registry(
            options=Options(
                keymap=config.policy.keymap,
                beep_supervisor=config.policy.beep_supervisor,
                end_tone=config.policy.end_tone,
                time_limits=time_limits(config.limits),
                cue_digits=config.cues.digit_map,
                cue_media=config.cues.media_prefix,
                notify_agent=(
                    config.policy.notify_agent_media if config.policy.notify_agent else ""
                ),
            ),
            single_talker=config.policy.single_talker,
        )
        agents = EndpointResolver(ari, config.ari.endpoint_technologies)
        resolver: AgentResolver = agents
        cluster = None
        if config.cluster.enabled:
            # Agents on calls on other nodes are found in the directory (MQTT).
            cluster = ClusterNode(
                config.cluster,
                instance=config.instance,
                technologies=config.ari.endpoint_technologies,
                supervisor_endpoints=[ep for s in config.supervisors for ep in s.endpoints],
            )
            resolver = ClusterResolver(agents, cluster.directory)
        authorizer: Authorizer = ConfigAuthorizer(config, resolver)
        store = open_store(config.database.url)
        if config.database.url is None:
            default_sqlite_path().parent.mkdir(parents=True, exist_ok=True)
        version = await store.upgrade()
        log.info("store_ready", store=describe(store), schema_version=version)
        coaching_log = CoachingLog(store, instance=config.instance, spool_path=spool_path(config))
        coaching_log.available.set()  # the upgrade just reached the database
        sink = FanOut(LogSink(), coaching_log)
        vici = None
        if config.vicidial.enabled:
            # Supervisors, permissions and shifts from VICIdial's tables; sessions
            # also go to VICIdial's monitoring log.
            vici = vicidial.build(config, ari, spool_path(config))
            try:
                await vici.directory.check_schema()
            except BaseException:
                await vici.pool.close()
                raise
            log.info("vicidial_ready", server_ip=config.vicidial.server_ip)
            authorizer = vici.authorizer
            sink.add(vici.monitor_log)
        engine = Engine(
            ari=ari, app=config.ari.app, registry=registry, authorizer=authorizer, sink=sink
        )
        engine.cluster, engine.agents = cluster, agents
        mqtt = None
        if config.mqtt.enabled:
            control = MqttControl(engine).answer if config.mqtt.control else None
            mqtt = MqttPublisher(config.mqtt, config.instance, control=control)
            sink.add(mqtt)
        # The cluster's own MQTT connection: its Last Will tells the other nodes
        # at once that this one is gone.
        link = ClusterLink(cluster, config.mqtt, config.instance) if cluster is not None else None
        alerts = None
        if config.alerts.enabled:  # who-to-coach alerts from vicidial_log
            alerts = AlertsJob.from_config(
                config,
                publish=mqtt.send if mqtt is not None else None,
                grants=vici.directory.grants if vici is not None else None,
            )
        stream = EventStream(url=config.ari.url, app=config.ari.app, headers=ari.auth_headers)
        http: web.AppRunner | None = None
        feed = EventFeed(config.instance)
        if link is not None:
            # Requests for sessions handed over to this node get the API's answers.
            sink.add(feed, link)
            link.perform = SessionOps(engine, feed, config.cues.names).perform
            # Events of the sessions this node handed over, from the nodes running them.
            link.mirrored = feed.add
        if config.http.address is not None:
            metrics = Metrics(
                Readings(
                    registry=registry,
                    ari_reconnects=lambda: stream.reconnects,
                    mqtt=(lambda: _mqtt_readings(mqtt)) if mqtt is not None else None,
                    store=lambda: _store_readings(coaching_log),
                )
            )
            engine.on_switch = metrics.observe_switch
            sink.add(*([feed] if link is None else []), metrics)
            api = Api(
                config=config,
                engine=engine,
                feed=feed,
                ready=lambda: stream.connected.is_set() and coaching_log.available.is_set(),
                metrics=metrics,
            )
            if vici is not None:
                api.blind_monitor = BlindMonitor(
                    vici.directory,
                    lambda endpoint, agent, mode: engine.authorizer.authorize(
                        endpoint, agent, mode, via="api"
                    ),
                    api.ring,
                )
                api.public = api.public | {VICIDIAL_API}
                api.console.use_vicidial(vici.directory)
            api.alerts = alerts.board if alerts is not None else None
            http = web.AppRunner(api.app(), access_log=None, shutdown_timeout=1.0)
            await http.setup()
            host, port = config.http.address
            await web.TCPSite(http, host, port).start()
            log.info("http_listening", host=host, port=port)

        loop = asyncio.get_running_loop()
        notifier = Notifier()
        async with asyncio.TaskGroup() as tg:
            watchdog = tg.create_task(notifier.watchdog(), name="watchdog")
            tg.create_task(coaching_log.run(), name="coaching-log")
            if vici is not None:
                tg.create_task(vici.monitor_log.run(), name="vicidial-monitor-log")
            if mqtt is not None:
                tg.create_task(mqtt.run(), name="mqtt")
            directory_task = None
            if cluster is not None and link is not None:
                tg.create_task(link.run(), name="cluster-link")
                directory_task = tg.create_task(
                    cluster.publish_agents(ari, link.publisher.send), name="cluster-directory"
                )
            alerts_task = None if alerts is None else tg.create_task(alerts.run(), name="alerts")
            events = tg.create_task(
                stream.run(engine.on_ari_event, on_connect=engine.reconcile), name="ari-events"
            )
            ready = tg.create_task(stream.connected.wait(), name="ari-ready")
            await asyncio.wait(
                {ready, tg.create_task(stop.wait(), name="stop")},
                return_when=asyncio.FIRST_COMPLETED,
            )
            if stream.connected.is_set():
                # ARI subscribed, the store migrated, MQTT connected or buffering.
                log.info("coachd_ready", app=config.ari.app, instance=config.instance)
                notifier.ready("coaching on " + config.ari.app)
                # What a killed predecessor left in Asterisk is gone (reconciled):
                # its sessions end on record.
                await end_lost_sessions(
                    store,
                    sink,
                    instance=config.instance,
                    spool=spool_path(config),
                    live=registry.sessions,
                )
            await stop.wait()
            log.info("coachd_stopping")
            notifier.stopping()
            if alerts_task is not None:
                alerts_task.cancel()
            if directory_task is not None and cluster is not None and link is not None:
                directory_task.cancel()
                # No agents here now.
                link.publisher.send(cluster.local.update({}, datetime.now(UTC)))
            if http is not None:
                await feed.close()  # end event streams, then stop taking requests
                await http.cleanup()
            deadline = loop.time() + config.daemon.shutdown_timeout
            # Sessions get most of the time (end tone, hang-up), MQTT the rest.
            await engine.shutdown(config.daemon.shutdown_timeout * 0.6)
            logs_timeout = max(0.5, (deadline - loop.time()) / 2)
            await asyncio.gather(
                coaching_log.stop(logs_timeout),
                *([vici.monitor_log.stop(logs_timeout)] if vici is not None else []),
            )
            await asyncio.gather(
                *([mqtt.stop(max(0.5, deadline - loop.time()))] if mqtt is not None else []),
                *([link.stop(max(0.5, deadline - loop.time()))] if link is not None else []),
            )
            events.cancel()
            ready.cancel()
            watchdog.cancel()
        await store.close()
        if alerts is not None:
            await alerts.close()
        if vici is not None:
            await vici.pool.close()
    log.info("coachd_stopped")


async def run(config: Config) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve(config, stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
    return 0
