#!/usr/bin/env python3
"""The real-process fault tier (reliability.md (b): F1, F3, F5, F7, F12;
invariants I1, I2, I3, I6).

Five real logosd agents, each in its own network namespace on a bridge
(netns.py), under a concurrent workload of compare-and-set writes and
linearizable reads on a few files, and unique sends to and receives from a
queue. Every operation is recorded with its invocation and completion times
and outcome; faults are injected (partitions, kill -9, SIGSTOP, whole-cluster
restarts, a full disk); afterwards the faults heal and checker.py checks:
  I2/I1  per-key linearizability of the file history, including final reads
         through every agent; every acknowledged send received exactly once
         or still queued, nothing received twice or unsent;
  I3     every agent at the same applied index and digest within a deadline;
  I6     a leader (and a committed write) within a bound after each heal.

  tests/integration/faults.py          the CI set (about 4 minutes)
  tests/integration/faults.py --long   the full matrix
  LOGOS_TEST=<part of a name>          only the matching scenarios
  LOGOS_FAULTS_SEED=<n>                the schedule's seed (printed per run)
  LOGOS_FAULTS_KEEP=<dir>              keep the agents' logs of failed scenarios there
  LOGOS_FAULTS_AGENT_ARGS="..."        more logosd flags (e.g. --log-level debug)
  LOGOS_FAULTS_NO_NETNS=1              the loopback fallback even as root

Without root or network namespaces it says so and runs the kill and stop
scenarios on 127.0.0.1.
"""

import atexit
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import checker  # noqa: E402
import netns  # noqa: E402

TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("LOGOS_BUILDDIR", TOP)
LOGOSD = os.path.join(BUILD, "logosd")

N = 5
KEYS = ["/reg/a", "/reg/b", "/reg/c"]
QUEUE = "q"
OP_TIMEOUT = 2.5          # a client gives up after this: outcome unknown
LEADER_BOUND = 10.0       # I6: a leader and a committed write after a heal
COLD_BOUND = 10.0         # F12: after every agent of a cold restart started
CONVERGE_BOUND = 30.0     # I3

_cleanups = []


def _cleanup_all():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception:  # noqa: BLE001 - best effort on the way out
            traceback.print_exc()


atexit.register(_cleanup_all)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def log(msg):
    print("  [%7.2f] %s" % (time.monotonic() - T0, msg), flush=True)


T0 = time.monotonic()


def wait_for(what, fn, timeout=20.0, interval=0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s%s" % (
        timeout, what, (": last error %r" % last) if last else ""))


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body.decode())

    def __repr__(self):
        return "Resp(%d, %r)" % (self.status, self.body[:200])


def request(addr, method, path, body=None, headers=None, timeout=OP_TIMEOUT):
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        if isinstance(body, str):
            body = body.encode()
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


# --- agents --------------------------------------------------------------

