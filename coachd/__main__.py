"""Command-line entry point: ``coachd run`` / ``coachd check-config``."""

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from coachd import __version__
from coachd.config import Config, load_config
from coachd.errors import ConfigError


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
    return parser


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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
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
