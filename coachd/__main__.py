"""Command-line entry point: ``coachd run``, ``check-config``, ``db``, ``doctor``, ``report``."""

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from coachd import __version__, hash_password
from coachd.config import Config, load_config
from coachd.errors import CoachdError, ConfigError
from coachd.reports import cli as reports_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coachd", description="Real-time call coaching for Asterisk over ARI."
    )
    parser.add_argument("--version", action="version", version=f"coachd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in (
        ("run", "run the daemon"),
        ("check-config", "validate the configuration and print it (secrets masked)"),
    ):
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--config",
            "-c",
            type=Path,
            metavar="PATH",
            help="TOML configuration file (default: $COACHD_CONFIG)",
        )
    _add_db_parser(commands)
    _add_doctor_parser(commands)
    reports_cli.register(commands)
    hash_password.register(commands)
    _add_cues_parser(commands)
    return parser


def _add_db_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    db = commands.add_parser("db", help="manage the coaching log database", description="")
    actions = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = actions.add_parser(
        "upgrade",
        help="create or migrate the schema (idempotent) and print its version",
        description="Create or migrate the coaching log schema (safe to run again).",
    )
    upgrade.add_argument(
        "--config",
        "-c",
        type=Path,
        metavar="PATH",
        help="TOML configuration file: uses its database.url (default: $COACHD_CONFIG)",
    )
    upgrade.add_argument(
        "--url",
        metavar="URL",
        help="mysql://user:password@host:port/db or sqlite:///path (overrides the config)",
    )


def _add_doctor_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    help_text = "check Asterisk (over ARI) and coachd's connections for what breaks coaching"
    doctor = commands.add_parser(
        "doctor",
        help=help_text,
        description=help_text + ". Exit code: 0 nothing wrong, 1 errors, 2 warnings only.",
    )
    doctor.add_argument(
        "--config",
        "-c",
        type=Path,
        metavar="PATH",
        help="TOML configuration file (default: $COACHD_CONFIG)",
    )
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")
    doctor.add_argument(
        "--endpoint",
        action="append",
        default=[],
        metavar="ENDPOINT",
        help="an agent's endpoint to check (PJSIP/1042 or 1042; repeatable, or comma-separated;"
        " default: every endpoint that is not a supervisor's)",
    )
    doctor.add_argument(
        "--dialplan",
        action="append",
        type=Path,
        metavar="FILE",
        help="a dialplan file to look for ChanSpy without q and for coachd's Stasis() in"
        " (repeatable; #include is not followed; ARI cannot read the dialplan)",
    )


def _add_cues_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    cues = commands.add_parser("cues", help="whisper cue audio files", description="")
    actions = cues.add_subparsers(dest="action", required=True, metavar="ACTION")
    help_text = "speak the cue library into 8 kHz WAV files (espeak-ng, sox) for Asterisk"
    generate = actions.add_parser("generate", help=help_text, description=help_text)
    generate.add_argument("--out", type=Path, required=True, metavar="DIR")
    generate.add_argument("--voice", default="en-us", help="espeak-ng voice (default en-us)")


def _cues(args: argparse.Namespace) -> int:
    from coachd.cues import CueError, generate

    try:
        written = generate(args.out, voice=args.voice)
    except CueError as exc:
        print(f"coachd: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(
        "Copy them into Asterisk's sounds directory as coachd-cues/"
        " (e.g. /usr/share/asterisk/sounds/coachd-cues/), matching [cues] media_prefix.",
        file=sys.stderr,
    )
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from coachd.doctor import report
    from coachd.doctor.checks import run_checks
    from coachd.doctor.gather import gather
    from coachd.log import configure_logging

    try:
        config = _load(args)
    except ConfigError as exc:
        print(f"coachd: config error: {exc}", file=sys.stderr)
        return 1
    configure_logging("error", "auto")  # stray library logs to stderr, never into the report
    agents = [a.strip() for item in args.endpoint for a in item.split(",") if a.strip()]
    try:
        facts = asyncio.run(gather(config, agents=agents, dialplan=args.dialplan))
    except KeyboardInterrupt:
        return 130
    except CoachdError as exc:  # ARI failed after it had answered: nothing to judge
        print(f"coachd: doctor: {exc}", file=sys.stderr)
        return 1
    findings = run_checks(facts)
    print(report.to_json(findings) if args.json else report.to_text(findings))
    return report.exit_code(findings)


def _db(args: argparse.Namespace) -> int:
    """``coachd db upgrade``: the database is ``--url``, else the config's, else the default."""
    from coachd.storage.store import StoreError

    url: str | None = args.url
    if url is None and (args.config is not None or os.environ.get("COACHD_CONFIG")):
        try:
            url = _load(args).database.url
        except ConfigError as exc:
            print(f"coachd: config error: {exc}", file=sys.stderr)
            return 1
    try:
        version, where = asyncio.run(_db_upgrade(url))
    except (StoreError, ValueError, OSError) as exc:
        print(f"coachd: database error: {exc}", file=sys.stderr)
        return 1
    print(f"schema version {version} ({where})")
    return 0


async def _db_upgrade(url: str | None) -> tuple[int, str]:
    from coachd.storage.store import SqliteStore, describe, open_store

    store = open_store(url)
    try:
        if isinstance(store, SqliteStore):
            store.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return await store.upgrade(), describe(store)
    finally:
        await store.close()


def _load(args: argparse.Namespace) -> Config:
    path: Path | None = args.config
    if path is None:
        env_path = os.environ.get("COACHD_CONFIG")
        if not env_path:
            raise ConfigError("no configuration file given (use --config or set COACHD_CONFIG)")
        path = Path(env_path)
    return load_config(path, os.environ)


def _run(config: Config) -> int:
    from coachd import app
    from coachd.log import configure_logging

    configure_logging(config.logging.level, config.logging.format)
    try:
        return asyncio.run(app.run(config))
    except KeyboardInterrupt:
        return 130
    except CoachdError as exc:
        # e.g. the database cannot be reached at start: say why, exit non-zero.
        print(f"coachd: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    if args.command == "db":
        return _db(args)
    if args.command == "doctor":
        return _doctor(args)
    if args.command == "report":
        return reports_cli.handle(args)
    if args.command == "hash-password":
        return hash_password.handle(args)
    if args.command == "cues":
        return _cues(args)
    try:
        config = _load(args)
    except ConfigError as exc:
        print(f"coachd: config error: {exc}", file=sys.stderr)
        return 1
    if args.command == "check-config":
        print(json.dumps(config.redacted(), indent=2))
        return 0
    return _run(config)


if __name__ == "__main__":
    sys.exit(main())