class Agent:
    def __init__(self, cluster, i):
        self.cluster = cluster
        self.i = i
        self.name = "h%d" % i
        net = cluster.net
        if net:
            ip = net.addr(i)
            self.raft, self.http = "%s:7701" % ip, "%s:7700" % ip
        else:
            self.raft = "127.0.0.1:%d" % _free_port()
            self.http = "127.0.0.1:%d" % _free_port()
        self.dir = os.path.join(cluster.root, self.name)
        self.log = os.path.join(cluster.root, self.name + ".log")
        self.proc = None
        self.stopped = False
        self.extra = []

    def start(self, *extra):
        if extra:
            self.extra = list(extra)
        net = self.cluster.net
        pre = net.exec_prefix(self.i) if net else []
        args = pre + [LOGOSD, "--name", self.name, "--data-dir", self.dir,
                      "--raft", self.raft, "--http", self.http,
                      "--election-timeout", "600", "--heartbeat", "60",
                      "--down-after", "2000"] + self.extra + \
            os.environ.get("LOGOS_FAULTS_AGENT_ARGS", "").split()
        with open(self.log, "ab") as f:
            f.write(b"==== start %s\n" % " ".join(args).encode())
            f.flush()
            self.proc = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        self.stopped = False
        self.extra = []  # --init / --join only on the first start

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            if self.stopped:
                self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=20)
        self.stopped = False

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGSTOP)
            self.stopped = True

    def cont(self):
        if self.alive() and self.stopped:
            self.proc.send_signal(signal.SIGCONT)
        self.stopped = False

    def api(self, method, path, body=None, headers=None, timeout=OP_TIMEOUT):
        return request(self.http, method, path, body, headers, timeout)

    def status(self, timeout=2):
        r = self.api("GET", "/v1/status?stale=1", timeout=timeout)
        if r.status != 200:
            raise AssertionError("status of %s: %r" % (self.name, r))
        return r.json()


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Cluster:
    def __init__(self, net, name):
        self.net = net
        self.root = tempfile.mkdtemp(prefix="%s%d-%s-" % (netns.PREFIX, os.getpid(), name))
        self.agents = [Agent(self, i) for i in range(1, N + 1)]
        self.mounts = []
        _cleanups.append(self.close)

    def boot(self):
        first = self.agents[0]
        first.start("--init")
        wait_for("h1 to lead", lambda: first.status()["is_leader"], timeout=30)
        token = open(os.path.join(first.dir, "join-token")).read().strip()
        for a in self.agents[1:]:
            a.start("--join", first.http, "--token", token)
        for a in self.agents[1:]:
            wait_for("%s to join" % a.name,
                     lambda: a.status()["leader"].get("id") not in (None, 0), timeout=30)
        wait_for("%d voters" % N, lambda: self.voters() >= N, timeout=60)

    def voters(self):
        r = self.agents[0].api("GET", "/v1/nodes?stale=1")
        if r.status != 200:
            return 0
        return sum(1 for n in r.json()["nodes"] if n["role"] == "voter" and n["state"] == "up")

    def by_name(self, name):
        return next(a for a in self.agents if a.name == name)

    def leader(self, timeout=LEADER_BOUND):
        """The agent a majority of reachable agents name as leader, which
        itself claims leadership."""
        def find():
            votes = {}
            claims = set()
            for a in self.agents:
                if not a.alive() or a.stopped:
                    continue
                try:
                    st = a.status(timeout=1)
                except Exception:  # noqa: BLE001
                    continue
                lid = st.get("leader", {}).get("name")
                if lid:
                    votes[lid] = votes.get(lid, 0) + 1
                if st.get("is_leader"):
                    claims.add(a.name)
            for name, n in votes.items():
                if n > N // 2 and name in claims:
                    return self.by_name(name)
            return None
        return wait_for("a leader", find, timeout=timeout, interval=0.1)

    def leader_now(self):
        try:
            return self.leader(timeout=3)
        except AssertionError:
            return None

    def await_leader(self, bound, what):
        """I6: a leader, and a write committed through it, within bound s."""
        t0 = time.monotonic()
        deadline = t0 + bound
        last = None
        while time.monotonic() < deadline:
            try:
                ld = self.leader(timeout=max(0.1, deadline - time.monotonic()))
                r = ld.api("PUT", "/v1/files/probe", "x", timeout=2)
                if r.status == 200:
                    dt = time.monotonic() - t0
                    log("leader %s and a committed write %.2fs after %s" % (ld.name, dt, what))
                    return dt
                last = r
            except Exception as e:  # noqa: BLE001
                last = e
            time.sleep(0.1)
        raise AssertionError("I6: no leader with a committed write within %.0fs after %s: %r"
                             % (bound, what, last))

    def converged(self, timeout=CONVERGE_BOUND):
        last = [None]

        def same():
            sts = [a.status() for a in self.agents]
            last[0] = [(a.name, s["applied_index"], s["digest"][:12])
                       for a, s in zip(self.agents, sts)]
            return len({s["applied_index"] for s in sts}) == 1 and \
                len({s["digest"] for s in sts}) == 1 and sts
        try:
            return wait_for("replicas to converge", same, timeout, interval=0.2)
        except AssertionError as e:
            raise AssertionError("I3: %s; last seen %r" % (e, last[0]))

    def mount_tmpfs(self, agent, size_mb):
        os.makedirs(agent.dir, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % size_mb, "tmpfs",
                        agent.dir], check=True)
        self.mounts.append(agent.dir)

    def close(self):
        for a in self.agents:
            try:
                a.kill()
            except Exception:  # noqa: BLE001
                pass
        for m in self.mounts:
            subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
        self.mounts = []
        shutil.rmtree(self.root, ignore_errors=True)

    def diag(self):
        """Each agent's own view, for a failure report."""
        out = []
        for a in self.agents:
            try:
                st = a.status(timeout=2)
                out.append("%s: leader=%s is_leader=%s term=%s applied=%s commit=%s" % (
                    a.name, st.get("leader", {}).get("name"), st.get("is_leader"),
                    st.get("term"), st.get("applied_index"), st.get("commit_index")))
                r = a.api("GET", "/v1/nodes?stale=1", timeout=2)
                if st.get("applied_index", 0) < st.get("commit_index", 0):
                    out.append("    applied < commit: raft log around the applied index: %r" % (
                        a.api("GET", "/v1/log?from=%d&limit=4" % max(1, st["applied_index"] - 1),
                              timeout=2).body[:600],))
                if r.status == 200:
                    out.append("    nodes: " + ", ".join(
                        "%s(id %s) %s/%s" % (n["name"], n["id"], n["role"], n["state"])
                        for n in r.json()["nodes"]))
            except Exception as e:  # noqa: BLE001
                out.append("%s: %r" % (a.name, e))
        return "\n".join(out)

    def log_tails(self, n=40):
        out = []
        for a in self.agents:
            out.append("---- %s (last %d lines)" % (a.log, n))
            try:
                with open(a.log, errors="replace") as f:
                    out.append("".join(f.readlines()[-n:]))
            except OSError:
                pass
        return "\n".join(out)


