"""Helpers shared by the benchmark scripts. Standard library only at import time.

The trigger worker runs under the anchor venv's interpreter too, so nothing
here may import Airflow or our package at module level.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import platform
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
ANCHOR_VENV = BENCH_DIR / ".venv-anchor"
ANCHOR_PROVIDER = "apache-airflow-providers-dbt-cloud"
API_KEY = "emulator-key"  # the emulator's default key (airflow_provider_cased.testing)
# Compiled bytecode for every child, outside the repo. Deployed Airflow runs from .pyc
# files; without them (PYTHONDONTWRITEBYTECODE=1 in some shells) we would time the compiler.
PYCACHE = Path(tempfile.gettempdir()) / "cased-bench-pycache"


# --------------------------------------------------------------------------- environment


def airflow_env(extra: dict[str, str] | None = None, *, bytecode: bool = True) -> dict[str, str]:
    """The environment for a child that imports Airflow: a scratch AIRFLOW_HOME, no examples."""
    env = dict(os.environ)
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    home = Path(tempfile.mkdtemp(prefix="cased-bench-airflow-"))
    env["AIRFLOW_HOME"] = str(home)
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    # INFO lines per poll (dbt logs one per request) would measure the terminal, not the client.
    env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    env.update(extra or {})
    return env


def airflow_version() -> str:
    from importlib.metadata import version

    return version("apache-airflow")


def find_uv() -> list[str]:
    """uv from the dev venv (make venv installs it), else PATH, else ``python -m uv``."""
    local = Path(sys.executable).parent / "uv"
    if local.exists():
        return [str(local)]
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def anchor_python(create: bool = True) -> Path | None:
    """The anchor venv's interpreter: same Airflow as ours, plus the dbt Cloud provider.

    Created on first use with ``uv venv`` + ``uv pip install``; None when that fails
    (no network, say), so the caller can still measure our side.
    """
    python = ANCHOR_VENV / "bin" / "python"
    version = airflow_version()
    # The stamp names the Airflow version: a change in the dev venv re-installs the anchor.
    stamp = ANCHOR_VENV / f".installed-{version}"
    if python.exists() and stamp.exists():
        return python
    if not create:
        return None
    uv = find_uv()
    print(
        f"[setup] creating {ANCHOR_VENV.relative_to(REPO)} (apache-airflow=={version} + dbt Cloud)"
    )
    try:
        if not python.exists():
            subprocess.run(
                [*uv, "venv", "-q", "--python", sys.executable, str(ANCHOR_VENV)], check=True
            )
        subprocess.run(
            [
                *uv,
                "pip",
                "install",
                "-q",
                "--python",
                str(python),
                f"apache-airflow=={version}",
                ANCHOR_PROVIDER,
                "-e",
                str(REPO),
            ],
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"[setup] could not create the anchor venv: {exc}")
        return None
    stamp.touch()
    return python


def package_versions(python: str | Path, names: list[str]) -> dict[str, str]:
    code = (
        "import json, sys\nfrom importlib.metadata import version\nout = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try:\n        out[n] = version(n)\n"
        "    except Exception:\n        out[n] = '-'\n"
        "print(json.dumps(out))"
    )
    done = subprocess.run(
        [str(python), "-c", code, *names], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def machine_info() -> dict[str, str]:
    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "python": platform.python_version(),
        "airflow": airflow_version(),
        "os": platform.platform(),
    }


# --------------------------------------------------------------------------- statistics


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 1,000 values is the 990th smallest)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def write_json(path: str | None, data: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=2))


# --------------------------------------------------------------------------- TLS


def make_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost: (ca, cert, key).

    A CA plus a leaf (rather than one self-signed leaf) keeps strict X.509 checks
    (Python 3.13's default) happy. ECDSA P-256: the usual modern server key.
    """
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=7)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cased-bench CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_file, cert_file, key_file = (directory / n for n in ("ca.pem", "server.pem", "server.key"))
    ca_file.write_bytes(ca.public_bytes(pem))
    cert_file.write_bytes(leaf.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_file, cert_file, key_file


# --------------------------------------------------------------------------- the emulator


_NO_BUDGET_HEADERS = (
    "import sys\n"
    "from airflow_provider_cased.testing.casedev import CaseDevApi\n"
    "from airflow_provider_cased.testing.__main__ import main\n"
    "CaseDevApi.answer_headers = lambda self: []\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


class EmulatorProcess:
    """``python -m airflow_provider_cased.testing`` in its own process.

    A separate process, so the server's CPU time and memory (and its GIL) never
    count against the client being measured.
    """

    def __init__(
        self,
        certfile: Path | None = None,
        keyfile: Path | None = None,
        *,
        budget_headers: bool = True,
    ) -> None:
        cmd = [sys.executable, "-m", "airflow_provider_cased.testing", "--port", "0"]
        if not budget_headers:
            # Outside rate-limit mode the emulator reports case.dev's per-minute budget
            # (x-ratelimit-*: 10,000 a minute) on every case.dev answer, and our gate paces
            # to it. "No limit" scenarios start it without those headers, like the Cased API.
            cmd[1:3] = ["-c", _NO_BUDGET_HEADERS]
        if certfile and keyfile:
            cmd += ["--certfile", str(certfile), "--keyfile", str(keyfile)]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO
        )
        self.url = ""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "listening on " in line:
                self.url = line.rsplit("listening on ", 1)[1].strip()
                break
        if not self.url:
            self.stop()
            raise RuntimeError("the emulator did not start")
        self.pid = self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class EmulatorClient:
    """One keep-alive connection to the emulator for set-up and its control endpoints."""

    def __init__(self, url: str, cafile: str | None = None) -> None:
        scheme, _, rest = url.partition("://")
        host, _, port = rest.rpartition(":")
        if scheme == "https":
            context = ssl.create_default_context(cafile=cafile)
            self.conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, int(port), context=context, timeout=30
            )
        else:
            self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def call(self, method: str, path: str, body: Any = None, auth: bool = False) -> Any:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {API_KEY}"
        data = None if body is None else json.dumps(body)
        self.conn.request(method, path, body=data, headers=headers)
        answer = self.conn.getresponse()
        payload = answer.read()
        if answer.status >= 300:
            raise RuntimeError(f"{method} {path} -> {answer.status}: {payload[:200]!r}")
        return json.loads(payload) if payload else None

    def close(self) -> None:
        self.conn.close()


