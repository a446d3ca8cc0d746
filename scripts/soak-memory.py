#!/usr/bin/env python3
"""Memory soak (issue 21 part 7): runs `tradeplane serve` on loopback against a fresh Postgres
database and drives a fuzz-like mix at it for N minutes, printing the server's RSS every minute.

The mix: every operation of the OpenAPI document with random, hostile inputs (NUL and other
control bytes, bidi overrides, long strings, wrong types, unknown query parameters), wrong-password
logins for random emails (argon2 work), logged-in reads and writes, SSE streams opened and dropped,
idle and half-sent connections, and header bytes hyper refuses. Loopback only; stdlib only.

Usage: scripts/soak-memory.py [--minutes 30] [--workers 8] [--bin target/release/tradeplane]
Needs DATABASE_URL's server (default postgres://postgres@127.0.0.1:5432/postgres); it creates and
drops a database `tp_soak_<pid>`. Ends with a line `rss_mib first=… after5=… last=… growth_after_5min=…%`.
"""

import argparse
import http.client
import json
import os
import random
import re
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HOSTILE = ["\u0000", "\u0001", "\r\n", "\u202e", "\u2066", "\ufeff", "'; drop table bots; --", "%00", "../../etc/passwd"]


def rnd_str(rng, n=None):
    n = n if n is not None else rng.choice([0, 1, 8, 40, 300, 5000])
    base = "".join(rng.choice(string.ascii_letters + string.digits + " -_") for _ in range(n))
    if rng.random() < 0.5:
        i = rng.randint(0, len(base))
        base = base[:i] + rng.choice(HOSTILE) + base[i:]
    return base


def rnd_value(rng, depth=0):
    kind = rng.randint(0, 7 if depth < 2 else 4)
    return [
        lambda: rnd_str(rng),
        lambda: rng.randint(-(2**40), 2**40),
        lambda: rng.random() * 1e9,
        lambda: rng.choice([True, False, None]),
        lambda: "2026-13-45T99:00:00Z",
        lambda: [rnd_value(rng, depth + 1) for _ in range(rng.randint(0, 4))],
        lambda: {rnd_str(rng, 6): rnd_value(rng, depth + 1) for _ in range(rng.randint(0, 4))},
        lambda: {"name": rnd_str(rng), "strategy": rnd_str(rng, 8), "symbol": "ES", "timeframe": "1m"},
    ][kind]()