# --- workload ------------------------------------------------------------

class Workload:
    def __init__(self, cluster, rng, reg_clients=4, queue_clients=2):
        self.c = cluster
        self.seed = rng.random()
        self.history = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = []
        self.unknown_recvs = []  # (op, idempotency key)
        for k in range(reg_clients):
            self.threads.append(threading.Thread(target=self.reg_client, args=(k,), daemon=True))
        for k in range(queue_clients):
            self.threads.append(threading.Thread(target=self.queue_client,
                                                 args=(100 + k,), daemon=True))

    def record(self, op):
        with self.lock:
            self.history.append(op)

    def pick(self, rng):
        return rng.choice(self.c.agents)

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    # One operation, classified.
    def do_read(self, cid, a, key, final=False):
        op = checker.Op(cid, "read", key, None, time.monotonic(), node=a.name)
        try:
            r = a.api("GET", "/v1/files" + key, timeout=10 if final else OP_TIMEOUT)
            op.ret = time.monotonic()
            if r.status == 200:
                op.outcome, op.result = "ok", (r.body.decode(), int(r.headers["x-logos-version"]))
            elif r.status == 404:
                op.outcome, op.result = "ok", None
            elif 400 <= r.status < 500:
                op.outcome, op.note = "fail", "read %d %r" % (r.status, r.body[:100])
                op.kind = "read-error"
            else:
                op.outcome, op.ret, op.note = "unknown", checker.INF, "%d" % r.status
        except ConnectionRefusedError:
            op.ret, op.outcome, op.kind = time.monotonic(), "fail", "refused"
        except Exception as e:  # noqa: BLE001
            op.outcome, op.ret, op.note = "unknown", checker.INF, repr(e)
        self.record(op)
        return op

    def do_cas(self, cid, a, key, ifv, value):
        op = checker.Op(cid, "cas", key, (ifv, value), time.monotonic(), node=a.name)
        try:
            r = a.api("PUT", "/v1/files%s?if_version=%d" % (key, ifv), value)
            op.ret = time.monotonic()
            if r.status == 200:
                op.outcome, op.result = "ok", r.json()["version"]
            elif r.status == 409:
                op.outcome = "fail"
            elif 400 <= r.status < 500:
                # A definite rejection that is not a CAS conflict: no effect.
                op.outcome, op.kind, op.note = "fail", "cas-error", "%d %r" % (r.status,
                                                                                r.body[:100])
            else:
                op.outcome, op.ret, op.note = "unknown", checker.INF, "%d" % r.status
        except ConnectionRefusedError:
            op.ret, op.outcome, op.kind = time.monotonic(), "fail", "refused"
        except Exception as e:  # noqa: BLE001
            op.outcome, op.ret, op.note = "unknown", checker.INF, repr(e)
        self.record(op)
        return op

    def do_recv(self, cid, a, key_hdr, final=False):
        op = checker.Op(cid, "recv", QUEUE, key_hdr, time.monotonic(), node=a.name)
        try:
            r = a.api("POST", "/v1/queues/%s/recv" % QUEUE, b"",
                      {"Idempotency-Key": key_hdr}, timeout=10 if final else OP_TIMEOUT)
            op.ret = time.monotonic()
            if r.status == 200:
                op.outcome, op.result = "ok", r.body.decode()
            elif r.status == 204:
                op.outcome, op.result = "ok", None
            elif 400 <= r.status < 500:
                op.outcome, op.note = "fail", "%d %r" % (r.status, r.body[:100])
            else:
                op.outcome, op.ret, op.note = "unknown", checker.INF, "%d" % r.status
        except ConnectionRefusedError:
            op.ret, op.outcome, op.kind = time.monotonic(), "fail", "refused"
        except Exception as e:  # noqa: BLE001
            op.outcome, op.ret, op.note = "unknown", checker.INF, repr(e)
        if not final:
            self.record(op)
            if op.outcome == "unknown":
                with self.lock:
                    self.unknown_recvs.append((op, key_hdr))
        return op

    def reg_client(self, cid):
        rng = random.Random("%s-%d" % (self.seed, cid))
        known = {k: 0 for k in KEYS}
        n = 0
        while not self.stop.is_set():
            key = rng.choice(KEYS)
            a = self.pick(rng)
            if rng.random() < 0.5:
                op = self.do_read(cid, a, key)
                if op.outcome == "ok":
                    known[key] = 0 if op.result is None else op.result[1]
            else:
                n += 1
                op = self.do_cas(cid, a, key, known[key], "c%d-%d" % (cid, n))
                if op.outcome == "ok":
                    known[key] = op.result
            self.stop.wait(rng.uniform(0.005, 0.04))

    def queue_client(self, cid):
        rng = random.Random("%s-%d" % (self.seed, cid))
        n = 0
        while not self.stop.is_set():
            a = self.pick(rng)
            n += 1
            if rng.random() < 0.55:
                body = "m%d-%d" % (cid, n)
                op = checker.Op(cid, "send", QUEUE, body, time.monotonic(), node=a.name)
                try:
                    r = a.api("POST", "/v1/queues/" + QUEUE, body)
                    op.ret = time.monotonic()
                    if r.status == 200:
                        op.outcome = "ok"
                    elif 400 <= r.status < 500:
                        op.outcome, op.note = "fail", "%d %r" % (r.status, r.body[:100])
                    else:
                        op.outcome, op.ret, op.note = "unknown", checker.INF, "%d" % r.status
                except ConnectionRefusedError:
                    op.ret, op.outcome, op.kind = time.monotonic(), "fail", "refused"
                except Exception as e:  # noqa: BLE001
                    op.outcome, op.ret, op.note = "unknown", checker.INF, repr(e)
                self.record(op)
            else:
                self.do_recv(cid, a, "r%d-%d-%d" % (os.getpid(), cid, n))
            self.stop.wait(rng.uniform(0.005, 0.04))

    def final_checks(self):
        """After healing: final reads of every key through every agent, the
        unknown receives resolved by retrying their keys, the queue drained.
        Returns (errors, notes)."""
        errors, notes = [], []
        for key in KEYS:
            for a in self.c.agents:
                op = None
                for _ in range(5):
                    op = self.do_read(999, a, key, final=True)
                    if op.outcome == "ok":
                        break
                    time.sleep(0.5)
                if op.outcome != "ok":
                    errors.append("final read of %s through %s: %s" % (key, a.name, op.note))
        drained = []
        resolved = 0
        for op, key_hdr in self.unknown_recvs:
            a = self.c.agents[0]
            r = self.do_recv(998, a, key_hdr, final=True)
            if r.outcome == "ok":
                resolved += 1
                if r.result is not None:
                    drained.append(r.result)
            else:
                errors.append("could not resolve receive %s by its key: %s %s" % (
                    key_hdr, r.outcome, r.note))
        for k in range(100000):
            r = self.do_recv(997, self.c.agents[k % N], "drain-%d-%d" % (os.getpid(), k),
                             final=True)
            if r.outcome != "ok":
                errors.append("draining the queue: %s %s" % (r.outcome, r.note))
                break
            if r.result is None:
                break
            drained.append(r.result)
        notes.append("resolved %d unknown receives by their keys" % resolved)
        return errors, notes, drained

    def summary(self):
        counts = {}
        for op in self.history:
            counts[(op.kind, op.outcome)] = counts.get((op.kind, op.outcome), 0) + 1
        return ", ".join("%s/%s %d" % (k, o, n) for (k, o), n in sorted(counts.items()))


