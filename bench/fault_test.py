"""The fault test (`make fault`): reports keep arriving while the server is killed and the
database restarts; afterwards every report a client was told was accepted is stored exactly
once, with its trail.

It runs on a throwaway PostgreSQL cluster of its own (initdb + pg_ctl on a spare port, never
the machine's shared one) and a `gridmap serve --workers 2` on a spare port:

- ``--reports`` reports (client-made ids), paced over eight fault intervals, sent by
  ``--clients`` threads, each retrying the
  same report (same id, same body) on a connection error, a timeout, 429 or a 5xx, until it
  gets 201 or 200;
- meanwhile, every few seconds, either ``kill -9`` of the server's master and workers (then a
  restart), or an immediate-mode restart of PostgreSQL;
- then: each accepted id is one row in ``reports`` with exactly one ``register`` event (and
  one ``dispatch`` when dispatched), and nothing else was stored.

    .venv/bin/python bench/fault_test.py [--reports 3000] [--clients 16] [--every 4]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.serving import free_port, wait_healthy  # noqa: E402

# The newest PostgreSQL installed (Debian keeps each major version under /usr/lib/postgresql).
PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]),
             default=Path("/usr/lib/postgresql/15/bin/initdb")).parent


def as_postgres(*cmd: str) -> list[str]:
    """initdb and pg_ctl refuse to run as root: run them as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.getuid() == 0 else list(cmd)