def server_cpu_seconds(pid: int) -> float:
    """User+system CPU of another process (Linux /proc); NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return math.nan


def iso_to_epoch(stamp: str) -> float:
    import datetime

    # Python 3.10's fromisoformat does not take a trailing "Z".
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


# --------------------------------------------------------------------------- trigger workers


def run_trigger_worker(
    python: Path,
    tls_dir: Path,
    name: str,
    worker_args: list[str],
    *,
    timeout: float = 900,
    budget_headers: bool = True,
) -> dict[str, Any]:
    """One ``_trigger_worker.py`` run against a fresh HTTPS emulator; its JSON result.

    A fresh certificate, emulator process and worker process per measurement, so
    neither the server's state nor the worker's peak RSS carries over. The worker
    trusts the throwaway CA through ``SSL_CERT_FILE`` and finds the connections in
    ``AIRFLOW_CONN_*``; ``worker_args`` are passed through (``--impl``, ``--kind``...).
    """
    ca, cert, key = make_tls_files(tls_dir)
    out = tls_dir / f"{name}.json"
    out.unlink(missing_ok=True)
    with EmulatorProcess(cert, key, budget_headers=budget_headers) as emulator:
        host = emulator.url.split("://", 1)[1]
        conn = {"host": emulator.url, "password": API_KEY}
        env = airflow_env(
            {
                # Read by httpx (and by ssl.create_default_context for aiohttp) at client creation.
                "SSL_CERT_FILE": str(ca),
                "AIRFLOW_CONN_CASED_DEFAULT": json.dumps({"conn_type": "cased", **conn}),
                "AIRFLOW_CONN_CASEDEV_DEFAULT": json.dumps({"conn_type": "casedev", **conn}),
                # dbt builds https://{host}/...: the host is "127.0.0.1:port".
                "AIRFLOW_CONN_DBT_CLOUD_DEFAULT": json.dumps(
                    {"conn_type": "dbt_cloud", "host": host, "password": API_KEY}
                ),
                # The worker imports _common and _variants from here under any interpreter.
                "PYTHONPATH": str(BENCH_DIR),
            }
        )
        cmd = [
            str(python),
            str(BENCH_DIR / "_trigger_worker.py"),
            f"--url={emulator.url}",
            f"--cafile={ca}",
            f"--server-pid={emulator.pid}",
            f"--out={out}",
            *worker_args,
        ]
        try:
            done = subprocess.run(
                cmd, env=env, capture_output=True, text=True, check=False, timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"{name}: worker still running after {timeout:.0f} s") from exc
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"{name}: worker failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result