# --- scenarios -----------------------------------------------------------
# Each takes (cluster, rng, long) and injects faults while the workload runs;
# it returns with every fault healed (the runner heals again regardless).

def _rounds(long, ci, lg):
    return lg if long else ci


def _quiet(seconds):
    time.sleep(seconds)


def sc_isolate_leader(c, rng, long):
    """F1: the leader's link goes down; a new leader must appear on the
    majority side, and the old one must serve no stale reads."""
    for r in range(_rounds(long, 3, 8)):
        ld = c.leader()
        log("isolate leader %s" % ld.name)
        c.net.isolate(ld.i)
        time.sleep(rng.uniform(3, 5))
        c.net.heal(ld.i)
        log("healed %s" % ld.name)
        c.await_leader(LEADER_BOUND, "healing %s" % ld.name)
        _quiet(rng.uniform(1, 2))


def sc_split(c, rng, long):
    """F1: majority/minority splits (2|3), the leader in the minority in odd
    rounds; the client still reaches both sides (stale reads would show)."""
    for r in range(_rounds(long, 3, 8)):
        ld = c.leader()
        others = [a.i for a in c.agents if a is not ld]
        rng.shuffle(others)
        if r % 2 == 0:
            minority = [ld.i, others[0]]
        else:
            minority = others[:2]
        majority = [i for i in range(1, N + 1) if i not in minority]
        log("split %s | %s (leader %s)" % (minority, majority, ld.name))
        c.net.split([minority, majority])
        time.sleep(rng.uniform(3, 5))
        c.net.heal_all()
        log("healed split")
        c.await_leader(LEADER_BOUND, "healing the split")
        _quiet(rng.uniform(1, 2))


