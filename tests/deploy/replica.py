"""Two throw-away PostgreSQL clusters on this machine: a primary and its streaming replica
(``pg_basebackup -R -X stream``), each on a free port of 127.0.0.1, run as the ``postgres``
user when the tests run as root, removed when done.

The primary is a new cluster rather than the test server: a base backup copies every
database of its source (the benchmark's provinces too), and the test server need not
accept replication connections. What the replica does is the same: it streams and replays
the primary's WAL and answers read-only queries meanwhile.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

WAIT_SECONDS = 30.0
SERVER_OPTIONS = ("-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                  "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "shared_buffers=16MB",
                  "-c", "max_connections=30", "-c", "hot_standby=on")


def bin_dir() -> Path:
    """The directory of ``initdb``, ``postgres`` and ``pg_basebackup``."""
    found = []
    try:
        found.append(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                    check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    found += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    which = shutil.which("initdb")
    if which:
        found.append(str(Path(which).resolve().parent))
    for candidate in found:
        if all((Path(candidate) / tool).exists()
               for tool in ("initdb", "postgres", "pg_basebackup")):
            return Path(candidate)
    raise RuntimeError("PostgreSQL's server programs (initdb, postgres, pg_basebackup) are "
                       "not installed here: the replica test needs them")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pair:
    """``start()`` makes and starts both clusters; ``stop()`` ends them and removes them."""

    def __init__(self) -> None:
        self.bin = bin_dir()
        self.user: str | None = None
        if os.geteuid() == 0:  # the server refuses to run as root
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root, the replica test needs the 'postgres' "
                                   "user to run the clusters as") from None
            self.user = "postgres"
        self.base = Path(tempfile.mkdtemp(prefix="pipeline-replica-", dir=self._parent()))
        if self.user:
            account = pwd.getpwnam(self.user)
            os.chown(self.base, account.pw_uid, account.pw_gid)
        self.procs: list[subprocess.Popen] = []
        self.primary_port = self.replica_port = 0

    def _parent(self) -> str | None:
        """The temporary folder, when the server's user can reach it (else /tmp)."""
        if self.user is None:
            return None
        folder = Path(tempfile.gettempdir()).resolve()
        reachable = all(p.stat().st_mode & 0o001 for p in (folder, *folder.parents))
        return str(folder) if reachable else "/tmp"  # nosec B108 (a folder of our own in it)

    def url(self, port: int, database: str = "pipeline") -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    @property
    def primary_url(self) -> str:
        return self.url(self.primary_port)

    @property
    def replica_url(self) -> str:
        return self.url(self.replica_port)

    def _run(self, *args: str) -> None:
        done = subprocess.run([str(self.bin / args[0]), *args[1:]], user=self.user,
                              capture_output=True, text=True, cwd=self.base)
        if done.returncode:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip()[-2000:]}")

    def _serve(self, data: Path, port: int) -> None:
        log = open(self.base / f"{data.name}.log", "w")  # noqa: SIM115 (the server's life)
        if self.user:
            account = pwd.getpwnam(self.user)
            os.chown(log.name, account.pw_uid, account.pw_gid)
        self.procs.append(subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(data), "-p", str(port), *SERVER_OPTIONS],
            user=self.user, stdout=log, stderr=subprocess.STDOUT, cwd=self.base))
        log.close()
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            try:
                with psycopg.connect(self.url(port, "postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if self.procs[-1].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the cluster in {data} did not start: "
                                       + (self.base / f"{data.name}.log").read_text()[-2000:]
                                       ) from None
                time.sleep(0.05)

    def start(self) -> Pair:
        primary, replica = self.base / "primary", self.base / "replica"
        self._run("initdb", "-D", str(primary), "-U", "postgres", "--auth=trust", "--no-sync",
                  "-E", "UTF8", "--locale=C.UTF-8")
        self.primary_port = free_port()
        self._serve(primary, self.primary_port)
        with psycopg.connect(self.url(self.primary_port, "postgres"), autocommit=True) as c:
            c.execute("CREATE DATABASE pipeline")
        self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port),
                  "-U", "postgres", "-D", str(replica), "-R", "-X", "stream",
                  "--checkpoint=fast", "--no-sync")
        self.replica_port = free_port()
        self._serve(replica, self.replica_port)
        with psycopg.connect(self.url(self.replica_port, "postgres")) as c:
            if not c.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                raise RuntimeError("the second cluster is not a replica")
        return self

    def caught_up(self) -> None:
        """Wait until the replica has replayed everything the primary has written."""
        with psycopg.connect(self.url(self.primary_port, "postgres")) as c:
            target = c.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        deadline = time.monotonic() + WAIT_SECONDS
        with psycopg.connect(self.url(self.replica_port, "postgres"), autocommit=True) as c:
            while not c.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn",
                                (str(target),)).fetchone()[0]:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the replica did not replay up to {target}")
                time.sleep(0.02)

    def replay(self, on: bool) -> None:
        """Pause or resume the replica's replay (it keeps receiving the WAL)."""
        with psycopg.connect(self.url(self.replica_port, "postgres"), autocommit=True) as c:
            if on:
                c.execute("SELECT pg_wal_replay_resume()")
                return
            c.execute("SELECT pg_wal_replay_pause()")
            deadline = time.monotonic() + WAIT_SECONDS
            while c.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] != "paused":
                if time.monotonic() > deadline:
                    raise RuntimeError("the replica's replay did not pause")
                time.sleep(0.02)

    def stop(self) -> None:
        for proc in reversed(self.procs):  # the replica first; the data is thrown away
            if proc.poll() is None:
                proc.send_signal(signal.SIGQUIT)
                try:
                    proc.wait(WAIT_SECONDS)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs.clear()
        shutil.rmtree(self.base, ignore_errors=True)
