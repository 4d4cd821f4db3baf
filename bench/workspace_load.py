"""Load test: readers, writers and a re-evaluation on one workspace served by `mujun serve`.

    python bench/workspace_load.py [--workspace W] [--seconds 60] [--readers 8] [--port 8765]

Copies the workspace (default: the Shaoxing sample, built into a temporary folder), adds
users, and starts `mujun serve` on it (loopback only, ``MUJUN_PROXIES=1`` so each failed
login can come from its own address and keeps writing instead of being throttled). Then,
for ``--seconds``:

- ``--readers`` threads, logged in as a viewer, read pages and the API round robin
  (``/``, ``/api/years``, ``/rankings``, ``/map``, ``/review``, a parcel page), each answer
  checked: status 200 and no false "还没有评价结果" (no results yet);
- one writer thread posts wrong passwords for unknown names from changing addresses (each
  a write of the login-failure table): every answer must be 401 or 429;
- one writer thread, logged in as a reviewer, saves review decisions (each a new version of a
  parcel's decision and a row of the audit log): every answer must be a 302;
- a re-evaluation (`mujun evaluate --year 2025`) runs again and again in its own process,
  each replacing the workspace file under the server.

Afterwards it checks the workspace: ``PRAGMA integrity_check`` and every save answered 302
present in the decisions and the audit log. Prints the counts, errors, latencies (median,
p95) and the load average, and writes bench/out/workspace_load.json. Exit status 1 if
anything failed.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

OUT = Path(__file__).parent / "out" / "workspace_load.json"
READER_URLS = ("/", "/api/years", "/rankings", "/map", "/review", "/rankings?level=parcel")
USERS = {"viewer": ("viewer", "load-viewer-pass-7Q"), "rev": ("reviewer", "load-review-pass-7Q")}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    """A browser's cookie jar and CSRF handling over urllib; redirects are not followed."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                                  _NoRedirect())

    def request(self, path: str, data: dict | None = None, headers: dict | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, headers=headers or {})
        try:
            with self.opener.open(req, timeout=120) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode("utf-8", "replace")

    def token(self, path: str) -> str:
        status, page = self.request(path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        if not found:
            raise RuntimeError(f"no CSRF token on {path} ({status})")
        return found.group(1)

    def login(self, name: str, password: str) -> None:
        status, _ = self.request("/login", {"name": name, "password": password, "csrf_token": self.token("/login")})
        if status != 302:
            raise RuntimeError(f"login as {name} answered {status}")


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.count: dict[str, int] = {}
        self.errors: list[str] = []
        self.times: dict[str, list[float]] = {}

    def add(self, kind: str, seconds: float, error: str | None = None) -> None:
        with self.lock:
            self.count[kind] = self.count.get(kind, 0) + 1
            self.times.setdefault(kind, []).append(seconds)
            if error:
                self.errors.append(f"{kind}: {error}")


def _reader(base: str, stop: float, tally: Tally, urls: list[str]) -> None:
    client = Client(base)
    client.login("viewer", USERS["viewer"][1])
    i = random.randrange(len(urls))
    while time.monotonic() < stop:
        url = urls[i % len(urls)]
        i += 1
        t = time.perf_counter()
        try:
            status, body = client.request(url)
            error = None
            if status != 200:
                text = re.sub(r"<[^>]+>|\s+", " ", body)[:200]
                error = f"{url} answered {status}: {text}"
            elif "还没有评价结果" in body:
                error = f"{url} said 还没有评价结果 (no results yet)"
        except Exception as err:  # noqa: BLE001 - counted as an error of this read
            error = f"{url}: {type(err).__name__}: {err}"
        tally.add("read", time.perf_counter() - t, error)


def _failed_logins(base: str, stop: float, tally: Tally) -> None:
    client = Client(base)
    token = client.token("/login")
    n = 0
    while time.monotonic() < stop:
        n += 1
        address = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        t = time.perf_counter()
        try:
            status, _ = client.request("/login", {"name": f"nobody{n}", "password": "wrong", "csrf_token": token},
                                       headers={"X-Forwarded-For": address})
            error = None if status in (401, 429) else f"failed login answered {status}"
        except Exception as err:  # noqa: BLE001
            error = f"{type(err).__name__}: {err}"
        tally.add("failed_login", time.perf_counter() - t, error)


def _review_saves(base: str, stop: float, tally: Tally, parcels: list[str], saved: dict[str, int]) -> None:
    client = Client(base)
    client.login("rev", USERS["rev"][1])
    i = 0
    while time.monotonic() < stop:
        pid = parcels[i % len(parcels)]
        i += 1
        t = time.perf_counter()
        try:
            path = f"/review/2025/{urllib.parse.quote(pid, safe='')}"
            status, page = client.request(path)
            base_version = re.search(r'name="base_version" value="(\d+)"', page)
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            if status != 200 or not base_version or not token:
                raise RuntimeError(f"review page answered {status}")
            form = {"status": "需现场核查", "measure": "", "deadline": "", "comment": f"压力测试第 {i} 次",
                    "assignee": "", "base_version": base_version.group(1), "csrf_token": token.group(1)}
            status, _ = client.request(path, form)
            error = None if status == 302 else f"save answered {status}"
            if status == 302:
                saved[pid] = saved.get(pid, 0) + 1
        except Exception as err:  # noqa: BLE001
            error = f"{type(err).__name__}: {err}"
        tally.add("review_save", time.perf_counter() - t, error)


def _evaluations(workspace: Path, stop: float, tally: Tally) -> None:
    while time.monotonic() < stop:
        t = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "mujun.cli", "evaluate", "--workspace", str(workspace),
                              "--year", "2025"], capture_output=True, text=True)
        error = None if run.returncode == 0 else f"exit {run.returncode}: {run.stderr.strip()[-300:]}"
        tally.add("evaluation", time.perf_counter() - t, error)


