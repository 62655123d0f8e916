"""Integration test harness: real logosd agents on 127.0.0.1.

Each test gets a Cluster of real agents, each with its own data directory and
ports reserved at run time (bind port 0, read it back). Readiness and every
other condition are polled with deadlines, never fixed sleeps. Every agent is
killed when the test ends (also when it fails or the runner is interrupted),
and the agents' log paths are printed when a test fails.
"""

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("LOGOS_BUILDDIR", TOP)
LOGOSD = os.path.join(BUILD, "logosd")

_live = []  # every agent process started, for cleanup


def _kill_all():
    for p in _live:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=5)
            except Exception:
                pass


atexit.register(_kill_all)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(what, fn, timeout=20.0, interval=0.05):
    """Polls fn() until it returns a true value; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last_exc = e
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s%s" % (
        timeout, what, (": last error %r" % last_exc) if last_exc else ""))


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode())

    def __repr__(self):
        return "Response(%d, %r)" % (self.status, self.body[:300])


def request(addr, method, path, body=None, headers=None, timeout=30):
    """One HTTP request to an agent; returns a Response (also for 4xx/5xx)."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers = dict(headers or {}, **{"Content-Type": "application/json"})
    elif isinstance(body, str):
        body = body.encode()
    req = urllib.request.Request("http://%s%s" % (addr, path), data=body,
                                 method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Response(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, dict(e.headers), e.read())


class Agent:
    def __init__(self, cluster, name):
        self.cluster = cluster
        self.name = name
        self.raft = "127.0.0.1:%d" % free_port()
        self.http = "127.0.0.1:%d" % free_port()
        self.dir = os.path.join(cluster.root, name)
        self.log = os.path.join(cluster.root, name + ".log")
        self.proc = None

    def start(self, *extra):
        args = [LOGOSD, "--name", self.name, "--data-dir", self.dir,
                "--raft", self.raft, "--http", self.http,
                "--election-timeout", "600", "--heartbeat", "60",
                "--down-after", str(self.cluster.down_after)] + self.cluster.extra + list(extra)
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        logf.close()
        _live.append(self.proc)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            self.proc.send_signal(sig)
            if sig in (signal.SIGKILL, signal.SIGTERM):
                self.proc.wait(timeout=20)

    def api(self, method, path, body=None, headers=None, timeout=30):
        return request(self.http, method, path, body, headers, timeout)

    def status(self):
        r = self.api("GET", "/v1/status?stale=1", timeout=5)
        assert r.status == 200, r
        return r.json()

    def ready(self):
        try:
            st = self.status()
        except Exception:
            return False
        return st.get("leader", {}).get("id") not in (None, 0)


class Cluster:
    """n agents: the first bootstraps (--init), the others join it."""

    def __init__(self, n=3, down_after=3000, extra=()):
        self.root = tempfile.mkdtemp(prefix="logos-it-")
        self.down_after = down_after
        self.extra = list(extra)  # flags for every agent
        self.agents = []
        first = Agent(self, "h1")
        self.agents.append(first)
        first.start("--init")
        wait_for("h1 to lead", lambda: first.ready() and self.node_count(first) >= 1)
        token = open(os.path.join(first.dir, "join-token")).read().strip()
        self.token = token
        for i in range(2, n + 1):
            self.add(token)
        # The leader promotes standbys until it has 3 voters (5 from 5 nodes).
        want = min(n, 5 if n >= 5 else 3)
        wait_for("%d voters" % want, lambda: self.voters() >= want)

    def add(self, token=None):
        a = Agent(self, "h%d" % (len(self.agents) + 1))
        self.agents.append(a)
        a.start("--join", self.leader().http, "--token", token or self.token)
        wait_for("%s to join" % a.name, a.ready)
        return a

    def voters(self):
        r = self.agents[0].api("GET", "/v1/nodes?stale=1", timeout=5)
        if r.status != 200:
            return 0
        return sum(1 for n in r.json()["nodes"] if n["role"] == "voter")

    def node_count(self, a):
        r = a.api("GET", "/v1/nodes?stale=1", timeout=5)
        return len(r.json()["nodes"]) if r.status == 200 else 0

    def live(self):
        return [a for a in self.agents if a.alive()]

    def leader(self):
        def find():
            for a in self.live():
                try:
                    st = a.status()
                except Exception:
                    continue
                lid = st.get("leader", {}).get("id")
                if lid == st["node"]["id"]:
                    return a
            return None
        return wait_for("a leader", find)

    def any(self):
        return self.live()[0]

    def converged(self, timeout=30):
        """Every live agent at the same applied index and digest."""
        def same():
            sts = [a.status() for a in self.live()]
            idx = {s["applied_index"] for s in sts}
            dig = {s["digest"] for s in sts}
            return len(idx) == 1 and len(dig) == 1 and sts
        return wait_for("replicas to converge", same, timeout)

    def check_live_index(self):
        """No agent's audit walk found a live process of its node missing
        from the reconciler's index (agent/reconcile.c): the index never
        drifted from the procs table in the direction that matters."""
        for a in self.agents:
            try:
                with open(a.log, errors="replace") as f:
                    bad = [l for l in f if "live index: pid=" in l]
            except OSError:
                continue
            assert not bad, "%s: the live index drifted: %s" % (a.name, bad[:3])

    def close(self):
        for a in self.agents:
            a.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def logs(self):
        return [a.log for a in self.agents]


def run(tests):
    """Runs test functions taking a fresh Cluster-producing context; prints
    a summary line 'N passed, N failed'."""
    passed = failed = 0
    only = os.environ.get("LOGOS_TEST")
    for t in tests:
        if only and only not in t.__name__:
            continue
        start = time.monotonic()
        clusters = []

        def make(*a, **kw):
            c = Cluster(*a, **kw)
            clusters.append(c)
            return c
        try:
            t(make)
            for c in clusters:
                c.check_live_index()
            passed += 1
            print("PASS %s (%.1fs)" % (t.__name__, time.monotonic() - start), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s (%.1fs)" % (t.__name__, time.monotonic() - start), flush=True)
            traceback.print_exc()
            for c in clusters:
                for log in c.logs():
                    print("---- %s (last 40 lines)" % log)
                    try:
                        with open(log, errors="replace") as f:
                            print("".join(f.readlines()[-40:]))
                    except OSError:
                        pass
        finally:
            for c in clusters:
                c.close()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1
