"""Run the API emulator as a standalone server.

    python -m airflow_provider_cased.testing --port 8080

Prints the base URL and two ``export AIRFLOW_CONN_...`` lines, then serves
until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import ssl
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from airflow_provider_cased.testing import DEFAULT_API_KEY, Emulator, connection_env


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_cased.testing",
        description="Local emulator of the Cased public API and the case.dev Actions API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8080, help="port to bind; 0 picks a free one (default 8080)"
    )
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="API key clients must send")
    parser.add_argument(
        "--run-seconds",
        type=float,
        default=0.3,
        help="how long emulated workflow runs and async executions take (default 0.3)",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        metavar="RPS",
        help="rate-limit mode: answer 429 + Retry-After beyond RPS API requests per second "
        "(default off; switch at runtime with POST/DELETE /_emulator/rate-limit)",
    )
    parser.add_argument("--certfile", help="PEM certificate: serve HTTPS (needs --keyfile)")
    parser.add_argument("--keyfile", help="PEM private key for --certfile")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if bool(args.certfile) != bool(args.keyfile):
        _parser().error("--certfile and --keyfile go together")
    context = None
    if args.certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.certfile, args.keyfile)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    emulator = Emulator(
        args.host,
        args.port,
        api_key=args.api_key,
        run_seconds=args.run_seconds,
        ssl_context=context,
        rate_limit=args.rate_limit,
    ).start()
    try:
        print(f"Cased/case.dev API emulator listening on {emulator.url}")
        for name, value in connection_env(emulator).items():
            print(f"export {name}={shlex.quote(value)}")
        print("Press Ctrl+C to stop.", flush=True)
        # Short waits keep the main thread responsive to signals.
        while not stop.wait(0.2):
            pass
    finally:
        emulator.stop()
    print("Emulator stopped.", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