class Cluster:
    """A throwaway PostgreSQL cluster with trust auth on 127.0.0.1:``port``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="gridmap-fault-pg-"))
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/gridmap_fault"

    def start(self) -> None:
        subprocess.run(as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                                   "--no-sync"), check=True, stdout=subprocess.DEVNULL)
        self._ctl("start", "-w", "-l", str(self.log), "-o", f"-p {self.port} -k {self.dir} -c fsync=on")
        admin = sa.create_engine(self.url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql("CREATE DATABASE gridmap_fault")
        admin.dispose()
        db = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        with db.connect() as conn:
            conn.exec_driver_sql("CREATE EXTENSION postgis; CREATE EXTENSION btree_gist")
        db.dispose()

    def _ctl(self, *args: str) -> None:
        subprocess.run(as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args), check=True,
                       stdout=subprocess.DEVNULL)

    def restart(self) -> None:
        """Immediate mode: no checkpoint, in-flight transactions lost, as after a crash."""
        self._ctl("restart", "-m", "immediate", "-w", "-l", str(self.log),
                  "-o", f"-p {self.port} -k {self.dir}")

    def stop(self) -> None:
        try:
            self._ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class Server:
    """``gridmap serve --workers 2`` in its own process group (so kill -9 reaches all of it)."""

    def __init__(self, port: int, env: dict) -> None:
        self.port, self.env, self.proc = port, env, None

    def start(self) -> None:
        gridmap = Path(sys.executable).with_name("gridmap")
        self.proc = subprocess.Popen([str(gridmap), "serve", "--workers", "2", "--port", str(self.port),
                                      "--no-access-log"], cwd=ROOT, env=self.env, start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def wait_healthy(self, seconds: float = 90) -> None:
        wait_healthy(f"http://127.0.0.1:{self.port}", seconds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reports", type=int, default=3000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--every", type=float, default=4.0, help="seconds between faults")
    args = ap.parse_args()

    cluster = Cluster()
    server = None
    t0 = time.monotonic()
    try:
        cluster.start()
        from fixtures.city import SMALL_CITY
        from fixtures.load import load_demo
        from geo.migrate import upgrade

        upgrade(url=cluster.url)
        engine = sa.create_engine(cluster.url)
        load_demo(engine, spec=SMALL_CITY,
                  n_reports=0)
        with engine.connect() as conn:
            points = conn.execute(sa.text(
                "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM areas WHERE level = 'grid'"
            )).all()
        key = "fault-" + uuid.uuid4().hex
        port = free_port()
        env = {**os.environ, "GRIDMAP_DATABASE_URL": cluster.url, "GRIDMAP_STAFF_TOKENS": key,
               "GRIDMAP_ESCALATION_INTERVAL_S": "0", "GRIDMAP_RATE_ENABLED": "false",
               "GRIDMAP_DATABASE_POOL_SIZE": "4"}
        server = Server(port, env)
        server.start()
        server.wait_healthy()
        print(f"cluster on :{cluster.port}, server on :{port}; sending {args.reports:,} reports with "
              f"{args.clients} clients, a fault every {args.every:.0f} s", flush=True)

        rng = random.Random(20261201)
        todo = []
        for i in range(args.reports):
            lon, lat = rng.choice(points)
            todo.append({"id": str(uuid.uuid4()), "category": "30", "description": f"fault test {i}",
                         "source": "citizen", "location": {"lon": lon, "lat": lat},
                         "reported_at": datetime.now(UTC).isoformat()})
        # Paced over eight fault intervals, so every run sees both kinds of fault several times.
        spacing = 8 * args.every / args.reports
        queue = list(reversed(list(enumerate(todo))))
        lock = threading.Lock()
        accepted: dict[str, int] = {}
        tries = Counter()
        done = threading.Event()

        def client() -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                while True:
                    with lock:
                        if not queue:
                            return
                        i, payload = queue.pop()
                    pause = started + i * spacing - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    delay = 0.05
                    while True:
                        with lock:
                            tries["attempts"] += 1
                        try:
                            r = http.post("/api/v1/reports", json=payload)
                            if r.status_code in (200, 201):
                                with lock:
                                    accepted[payload["id"]] = r.status_code
                                break
                            if r.status_code < 500 and r.status_code != 429:
                                raise RuntimeError(f"refused: {r.status_code} {r.text[:200]}")
                            failure = f"http {r.status_code}"
                        except httpx.HTTPError as exc:
                            failure = type(exc).__name__
                        with lock:
                            tries[failure] += 1
                        time.sleep(delay)
                        delay = min(delay * 2, 2.0)

        faults = Counter()

        def chaos() -> None:
            n = 0
            while not done.wait(args.every):
                n += 1
                if n % 2:
                    server.kill()
                    faults["server kill -9 (master and workers)"] += 1
                    server.start()
                else:
                    cluster.restart()
                    faults["PostgreSQL immediate restart"] += 1

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        chaos_thread = threading.Thread(target=chaos)
        started = time.monotonic()  # read by the clients' pacing
        for t in threads:
            t.start()
        chaos_thread.start()
        for t in threads:
            t.join()
        done.set()
        chaos_thread.join()
        sending = time.monotonic() - started
        server.wait_healthy()

        ids = [uuid.UUID(i) for i in accepted]
        engine.dispose()  # its pooled connections died with the restarts
        engine = sa.create_engine(cluster.url, pool_pre_ping=True)
        with engine.connect() as conn:
            stored = dict(conn.execute(sa.text(
                "SELECT id, count(*) OVER (PARTITION BY id) FROM reports")).all())
            total = conn.scalar(sa.text("SELECT count(*) FROM reports"))
            events = conn.execute(sa.text(
                "SELECT report_id, action, count(*) FROM report_events GROUP BY report_id, action")).all()
        engine.dispose()
        per = {}
        for rid, action, n in events:
            per.setdefault(rid, Counter())[action] = n
        missing = [i for i in ids if i not in stored]
        doubled = [i for i, n in stored.items() if n != 1]
        bad_trail = [i for i in ids if per.get(i, Counter())["register"] != 1 or per[i]["dispatch"] > 1]
        strays = total - len(ids)
        print(f"sent {args.reports:,} reports in {sending:.1f} s ({tries['attempts']:,} attempts); faults: "
              + ", ".join(f"{k} ×{v}" for k, v in faults.items()))
        print("retried after: " + (", ".join(f"{k} ×{v}" for k, v in sorted(tries.items()) if k != "attempts") or "nothing"))
        print(f"accepted {len(accepted):,} ({Counter(accepted.values())[201]:,} × 201, "
              f"{Counter(accepted.values())[200]:,} × 200 replays); stored {total:,}; missing {len(missing)}, "
              f"stored twice {len(doubled)}, bad trail {len(bad_trail)}, stored but never accepted {strays}")
        ok = (len(accepted) == args.reports and not missing and not doubled and not bad_trail and strays == 0
              and sum(faults.values()) >= 2)
        print(f"fault test: {'PASSED' if ok else 'FAILED'} in {time.monotonic() - t0:.0f} s")
        return 0 if ok else 1
    finally:
        if server is not None and server.proc is not None:
            server.kill()
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