class Server:
    def __init__(self, binary, db_url):
        self.dir = tempfile.mkdtemp(prefix="tp-soak-")
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(
            DATABASE_URL=db_url,
            TRADEPLANE_DATA_DIR=self.dir,
            TRADEPLANE_BIND="127.0.0.1:0",
            TRADEPLANE_INSECURE_COOKIES="1",
            TRADEPLANE_FIRST_ADMIN_2FA_GRACE="24h",
            LOG_FORMAT="json",
            RUST_LOG="warn",
        )
        self.log = open(os.path.join(self.dir, "serve.log"), "w")
        self.proc = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.PIPE, stderr=self.log, text=True, cwd=self.dir)
        deadline = time.time() + 120
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            m = re.search(r"listening on http://([0-9.]+):(\d+)", line or "")
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                threading.Thread(target=self.proc.stdout.read, daemon=True).start()
                return
            if self.proc.poll() is not None:
                break
        sys.exit(f"serve did not start; see {self.log.name}")

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Client:
    def __init__(self, server, cookie=None):
        self.server = server
        self.cookie = cookie
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        h = {"content-type": "application/json"}
        if self.cookie:
            h["cookie"] = self.cookie
        h.update(headers or {})
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        for _ in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=30)
                self.conn.request(method, path, body=data, headers=h)
                r = self.conn.getresponse()
                payload = r.read()
                if r.getheader("connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, payload, r
            except (OSError, http.client.HTTPException):
                if self.conn:
                    self.conn.close()
                self.conn = None
        return 0, b"", None


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.by_class = {}
        self.five_hundreds = []

    def add(self, status, what):
        with self.lock:
            self.requests += 1
            k = f"{status // 100}xx" if status else "conn"
            self.by_class[k] = self.by_class.get(k, 0) + 1
            if status >= 500 and len(self.five_hundreds) < 20:
                self.five_hundreds.append(f"{status} {what}")


def fill_path(rng, template):
    def sub(_m):
        return rng.choice([
            "0190b3a4-0000-7000-8000-000000000000",
            urllib.parse.quote(rnd_str(rng, 12), safe=""),
            str(rng.randint(-5, 10**12)),
        ])
    return re.sub(r"\{[^}]+\}", sub, template)


def fuzz_operations(server, ops, cookie, stats, stop, seed):
    rng = random.Random(seed)
    client = Client(server, cookie if rng.random() < 0.7 else None)
    while not stop.is_set():
        method, template = rng.choice(ops)
        if template.endswith("/stream"):
            continue
        path = fill_path(rng, template)
        if rng.random() < 0.6:
            q = {rnd_str(rng, 6): rnd_str(rng) for _ in range(rng.randint(1, 3))}
            q.update({k: rnd_str(rng, 10) for k in rng.sample(["limit", "cursor", "code", "action", "bot_id", "from", "to", "symbol"], 2)})
            path += "?" + urllib.parse.urlencode(q)
        body = rnd_value(rng) if method in ("POST", "PUT", "PATCH") else None
        if method in ("POST", "PUT", "PATCH") and rng.random() < 0.1:
            body = bytes(rng.randrange(256) for _ in range(rng.randint(1, 2000)))
        status, _, _ = client.request(method.upper(), path, body)
        stats.add(status, f"{method.upper()} {template}")


def wrong_logins(server, stats, stop, seed):
    rng = random.Random(seed)
    client = Client(server)
    while not stop.is_set():
        email = f"{rnd_str(rng, 8).strip() or 'x'}@example.com"
        status, _, _ = client.request("POST", "/api/auth/login", {"email": email, "password": rnd_str(rng, 16)},
                                      headers={"x-forwarded-for": f"10.0.{rng.randint(0, 255)}.{rng.randint(0, 255)}"})
        stats.add(status, "POST /api/auth/login")


def logged_in_work(server, cookie, stats, stop, seed):
    rng = random.Random(seed)
    client = Client(server, cookie)
    while not stop.is_set():
        choice = rng.random()
        if choice < 0.3:
            status, body, _ = client.request("POST", "/api/bots", {
                "name": f"soak {rng.randint(0, 10**9)}", "strategy": "ema_crossover", "symbol": "ES", "timeframe": "1m"})
        elif choice < 0.6:
            status, body, _ = client.request("GET", "/api/bots?limit=200")
        elif choice < 0.8:
            status, body, _ = client.request("GET", "/api/system/status")
        else:
            status, body, _ = client.request("GET", f"/api/system/events?limit={rng.randint(1, 500)}")
        stats.add(status, "logged-in mix")


def raw_sockets(server, stats, stop, seed):
    """SSE opened and dropped, idle and half-sent connections, control bytes in headers."""
    rng = random.Random(seed)
    while not stop.is_set():
        try:
            s = socket.create_connection((server.host, server.port), timeout=5)
            kind = rng.randint(0, 3)
            if kind == 0:
                s.sendall(b"GET /api/events/stream HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n")
                s.recv(4096)
            elif kind == 1:
                s.sendall(b"GET /api/system/status HTTP/1.1\r\nhost: x\r\nx-bad: a\x01b\r\n\r\n")
                s.recv(4096)
            elif kind == 2:
                s.sendall(b"GET /api/system/status HTTP/1.1\r\nhost: x\r\n")  # never finished
                time.sleep(rng.random())
            s.close()
            stats.add(200, "raw")
        except OSError:
            stats.add(0, "raw")
        time.sleep(0.05)


def setup_admin(server):
    c = Client(server)
    password = "soak-password-" + "x" * 12
    status, body, resp = c.request("POST", "/api/auth/register", {"email": "soak@example.com", "password": password})
    if status >= 300:
        sys.exit(f"register failed: {status} {body[:300]!r}")
    cookie = resp.getheader("set-cookie", "").split(";")[0]
    status, body, _ = c.request("GET", "/api/openapi.json")
    spec = json.loads(body)
    ops = [(m, p) for p, item in spec["paths"].items() for m in item if m in ("get", "post", "put", "patch", "delete")]
    return cookie, ops


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--bin", default=os.environ.get("TRADEPLANE_BIN", "target/release/tradeplane"))
    args = ap.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    db = f"tp_soak_{os.getpid()}"
    subprocess.run(["psql", admin_url, "-qc", f"create database {db}"], check=True)
    db_url = admin_url.rsplit("/", 1)[0] + "/" + db
    server = Server(os.path.abspath(args.bin), db_url)
    stats, stop = Stats(), threading.Event()
    try:
        cookie, ops = setup_admin(server)
        print(f"serving on {server.host}:{server.port}; {len(ops)} operations; RSS at start {server.rss_mib():.1f} MiB", flush=True)
        workers = []
        roles = [
            lambda i: (fuzz_operations, (server, ops, cookie, stats, stop, i)),
            lambda i: (fuzz_operations, (server, ops, cookie, stats, stop, i)),
            lambda i: (wrong_logins, (server, stats, stop, i)),
            lambda i: (logged_in_work, (server, cookie, stats, stop, i)),
            lambda i: (raw_sockets, (server, stats, stop, i)),
        ]
        for i in range(args.workers):
            target, a = roles[i % len(roles)](i)
            threading.Thread(target=target, args=a, daemon=True).start()
        samples = []
        start = time.time()
        print("minute | requests | rss_mib | classes", flush=True)
        minute = 0
        while minute < args.minutes:
            time.sleep(max(0.0, start + 60 * (minute + 1) - time.time()))
            minute += 1
            rss = server.rss_mib()
            samples.append(rss)
            with stats.lock:
                print(f"{minute:6d} | {stats.requests:8d} | {rss:7.1f} | {json.dumps(stats.by_class, sort_keys=True)}", flush=True)
            if server.proc.poll() is not None:
                sys.exit("serve exited during the soak")
        stop.set()
        after5 = samples[4] if len(samples) >= 5 else samples[0]
        growth = (samples[-1] - after5) / after5 * 100
        print(f"rss_mib first={samples[0]:.1f} after5={after5:.1f} last={samples[-1]:.1f} growth_after_5min={growth:.1f}%")
        if stats.five_hundreds:
            print("5xx seen:", *stats.five_hundreds, sep="\n  ")
    finally:
        stop.set()
        server.stop()
        subprocess.run(["psql", admin_url, "-qc", f"drop database if exists {db} with (force)"])


if __name__ == "__main__":
    main()
