"""A streaming replica of the test PostgreSQL cluster on this machine, for the read-replica tests.

``pg_basebackup -R`` of the running cluster (the one at ``XINYONG_TEST_POSTGRES_URL``) into a temporary data
directory, started with ``pg_ctl`` on a free port as a hot standby, stopped and removed afterwards — also when the
test fails. Run as root (CI) through ``runuser -u postgres --``, or as the ``postgres`` user itself.

The cluster must accept a *replication* connection from ``postgres`` on 127.0.0.1 (``all`` in ``pg_hba.conf`` does
not cover replication). ``.ci/run`` adds that line to the test cluster; when it is missing here and the cluster is
a local test cluster (``postgres`` already trusted on 127.0.0.1), the line is added at the top of its
``pg_hba.conf`` and the configuration reloaded (a reload drops no connection). Otherwise :func:`unavailable` says why,
and the test is skipped.
"""

from __future__ import annotations

import contextlib
import getpass
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

HBA_MARK = "# xinyong-test-replica"
HBA_LINE = f"host replication postgres 127.0.0.1/32 trust {HBA_MARK}"
#: Settings a hot standby must not set lower than its primary.
_AT_LEAST_PRIMARY = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _as_postgres() -> list[str] | None:
    user = getpass.getuser()
    if user == "postgres":
        return []
    if os.geteuid() == 0 and shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--"]
    return None


def free_port(preferred: int = 5439) -> int:
    for port in [preferred, *range(preferred + 1, preferred + 50)]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _replication_allowed(conn) -> bool:  # type: ignore[no-untyped-def]
    rows = conn.execute(
        text(
            "SELECT database, user_name, address, auth_method FROM pg_hba_file_rules "
            "WHERE error IS NULL ORDER BY line_number"
        )
    ).all()
    for database, users, address, method in rows:
        if "replication" not in (database or []):
            continue
        if "all" not in (users or []) and "postgres" not in (users or []):
            continue
        if address not in (None, "127.0.0.1", "samehost", "all"):
            continue
        return method == "trust"
    return False


def unavailable(admin_url: str) -> str | None:
    """Why a replica cannot be made here (None: it can). May allow replication in a local test cluster."""
    if _bin("pg_basebackup") is None or _bin("pg_ctl") is None:
        return "PostgreSQL server binaries (pg_basebackup, pg_ctl) not installed"
    if _as_postgres() is None:
        return "needs root (runuser -u postgres) or the postgres user to run pg_ctl"
    url = make_url(admin_url)
    if url.host not in ("127.0.0.1", "localhost"):
        return f"the test cluster is not on this machine ({url.host})"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if _replication_allowed(conn):
                return None
            hba = conn.execute(text("SHOW hba_file")).scalar_one()
            try:
                with open(hba) as fh:
                    content = fh.read()
            except OSError as exc:
                return f"replication not allowed in {hba} and it cannot be read ({exc})"
            local_trust = (
                ["host", "all", "all", "127.0.0.1/32", "trust"],
                ["host", "all", "postgres", "127.0.0.1/32", "trust"],
            )
            trusted = any(line.split()[:5] in local_trust for line in content.splitlines())
            if not trusted or not os.access(hba, os.W_OK):
                return (
                    f"the cluster does not allow replication for postgres on 127.0.0.1 and is not a local trust "
                    f"test cluster (add '{HBA_LINE}' at the top of {hba} and reload)"
                )
            if HBA_MARK not in content:
                with open(hba, "w") as fh:
                    fh.write(HBA_LINE + "\n" + content)
            conn.execute(text("SELECT pg_reload_conf()"))
            for _ in range(50):
                if _replication_allowed(conn):
                    return None
                time.sleep(0.1)
            return f"replication still refused after adding it to {hba}"
    finally:
        engine.dispose()


#: Largest cluster the fixture copies (pg_basebackup has 60 s; the test databases take a few hundred MB).
MAX_CLUSTER_BYTES = 4 * 2**30


