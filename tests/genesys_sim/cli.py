"""Command line of the simulator: ``python -m genesys_sim`` (and ``genesys-etl simulator``)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import date
from types import FrameType

from genesys_sim.config import FaultConfig, SimConfig
from genesys_sim.server import SimulatorServer

DEFAULT_PORT = 8787


def build_parser(prog: str = "python -m genesys_sim") -> argparse.ArgumentParser:
    """Return the argument parser of the simulator command.

    Args:
        prog: the command's name in usage and errors.

    Returns:
        The parser (every flag has a default: a bare command serves the demo org on port 8787).
    """
    defaults = SimConfig()
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a Genesys Cloud simulator (OAuth, analytics aggregates, queue listing) on loopback.",
    )
    add = parser.add_argument
    add("--host", default=defaults.host, help="address to listen on (default %(default)s)")
    add("--port", type=int, default=DEFAULT_PORT, help="TCP port; 0 picks a free one (default %(default)s)")
    add("--client-id", default=defaults.client_id, help="accepted OAuth client id (default %(default)s)")
    add(
        "--client-secret",
        default=defaults.client_secret,
        help="accepted OAuth client secret (default: demo-secret)",
    )
    add("--seed", type=int, default=defaults.seed, help="seed of the org and its data (default %(default)s)")
    add("--queues", type=int, default=defaults.queues, help="queues in the data (default %(default)s)")
    add(
        "--deleted-queues",
        type=int,
        default=defaults.deleted_queues,
        help="of which deleted (default %(default)s)",
    )
    add("--media-types", default=",".join(defaults.media_types), help="comma-separated (default %(default)s)")
    add(
        "--today",
        type=date.fromisoformat,
        default=None,
        help="the simulator's date, YYYY-MM-DD (default: real UTC date)",
    )
    add(
        "--late-data",
        action="store_true",
        help="days younger than --late-data-horizon-days are still filling in",
    )
    add(
        "--late-data-horizon-days",
        type=int,
        default=defaults.late_data_horizon_days,
        help="default %(default)s",
    )
    add("--latency-ms", type=float, default=0.0, help="fixed latency per request in milliseconds")
    add(
        "--latency-jitter-ms",
        type=float,
        default=0.0,
        help="extra random latency per request in milliseconds",
    )
    add(
        "--requests-per-minute",
        type=int,
        default=defaults.requests_per_minute,
        help="rate limit per token (default %(default)s)",
    )
    add(
        "--token-lifetime",
        type=float,
        default=defaults.token_lifetime_seconds,
        help="token lifetime in seconds (default %(default)s)",
    )
    add(
        "--token-max-uses",
        type=int,
        default=None,
        help="API requests per token before it is refused (default: unlimited)",
    )
    add(
        "--max-interval-days",
        type=int,
        default=defaults.max_interval_days,
        help="longest aggregates interval (default %(default)s)",
    )
    add("--no-unattributed-groups", action="store_true", help="never return groups without queueId")
    add("--fault-seed", type=int, default=0, help="seed of the injected faults")
    add("--rate-429", type=float, default=0.0, help="share of API requests answered 429")
    add("--retry-after", type=int, default=1, help="Retry-After seconds of injected 429s")
    add("--rate-5xx", type=float, default=0.0, help="share answered 500/502/503/504")
    add("--rate-drop", type=float, default=0.0, help="share of connections closed without an answer")
    add("--rate-slow", type=float, default=0.0, help="share answered after --slow-seconds")
    add("--slow-seconds", type=float, default=2.0, help="delay of slow answers")
    add("--rate-malformed", type=float, default=0.0, help="share answered 200 with a truncated JSON body")
    add("--verbose", action="store_true", help="log every request")
    return parser


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """Build the simulator settings from parsed arguments.

    Args:
        args: parsed by ``build_parser()``.

    Returns:
        The settings.

    Raises:
        ValueError: on an invalid combination (the message names the setting).
    """
    faults = FaultConfig(
        seed=args.fault_seed,
        rate_429=args.rate_429,
        retry_after_seconds=args.retry_after,
        rate_5xx=args.rate_5xx,
        rate_drop=args.rate_drop,
        rate_slow=args.rate_slow,
        slow_seconds=args.slow_seconds,
        rate_malformed=args.rate_malformed,
    )
    return SimConfig(
        host=args.host,
        port=args.port,
        client_id=args.client_id,
        client_secret=args.client_secret,
        seed=args.seed,
        queues=args.queues,
        deleted_queues=args.deleted_queues,
        media_types=tuple(m.strip() for m in args.media_types.split(",") if m.strip()),
        token_lifetime_seconds=args.token_lifetime,
        token_max_uses=args.token_max_uses,
        requests_per_minute=args.requests_per_minute,
        max_interval_days=args.max_interval_days,
        today=args.today,
        late_data=args.late_data,
        late_data_horizon_days=args.late_data_horizon_days,
        latency_seconds=args.latency_ms / 1000.0,
        latency_jitter_seconds=args.latency_jitter_ms / 1000.0,
        unattributed_groups=not args.no_unattributed_groups,
        faults=faults,
    )


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None, prog: str = "python -m genesys_sim") -> int:
    """Run the simulator until Ctrl-C or SIGTERM.

    Args:
        argv: command-line arguments (default: ``sys.argv[1:]``).
        prog: the command's name in usage and errors (``genesys-etl simulator`` through the job's CLI).

    Returns:
        The exit status: 0 after a clean stop, 2 on invalid settings.
    """
    parser = build_parser(prog)
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["--"]:  # passed through by a wrapping command (genesys-etl simulator -- ...)
        arguments = arguments[1:]
    args = parser.parse_args(arguments)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = config_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
    stop = threading.Event()
    try:
        server = SimulatorServer(config).start()
    except OSError as error:
        print(f"cannot listen on {config.host}:{config.port}: {error}", file=sys.stderr)
        return 1
    print(f"Genesys Cloud simulator listening on {server.base_url}", flush=True)
    print(
        f"  login and API base URL: {server.base_url}  client id: {config.client_id}  queues: "
        f"{config.queues} ({config.deleted_queues} deleted)  seed: {config.seed}  today: {server.today}",
        flush=True,
    )
    print("  stop with Ctrl-C", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("simulator stopped", flush=True)
    return 0