def sc_bridge(c, rng, long):
    """F1: a bridge: two halves that only one node (the bridge) sees both of;
    then a one-way drop out of the leader."""
    for r in range(_rounds(long, 2, 5)):
        ids = list(range(1, N + 1))
        rng.shuffle(ids)
        b, left, right = ids[0], ids[1:3], ids[3:]
        log("bridge %d between %s and %s" % (b, left, right))
        c.net.split([left, right])
        time.sleep(rng.uniform(3, 5))
        c.net.heal_all()
        c.await_leader(LEADER_BOUND, "healing the bridge")
        ld = c.leader()
        log("one-way: leader %s drops its packets to everyone" % ld.name)
        for j in range(1, N + 1):
            if j != ld.i:
                c.net.block(ld.i, j)
        time.sleep(rng.uniform(3, 5))
        c.net.heal_all()
        c.await_leader(LEADER_BOUND, "healing the one-way drop")
        _quiet(1)


def sc_kill9(c, rng, long):
    """F3: kill -9 of the leader, of a follower, of two at once; restart."""
    for r in range(_rounds(long, 3, 8)):
        ld = c.leader()
        if r % 3 == 0:
            victims = [ld]
        elif r % 3 == 1:
            victims = [rng.choice([a for a in c.agents if a is not ld])]
        else:
            victims = rng.sample(c.agents, 2)
        log("kill -9 %s" % [v.name for v in victims])
        for v in victims:
            v.kill()
        if ld in victims:
            c.await_leader(LEADER_BOUND, "killing the leader")
        time.sleep(rng.uniform(1, 3))
        for v in victims:
            v.start()
        log("restarted %s" % [v.name for v in victims])
        c.await_leader(LEADER_BOUND, "restarting")
        _quiet(rng.uniform(1, 2))