def _wait_for(base: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mujun serve ended with {proc.returncode}")
        try:
            urllib.request.urlopen(base + "/login", timeout=2).read()
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError("mujun serve did not answer in 60 s")


def _check(workspace: Path, saved: dict[str, int]) -> list[str]:
    problems = []
    with sqlite3.connect(workspace) as con:
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
        if ok != "ok":
            problems.append(f"integrity_check: {ok}")
        versions = dict(con.execute("SELECT parcel_id, version FROM mujun_review WHERE year = 2025").fetchall())
        logged = dict(con.execute("SELECT parcel_id, count(*) FROM mujun_review_log WHERE year = 2025 "
                                  "AND action = '审核结论' GROUP BY parcel_id").fetchall())
    con.close()
    for pid, n in saved.items():
        if versions.get(pid, 0) < n or logged.get(pid, 0) < n:
            problems.append(f"parcel {pid}: {n} saves answered 302, version {versions.get(pid)}, "
                            f"{logged.get(pid, 0)} in the log")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workspace", type=Path, help="workspace to copy (default: build the sample)")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--readers", type=int, default=8)
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args(argv)

    from mujun.layers.accounts import add_user
    from mujun.layers.sample import build_sample
    from mujun.layers.workspace import Workspace
    from mujun.service import evaluate

    tmp = Path(tempfile.mkdtemp(prefix="mujun-load-"))
    try:
        ws = Workspace(tmp / "load.gpkg")
        if args.workspace:
            shutil.copyfile(args.workspace, ws.path)
        else:
            print("building the sample …", flush=True)
            build_sample(ws, seed=2024, scale=1.0)
            evaluate(ws, year=2025, progress=False)
        for name, (role, password) in USERS.items():
            add_user(ws, name, role, password)
        flagged = ws.read("result_parcel", where="year = 2025 AND idle = 1")["parcel_id"].astype(str)
        parcels = list(flagged[:200])

        base = f"http://127.0.0.1:{args.port}"
        env = {**os.environ, "MUJUN_PROXIES": "1"}
        server = subprocess.Popen([sys.executable, "-m", "mujun.cli", "serve", "--workspace", str(ws.path),
                                   "--host", "127.0.0.1", "--port", str(args.port)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for(base, server)
            for url in READER_URLS:  # warm the server's caches once, unmeasured
                c = Client(base)
                c.login("viewer", USERS["viewer"][1])
                c.request(url)
            urls = [*READER_URLS, f"/parcels/{urllib.parse.quote(parcels[0], safe='')}"]
            tally, saved = Tally(), {}
            load_before = os.getloadavg()
            stop = time.monotonic() + args.seconds
            threads = [threading.Thread(target=_reader, args=(base, stop, tally, urls)) for _ in range(args.readers)]
            threads += [threading.Thread(target=_failed_logins, args=(base, stop, tally)),
                        threading.Thread(target=_review_saves, args=(base, stop, tally, parcels, saved)),
                        threading.Thread(target=_evaluations, args=(ws.path, stop, tally))]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
            load_after = os.getloadavg()
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        problems = _check(ws.path, saved)
        report = {
            "seconds": round(elapsed, 1), "readers": args.readers, "cpus": os.cpu_count(),
            "load_average_before": load_before, "load_average_after": load_after,
            "requests": tally.count, "errors": len(tally.errors), "first_errors": tally.errors[:20],
            "workspace_problems": problems, "review_saves_answered_302": sum(saved.values()),
            "latency_ms": {k: {"median": round(statistics.median(v) * 1000, 1),
                               "p95": round(sorted(v)[int(0.95 * (len(v) - 1))] * 1000, 1)}
                           for k, v in tally.times.items()},
        }
        print(f"{elapsed:.0f} s, {args.readers} readers, load average {load_before[0]:.2f} → {load_after[0]:.2f} "
              f"on {os.cpu_count()} CPUs")
        print(f"{'kind':<14}{'requests':>10}{'median ms':>12}{'p95 ms':>10}")
        for kind, n in tally.count.items():
            lat = report["latency_ms"][kind]
            print(f"{kind:<14}{n:>10}{lat['median']:>12}{lat['p95']:>10}")
        print(f"errors: {len(tally.errors)}; review saves answered 302: {sum(saved.values())}; "
              f"workspace: {'; '.join(problems) or 'integrity ok, every save in the decisions and the log'}")
        for e in tally.errors[:20]:
            print("  " + e)
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(json.dumps(report, ensure_ascii=False, indent=1))
        return 1 if tally.errors or problems else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