@contextlib.contextmanager
def streaming_replica(admin_url: str) -> Iterator[int]:
    """A hot standby of the cluster at ``admin_url``, streaming from it; yields its port."""
    prefix = _as_postgres()
    assert prefix is not None
    url = make_url(admin_url)
    port = free_port()
    root = tempfile.mkdtemp(prefix="xinyong-replica-")
    data = os.path.join(root, "data")
    pg_ctl = _bin("pg_ctl")
    started = False
    try:
        if prefix:
            shutil.chown(root, "postgres", "postgres")
        os.chmod(root, 0o700)
        # pg_basebackup copies the whole cluster: a benchmark database left on it (bench/scale.py builds tens of GB)
        # makes the copy outlast its timeout. Say so instead of timing out.
        sizer = create_engine(admin_url)
        try:
            with sizer.connect() as conn:
                size = conn.execute(text("SELECT sum(pg_database_size(datname)) FROM pg_database")).scalar_one()
        finally:
            sizer.dispose()
        if size > MAX_CLUSTER_BYTES:
            raise RuntimeError(
                f"the test cluster holds {size / 2**30:.1f} GiB: too much to copy for a test replica "
                "(drop the benchmark databases, e.g. xinyong_scale*, xinyong_bench*)"
            )
        for attempt in range(3):
            backup = subprocess.run(
                [
                    *prefix,
                    *[_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(url.port or 5432), "-U", "postgres"],
                    *["-D", data, "-R", "-X", "stream", "-c", "fast", "--no-sync"],
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            # Other tests writing much WAL at the same time can have the segment the stream starts at recycled
            # before it is read: the copy is then made again.
            if backup.returncode == 0 or "has already been removed" not in backup.stderr or attempt == 2:
                break
            shutil.rmtree(data, ignore_errors=True)
        if backup.returncode != 0:
            raise RuntimeError(f"pg_basebackup failed: {backup.stderr[-2000:]}")
        # Debian keeps postgresql.conf and pg_hba.conf in /etc: the copy gets its own, small ones. A standby must
        # allow at least as much as its primary of these.
        engine = create_engine(admin_url)
        with engine.connect() as conn:
            same = {name: conn.execute(text(f"SHOW {name}")).scalar_one() for name in _AT_LEAST_PRIMARY}
        engine.dispose()
        conf = (
            f"listen_addresses = '127.0.0.1'\nunix_socket_directories = '{root}'\n"
            "hot_standby = on\nhot_standby_feedback = on\nshared_buffers = 16MB\nfsync = off\nlogging_collector = off\n"
            + "".join(f"{name} = {value}\n" for name, value in same.items())
        )
        conf += "include_if_exists = 'port.conf'\n"
        hba = "local all all trust\nhost all all 127.0.0.1/32 trust\n"
        for name, body in (("postgresql.conf", conf), ("pg_hba.conf", hba), ("pg_ident.conf", "")):
            path = os.path.join(data, name)
            with open(path, "w") as fh:
                fh.write(body)
            if prefix:
                shutil.chown(path, "postgres", "postgres")
        for extra in ("postmaster.pid", "postmaster.opts"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(data, extra))
        started = True  # from here on, stop it whatever happens
        for attempt in (1, 2):  # a port taken between free_port() and the start (another test run): once more
            port_conf = os.path.join(data, "port.conf")
            with open(port_conf, "w") as fh:
                fh.write(f"port = {port}\n")
            if prefix:
                shutil.chown(port_conf, "postgres", "postgres")
            run = subprocess.run(
                [*prefix, pg_ctl, "-D", data, "-l", os.path.join(root, "log"), "-w", "-t", "30", "start"],
                capture_output=True,
                text=True,
                timeout=40,
            )
            if run.returncode == 0:
                break
            log = ""
            with contextlib.suppress(OSError), open(os.path.join(root, "log")) as fh:
                log = fh.read()[-2000:]
            if attempt == 1 and "already in use" in log:
                port = free_port(port + 1)
                continue
            raise RuntimeError(f"the replica did not start: {run.stderr}\n{log}")
        yield port
    finally:
        if started:
            subprocess.run(
                [*prefix, pg_ctl, "-D", data, "-m", "immediate", "-w", "-t", "20", "stop"],
                capture_output=True,
                timeout=30,
            )
        shutil.rmtree(root, ignore_errors=True)


def wait_replayed(primary_url: str, replica_url: str, timeout: float = 60.0) -> None:
    """Until the replica has replayed everything the primary had written when this was called. The replica replays
    the whole cluster's WAL, and the other xdist worker's tests write theirs meanwhile: a few seconds behind is
    normal on a busy 2-core machine (once more than 15 s in a CI run); the tests are about where reads go, not lag."""
    primary = create_engine(primary_url, isolation_level="AUTOCOMMIT")
    replica = create_engine(replica_url, isolation_level="AUTOCOMMIT")
    try:
        with primary.connect() as conn:
            lsn = conn.execute(text("SELECT pg_current_wal_lsn()")).scalar_one()
        deadline = time.monotonic() + timeout
        with replica.connect() as conn:
            while True:
                done = conn.execute(
                    text("SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), CAST(:lsn AS pg_lsn)) >= 0"), {"lsn": lsn}
                ).scalar_one()
                if done:
                    return
                if time.monotonic() > deadline:
                    state = conn.execute(
                        text(
                            "SELECT pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), "
                            "(SELECT status FROM pg_stat_wal_receiver)"
                        )
                    ).one()
                    raise TimeoutError(
                        f"the replica did not replay up to {lsn} within {timeout} s "
                        f"(received {state[0]}, replayed {state[1]}, receiver {state[2]})"
                    )
                time.sleep(0.05)
    finally:
        primary.dispose()
        replica.dispose()