def sc_pause(c, rng, long):
    """F5: SIGSTOP longer than the election timeout, of the leader (which
    must serve no stale read when it wakes) and of a follower."""
    for r in range(_rounds(long, 3, 8)):
        ld = c.leader()
        v = ld if r != 1 else rng.choice([a for a in c.agents if a is not ld])
        log("SIGSTOP %s%s" % (v.name, " (leader)" if v is ld else ""))
        v.stop()
        time.sleep(rng.uniform(2, 4))
        v.cont()
        log("SIGCONT %s" % v.name)
        c.await_leader(LEADER_BOUND, "SIGCONT")
        _quiet(rng.uniform(1, 2))


def sc_pause_short(c, rng, long):
    """F5 within --down-after: SIGSTOP of the leader (and once of a follower)
    for 1.0-1.6 s, longer than the election timeout (600 ms) but shorter than
    --down-after (2 s), so no node is marked down (sc_pause covers longer ones)."""
    for r in range(_rounds(long, 4, 10)):
        ld = c.leader()
        v = ld if r != 1 else rng.choice([a for a in c.agents if a is not ld])
        log("SIGSTOP %s%s" % (v.name, " (leader)" if v is ld else ""))
        v.stop()
        time.sleep(rng.uniform(1.0, 1.6))
        v.cont()
        log("SIGCONT %s" % v.name)
        c.await_leader(LEADER_BOUND, "SIGCONT")
        _quiet(rng.uniform(1, 2))


def sc_cold_restart(c, rng, long):
    """F12: every agent killed at once, restarted in random order."""
    for r in range(_rounds(long, 2, 5)):
        log("kill -9 every agent")
        for a in c.agents:
            a.kill()
        time.sleep(rng.uniform(0.5, 2))
        order = list(c.agents)
        rng.shuffle(order)
        for a in order:
            a.start()
            time.sleep(rng.uniform(0, 0.5))
        log("restarted in order %s" % [a.name for a in order])
        c.await_leader(COLD_BOUND, "the cold restart")
        _quiet(rng.uniform(2, 3))


def sc_partition_kill(c, rng, long):
    """F1+F3: a split with the leader in the minority, and a majority member
    killed and restarted meanwhile; then a pause during a split."""
    for r in range(_rounds(long, 2, 5)):
        ld = c.leader()
        others = [a for a in c.agents if a is not ld]
        rng.shuffle(others)
        minority = [ld.i, others[0].i]
        majority = [a.i for a in others[1:]]
        c.net.split([minority, [i for i in range(1, N + 1) if i not in minority]])
        log("split %s | %s" % (minority, majority))
        time.sleep(1.5)
        victim = others[1]
        victim.kill()
        log("kill -9 %s in the majority" % victim.name)
        time.sleep(1.5)
        victim.start()
        time.sleep(1.5)
        c.net.heal_all()
        c.await_leader(LEADER_BOUND, "healing")
        ld = c.leader()
        ld.stop()
        c.net.isolate(rng.choice([a for a in c.agents if a is not ld]).i)
        log("SIGSTOP leader %s and isolate a follower" % ld.name)
        time.sleep(1.5)  # within --down-after
        ld.cont()
        c.net.heal_all()
        c.await_leader(LEADER_BOUND, "SIGCONT and heal")
        _quiet(1)


def sc_disk_full(c, rng, long):
    """F7: a follower's data directory (a small tmpfs) filled by a balloon
    file, then freed: no acknowledged write lost, the node catches up."""
    ld = c.leader()
    v = next(a for a in c.agents if a is not ld and a.i == N)
    for r in range(_rounds(long, 2, 4)):
        balloon = os.path.join(v.dir, "balloon")
        log("fill %s's data directory" % v.name)
        subprocess.run(["dd", "if=/dev/zero", "of=" + balloon, "bs=1M", "count=4096"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        fs = os.statvfs(v.dir)
        log("%s's data directory: %d KiB free" % (v.name, fs.f_bavail * fs.f_frsize // 1024))
        time.sleep(rng.uniform(4, 6))
        os.unlink(balloon)
        log("freed %s's data directory (agent %s)" % (
            v.name, "alive" if v.alive() else "exited: %s" % v.proc.returncode))
        if not v.alive():
            v.start()
            log("restarted %s" % v.name)
        c.await_leader(LEADER_BOUND, "freeing the disk")
        _quiet(2)


SCENARIOS = [
    # (name, fn, needs namespaces, in CI, workload seconds before the faults)
    ("isolate_leader", sc_isolate_leader, True, True),
    ("split_majority_minority", sc_split, True, True),
    ("kill9", sc_kill9, False, True),
    # SIGSTOP/SIGCONT of the leader and of a follower: in CI after 6 clean
    # runs in a row of the three pause scenarios once their two bugs were
    # fixed (2026-11-25 to 2026-12-02, two with the machine's 2 cores busy
    # with builds). Shorter pauses and pauses during partitions: --long.
    ("pause", sc_pause, False, True),
    ("pause_short", sc_pause_short, False, False),
    ("cold_restart", sc_cold_restart, False, True),
    ("disk_full", sc_disk_full, False, True),
    ("bridge_and_one_way", sc_bridge, True, False),
    ("partition_kill_pause", sc_partition_kill, True, False),
]

# Scenarios that show an agent bug, skipped until it is fixed: name -> reason.
KNOWN_BUGS = {}


def run_scenario(name, fn, use_net, rng, long):
    net = None
    c = None
    wl = None
    errors, notes = [], []
    try:
        if use_net:
            net = netns.Net(N)
            _cleanups.append(net.destroy)
        c = Cluster(net, name)
        if name == "disk_full":
            c.mount_tmpfs(c.agents[N - 1], 160)
        c.boot()
        log("cluster of %d up" % N)
        wl = Workload(c, rng)
        wl.start()
        time.sleep(2)
        try:
            fn(c, rng, long)
        finally:
            if net:
                net.heal_all()
            for a in c.agents:
                a.cont()
                if not a.alive():
                    log("%s had exited (%s); restarting it" % (a.name, a.proc.returncode))
                    a.start()
            time.sleep(1.5)
            wl.finish()
        log("workload: %s" % wl.summary())
        c.await_leader(LEADER_BOUND, "the end of the faults")
        c.converged()
        e, n, drained = wl.final_checks()
        errors += e
        notes += n
        e, n = checker.check_registers(wl.history)
        errors += e
        notes += n
        e, n = checker.check_queue(wl.history, drained)
        errors += e
        notes += n
        odd = [op for op in wl.history if op.kind in ("read-error", "cas-error")
               or (op.kind in ("send", "recv") and op.outcome == "fail")]
        if odd:
            notes.append("%d unexpected 4xx answers, e.g. %r" % (len(odd), odd[:3]))
        # I3 again: the final reads and drain are writes too.
        c.converged()
    except Exception as e:  # noqa: BLE001
        errors.append("%s: %s" % (type(e).__name__, e))
        if not isinstance(e, AssertionError):
            errors.append(traceback.format_exc())
    finally:
        if wl:
            wl.stop.set()
        tails = (c.diag() + "\n" + c.log_tails()) if c and errors else ""
        keep = os.environ.get("LOGOS_FAULTS_KEEP")
        if c and errors and keep:
            dest = os.path.join(keep, "%s-%d" % (name, os.getpid()))
            os.makedirs(dest, exist_ok=True)
            for a in c.agents:
                shutil.copy(a.log, dest)
            errors.append("agent logs kept in %s" % dest)
        if c:
            c.close()
            if c.close in _cleanups:
                _cleanups.remove(c.close)
        if net:
            net.destroy()
            if net.destroy in _cleanups:
                _cleanups.remove(net.destroy)
    return errors, notes, tails


def main():
    long = "--long" in sys.argv[1:]
    only = os.environ.get("LOGOS_TEST")
    seed = int(os.environ.get("LOGOS_FAULTS_SEED", str(int(time.time()) % 100000)))
    passed = failed = skipped = 0

    f = checker.self_test()
    if f:
        print("FAIL checker_self_test\n  " + "\n  ".join(f))
        failed += 1
    else:
        print("PASS checker_self_test", flush=True)
        passed += 1

    removed = netns.cleanup_leftovers()
    if removed:
        print("removed leftovers of earlier runs: %s" % removed)
    ok, why = netns.available()
    if os.environ.get("LOGOS_FAULTS_NO_NETNS"):
        ok, why = False, "LOGOS_FAULTS_NO_NETNS is set"
    if not ok:
        print("network namespaces unavailable (%s): falling back to 127.0.0.1 with kill and "
              "stop faults only" % why)
    if not os.access(LOGOSD, os.X_OK):
        print("FAIL no logosd at %s" % LOGOSD)
        print("%d passed, %d failed" % (passed, failed + 1))
        return 1

    for name, fn, needs_net, in_ci in SCENARIOS:
        if only and only not in name:
            continue
        if not long and not in_ci:
            continue
        if needs_net and not ok:
            print("SKIP %s: needs network namespaces (%s)" % (name, why))
            skipped += 1
            continue
        if name == "disk_full" and os.geteuid() != 0:
            print("SKIP %s: needs root to mount a tmpfs" % name)
            skipped += 1
            continue
        if name in KNOWN_BUGS and not os.environ.get("LOGOS_FAULTS_KNOWN"):
            print("SKIP %s: known agent bug: %s" % (name, KNOWN_BUGS[name]))
            skipped += 1
            continue
        sseed = seed * 100 + len(name)
        rng = random.Random(sseed)
        print("---- %s (seed %d, %s)" % (name, seed, "namespaces" if ok else "loopback"),
              flush=True)
        t0 = time.monotonic()
        errors, notes, tails = run_scenario(name, fn, ok, rng, long)
        dt = time.monotonic() - t0
        for n in notes:
            print("  " + n)
        if errors:
            failed += 1
            print("FAIL %s (%.1fs)" % (name, dt))
            for e in errors:
                print("  " + e.replace("\n", "\n  "))
            print(tails)
        else:
            passed += 1
            print("PASS %s (%.1fs)" % (name, dt), flush=True)
    if skipped:
        print("(%d skipped)" % skipped)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
