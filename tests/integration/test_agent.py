#!/usr/bin/env python3
"""Integration tests of logosd: real agents on 127.0.0.1 driven through the
HTTP API (DESIGN §6, §7). Run: tests/integration/test_agent.py
(LOGOS_TEST=substring runs only matching tests)."""

import os
import shutil
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import request, run, wait_for  # noqa: E402


def proc(a, pid):
    r = a.api("GET", "/v1/procs/%d" % pid)
    assert r.status == 200, r
    return r.json()


def test_bootstrap_and_join(make):
    c = make(3)
    st = c.converged()
    leaders = {s["leader"]["id"] for s in st}
    assert len(leaders) == 1, st
    nodes = c.any().api("GET", "/v1/nodes").json()["nodes"]
    assert sorted(n["name"] for n in nodes) == ["h1", "h2", "h3"], nodes
    assert all(n["state"] == "up" for n in nodes), nodes
    roles = sorted(n["role"] for n in nodes)
    assert roles == ["voter", "voter", "voter"], nodes
    for s in st:
        assert len(s["digest"]) == 32 and s["applied_index"] > 0, s


def test_run_on_each_node_wait_and_output(make):
    c = make(3)
    a = c.agents[1]  # a follower or the leader: writes are forwarded
    for target in c.agents:
        r = a.api("POST", "/v1/procs?wait=1",
                  {"argv": ["/bin/sh", "-c", "echo hello from $LOGOS_PID; exit 3"],
                   "node": target.name})
        assert r.status == 200, r
        body = r.json()
        p = body["procs"][0]
        assert p["node"] == target.name and p["exit_code"] == 3, body
        assert p["state"] == "failed", body
        out = a.api("GET", "/v1/procs/%d/output" % p["pid"])
        assert out.status == 200 and out.body == b"hello from %d\n" % p["pid"], out
    # A signal is reported as a signal.
    r = a.api("POST", "/v1/procs?wait=1", {"argv": ["/bin/sh", "-c", "kill -9 $$"]})
    p = r.json()["procs"][0]
    assert p["signal"] == 9 and p["state"] == "failed", r
    # stderr is kept apart.
    r = a.api("POST", "/v1/procs?wait=1",
              {"argv": ["/bin/sh", "-c", "echo out; echo err >&2"]})
    pid = r.json()["procs"][0]["pid"]
    assert a.api("GET", "/v1/procs/%d/output?stream=stdout" % pid).body == b"out\n"
    assert a.api("GET", "/v1/procs/%d/output?stream=stderr" % pid).body == b"err\n"


def test_output_follow_streams_live(make):
    c = make(1)
    a = c.any()
    r = a.api("POST", "/v1/procs",
              {"argv": ["/bin/sh", "-c", "echo first; sleep 2; echo second"]})
    assert r.status == 200, r
    pid = r.json()["pids"][0]
    import http.client
    conn = http.client.HTTPConnection(a.http, timeout=20)
    conn.request("GET", "/v1/procs/%d/output?follow=1" % pid)
    resp = conn.getresponse()
    t0 = time.monotonic()
    got = b""
    while b"first" not in got and time.monotonic() - t0 < 10:
        got += resp.read1(100)
    assert b"first" in got, got
    # The first line arrived while the program still ran.
    assert proc(a, pid)["state"] in ("running", "pending"), proc(a, pid)
    rest = resp.read()
    assert b"second" in got + rest, got + rest
    conn.close()


def test_large_output_in_order_up_to_cap(make):
    c = make(1)
    a = c.any()
    script = "i=0; while [ $i -lt 200000 ]; do printf '%08d\\n' $i; i=$((i+1)); done"
    # 200000 lines of 9 bytes: 1.8 MB, under the cap, in order.
    r = a.api("POST", "/v1/procs?wait=1", {"argv": ["/bin/sh", "-c", script]}, timeout=120)
    assert r.status == 200, r
    pid = r.json()["procs"][0]["pid"]
    out = a.api("GET", "/v1/procs/%d/output" % pid, timeout=60).body
    lines = out.split(b"\n")[:-1]
    assert len(lines) == 200000, len(lines)
    assert all(int(x) == i for i, x in enumerate(lines))
    # 10 MiB: captured up to the cap, and the truncation is reported.
    r = a.api("POST", "/v1/procs?wait=1",
              {"argv": ["/bin/sh", "-c", "head -c 10485760 /dev/zero | tr '\\0' a"]},
              timeout=120)
    pid = r.json()["procs"][0]["pid"]
    p = proc(a, pid)
    assert p["output_truncated"] is True and p["output_bytes"] == 8 << 20, p
    out = a.api("GET", "/v1/procs/%d/output" % pid, timeout=60).body
    assert len(out) == 8 << 20 and set(out) == {ord("a")}


def test_leader_failover_keeps_acknowledged_writes(make):
    c = make(3, down_after=1500)
    leader = c.leader()
    followers = [a for a in c.agents if a is not leader]
    # A restartable process placed anywhere lands on the least-loaded host:
    # load the followers first so that it is the leader's.
    for f in followers:
        r = f.api("POST", "/v1/procs", {"argv": ["/bin/sleep", "600"], "node": f.name})
        assert r.status == 200, r
    r = followers[0].api("POST", "/v1/procs",
                         {"argv": ["/bin/sleep", "600"], "restart": "on-failure"})
    pid = r.json()["pids"][0]
    wait_for("the process to run", lambda: proc(followers[0], pid)["state"] == "running")
    assert proc(followers[0], pid)["node"] == leader.name, proc(followers[0], pid)

    acked = {}
    stop = threading.Event()

    def writer(agent, prefix):
        i = 0
        while not stop.is_set() and i < 2000:
            path = "/w/%s-%d" % (prefix, i)
            ok = False
            try:
                r = agent.api("PUT", "/v1/files" + path, "v%d" % i, timeout=5)
                if r.status == 200:
                    acked[path] = "v%d" % i
                    ok = True
            except Exception:
                pass
            if not ok:
                # Until a new leader is elected the answer is a quick 503
                # (the old leader refuses connections): without a pause the
                # 2000 attempts were spent before the election ended.
                stop.wait(0.02)
            i += 1
    threads = [threading.Thread(target=writer, args=(f, f.name)) for f in followers]
    for t in threads:
        t.start()
    wait_for("some acknowledged writes", lambda: len(acked) > 20)
    leader.kill(signal.SIGKILL)
    wait_for("more writes under the new leader", lambda: len(acked) > 60, timeout=30)
    stop.set()
    for t in threads:
        t.join()
    new_leader = c.leader()
    assert new_leader is not leader
    for path, value in acked.items():
        r = new_leader.api("GET", "/v1/files" + path)
        assert r.status == 200 and r.body.decode() == value, (path, r)
    # The process of the dead host runs again elsewhere.
    def moved():
        p = proc(new_leader, pid)
        return p["state"] == "running" and p["node"] != leader.name and p["attempt"] >= 2
    wait_for("the process to restart on another host", moved, timeout=30)
    # The killed agent comes back, catches up, and agrees.
    leader.start()
    wait_for("the old leader to rejoin", leader.ready)
    c.converged(timeout=60)


def test_idempotency_keys(make):
    c = make(3)
    a = c.agents[2]
    body = {"argv": ["/bin/true"], "placement": "any"}
    r1 = a.api("POST", "/v1/procs", body, {"Idempotency-Key": "submit-1"})
    r2 = a.api("POST", "/v1/procs", body, {"Idempotency-Key": "submit-1"})
    assert r1.status == r2.status == 200, (r1, r2)
    assert r1.json()["pids"] == r2.json()["pids"], (r1, r2)
    a.api("POST", "/v1/queues/jobs", "m1")
    a.api("POST", "/v1/queues/jobs", "m2")
    g1 = a.api("POST", "/v1/queues/jobs/recv", None, {"Idempotency-Key": "recv-1"})
    g2 = a.api("POST", "/v1/queues/jobs/recv", None, {"Idempotency-Key": "recv-1"})
    assert g1.status == g2.status == 200 and g1.body == g2.body == b"m1", (g1, g2)
    g3 = a.api("POST", "/v1/queues/jobs/recv")
    assert g3.body == b"m2", g3
    # Reusing a key for a different request is a conflict.
    r3 = a.api("POST", "/v1/procs", {"argv": ["/bin/false"]}, {"Idempotency-Key": "submit-1"})
    assert r3.status == 409, r3


def test_rewind_and_time_travel(make):
    c = make(3)
    a = c.agents[1]
    v1 = a.api("PUT", "/v1/files/etc/app.conf", "version one").json()
    a.api("POST", "/v1/queues/q", "kept")
    # The index a write answered with (a follower's own status may lag it).
    at_n = a.api("POST", "/v1/queues/q", "later").json()["index"]
    v2 = a.api("PUT", "/v1/files/etc/app.conf", "version two").json()
    assert v2["version"] == 2
    a.api("PUT", "/v1/files/etc/other", "new file")
    a.api("POST", "/v1/queues/q/recv")
    # As-of reads give the state recorded then.
    r = a.api("GET", "/v1/files/etc/app.conf?at=%d" % v1["index"])
    assert r.status == 200 and r.body == b"version one", r
    r = a.api("GET", "/v1/files/etc/other?at=%d" % at_n)
    assert r.status == 404, r
    r = a.api("GET", "/v1/files/etc/app.conf?at=999999")
    assert r.status == 400 and "readable" in r.json()["message"], r
    digest_at = a.api("GET", "/v1/status").json()["digest"]
    # Rewind brings files and queues back.
    r = a.api("POST", "/v1/rewind?plan=1", {"index": at_n})
    assert r.status == 200, r
    assert any(ch["table"] == "files" for ch in r.json()["changes"]), r.json()
    # The message received after the target: its receiver's work stays done.
    irr = [x for x in r.json()["irreversible"] if x["kind"] == "message"]
    assert [(x["queue"], x["seq"]) for x in irr] == [("q", 1)], r.json()
    r = a.api("POST", "/v1/rewind", {"index": at_n})
    assert r.status == 200, r
    assert a.api("GET", "/v1/files/etc/app.conf").body == b"version one"
    assert a.api("GET", "/v1/files/etc/other").status == 404
    got = a.api("POST", "/v1/queues/q/recv")
    assert got.body == b"kept", got
    assert digest_at != a.api("GET", "/v1/status").json()["digest"]
    c.converged()


def os_process_gone(os_pid):
    try:
        with open("/proc/%d/stat" % os_pid) as f:
            return f.read().split(") ")[1].startswith("Z")
    except FileNotFoundError:
        return True


def test_agent_restart_marks_attempts_lost_and_restarts(make):
    c = make(3)
    h2 = c.agents[1]
    r = c.any().api("POST", "/v1/procs", {"argv": ["/bin/sleep", "600"], "node": "h2",
                                          "restart": "on-failure"})
    pid = r.json()["pids"][0]
    wait_for("the process to run", lambda: proc(c.agents[0], pid)["state"] == "running")
    first = proc(c.agents[0], pid)
    h2.kill(signal.SIGKILL)
    # The program outlives its agent...
    assert not os_process_gone(first["os_pid"])
    h2.start()
    # ...until the agent is back: that attempt is lost, the old process is
    # stopped, and the restart policy runs the next attempt.
    def restarted():
        p = proc(c.agents[0], pid)
        return p["attempt"] >= 2 and p["state"] == "running" and p
    p = wait_for("the next attempt", restarted, timeout=30)
    assert p["node"] == "h2" and p["os_pid"] != first["os_pid"], p
    wait_for("the old process to be stopped", lambda: os_process_gone(first["os_pid"]))
    c.converged()


def test_rewind_stops_processes_started_after_the_target(make):
    c = make(1)
    a = c.any()
    n = a.api("GET", "/v1/status").json()["applied_index"]
    r = a.api("POST", "/v1/procs", {"argv": ["/bin/sleep", "600"]})
    pid = r.json()["pids"][0]
    wait_for("the process to run", lambda: proc(a, pid)["state"] == "running")
    os_pid = proc(a, pid)["os_pid"]
    r = a.api("POST", "/v1/rewind", {"index": n})
    assert r.status == 200, r
    assert a.api("GET", "/v1/procs/%d" % pid).status == 404
    wait_for("the process to be stopped", lambda: os_process_gone(os_pid))
    # Process ids are never reused after a rewind.
    r = a.api("POST", "/v1/procs", {"argv": ["/bin/true"]})
    assert r.json()["pids"][0] > pid, r


def test_lost_voter_is_replaced_by_a_standby(make):
    c = make(4, down_after=1500)
    nodes = c.any().api("GET", "/v1/nodes").json()["nodes"]
    roles = {n["name"]: n["role"] for n in nodes}
    assert sorted(roles.values()) == ["standby", "voter", "voter", "voter"], roles
    standby = [n for n, r in roles.items() if r == "standby"][0]
    leader = c.leader()
    victim = [a for a in c.agents if roles[a.name] == "voter" and a is not leader][0]
    victim.kill(signal.SIGKILL)

    def replaced():
        ns = c.leader().api("GET", "/v1/nodes").json()["nodes"]
        r = {n["name"]: (n["role"], n["state"]) for n in ns}
        return r[standby][0] == "voter" and r[victim.name] == ("standby", "down") and r
    wait_for("the standby to replace the lost voter", replaced, timeout=30)
    # Three voters again, two of them original: losing one more keeps a quorum.
    other = [a for a in c.live() if roles[a.name] == "voter" and a is not c.leader()][0]
    other.kill(signal.SIGKILL)
    r = c.leader().api("PUT", "/v1/files/quorum", "kept", timeout=30)
    assert r.status == 200, r


def test_join_right_after_init_gets_its_own_id(make):
    import harness
    c = make(1)
    # A second cluster whose hosts start together: the joiner must wait until
    # the first host has registered itself instead of taking its id.
    h1 = harness.Agent(c, "j1")
    h2 = harness.Agent(c, "j2")
    c.agents += [h1, h2]
    h1.start("--init")
    wait_for("j1's API", lambda: h1.api("GET", "/v1/status?stale=1", timeout=2).status == 200)
    token = wait_for("the token", lambda: open(os.path.join(h1.dir, "join-token")).read().strip())
    h2.start("--join", h1.http, "--token", token)
    wait_for("j2 to join", h2.ready, timeout=40)
    def two_nodes():
        ns = h1.api("GET", "/v1/nodes").json()["nodes"]
        return len(ns) == 2 and ns
    ns = wait_for("two nodes", two_nodes)
    assert sorted((n["id"], n["name"]) for n in ns) == [(1, "j1"), (2, "j2")], ns


def test_removed_node_leaves_raft(make):
    c = make(4)
    victim = [a for a in c.agents if a is not c.leader()][-1]
    st = victim.status()
    r = c.leader().api("DELETE", "/v1/nodes/%d" % st["node"]["id"])
    assert r.status == 200, r
    victim.kill(signal.SIGKILL)
    def gone():
        ns = c.leader().api("GET", "/v1/nodes").json()["nodes"]
        n = [x for x in ns if x["name"] == victim.name][0]
        return n["state"] == "left" and n
    wait_for("the node to be left", gone)
    leader = c.leader()
    wait_for("raft to drop the node", lambda: "removed node=%d from raft status=0"
             % st["node"]["id"] in open(leader.log).read())
    r = leader.api("PUT", "/v1/files/after-remove", "ok", timeout=20)
    assert r.status == 200, r


def test_restart_from_a_snapshot(make):
    # Snapshots every 64 entries: a restarted follower loads one, replays the
    # rest (with effects addressed to it), and catches up.
    c = make(3, extra=["--snapshot-threshold", "64"])
    leader = c.leader()
    f = [a for a in c.agents if a is not leader][0]
    r = leader.api("POST", "/v1/procs", {"argv": ["/bin/sleep", "600"], "node": f.name,
                                         "restart": "always"})
    pid = r.json()["pids"][0]
    wait_for("the process to run", lambda: proc(leader, pid)["state"] == "running")
    for i in range(150):
        assert leader.api("PUT", "/v1/files/s/%d" % (i % 10), "v%d" % i).status == 200
    f.kill(signal.SIGTERM)
    for i in range(150):
        assert leader.api("PUT", "/v1/files/t/%d" % (i % 10), "w%d" % i).status == 200
    f.start()
    wait_for("the follower to come back", f.ready)
    c.converged(timeout=60)
    assert f.alive()
    # Its process was stopped with it; the next attempt runs there again.
    wait_for("the next attempt", lambda: proc(leader, pid)["attempt"] >= 2
             and proc(leader, pid)["state"] == "running")


def test_node_that_lost_its_raft_log_refuses_to_rejoin(make):
    # A follower whose raft directory is removed while its identity files
    # stay must not come back under the same id (it could vote twice in a
    # term; libraft's leader would never resend what it acknowledged): the
    # agent exits with an error that says what to do, and the others go on.
    c = make(3)
    leader = c.leader()
    f = [a for a in c.agents if a is not leader][0]
    for i in range(20):
        assert leader.api("PUT", "/v1/files/l/%d" % i, "v%d" % i).status == 200
    f.kill(signal.SIGTERM)
    shutil.rmtree(os.path.join(f.dir, "raft"))
    f.start()
    assert f.proc.wait(timeout=20) != 0
    text = open(f.log).read()
    assert "raft log of node" in text and "must not rejoin" in text, text[-2000:]
    assert leader.api("PUT", "/v1/files/l/after", "x").status == 200
    # Emptied instead (state kept, raft files gone): refused as well.
    os.makedirs(os.path.join(f.dir, "raft"))
    f.start()
    assert f.proc.wait(timeout=20) != 0


def metric(a, name):
    r = a.api("GET", "/metrics")
    assert r.status == 200, r
    for line in r.body.decode().splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise AssertionError("no metric %s" % name)


def test_killed_follower_catches_up_in_groups(make):
    # A follower killed with -9 misses a few hundred entries; restarted, it
    # applies them in groups (one LMDB commit for many entries) and ends
    # with the leader's digest.
    c = make(3)
    leader = c.leader()
    f = [a for a in c.agents if a is not leader][0]
    for i in range(20):
        assert leader.api("PUT", "/v1/files/g/%d" % i, "a%d" % i).status == 200
    c.converged()
    f.kill(signal.SIGKILL)
    for i in range(400):
        assert leader.api("PUT", "/v1/files/g/%d" % (i % 50), "b%d" % i).status == 200
    target = leader.status()["applied_index"]
    f.start()
    wait_for("the follower to come back", f.ready)
    wait_for("the follower to catch up", lambda: f.status()["applied_index"] >= target,
             timeout=60)
    c.converged(timeout=60)
    commits = metric(f, "logos_store_commits_total")
    assert 0 < commits < 400 // 4, commits
    assert f.api("GET", "/v1/files/g/49").body == b"b399"


def test_paused_leader_does_not_mark_others_down(make):
    c = make(3, down_after=1500)
    leader = c.leader()
    others = [a for a in c.agents if a is not leader]

    def other_leader():
        for a in others:
            st = a.status()
            if st["leader"]["id"] == st["node"]["id"]:
                return a
        return None
    leader.proc.send_signal(signal.SIGSTOP)
    try:
        new = wait_for("a new leader", other_leader, timeout=40)
        wait_for("the paused host marked down", lambda: any(
            n["name"] == leader.name and n["state"] == "down"
            for n in new.api("GET", "/v1/nodes").json()["nodes"]))
    finally:
        leader.proc.send_signal(signal.SIGCONT)
    # Back: it heard nobody while stopped, which says nothing about them.
    def settled():
        ns = c.leader().api("GET", "/v1/nodes").json()["nodes"]
        return all(n["state"] == "up" and n["role"] == "voter" for n in ns) and ns
    wait_for("every node up and voting again", settled, timeout=45)
    log = open(leader.log).read()
    assert "silent: marking down" not in log, "the paused leader marked nodes down"
    r = c.leader().api("PUT", "/v1/files/after-pause", "ok")
    assert r.status == 200, r


def test_sigterm_hands_leadership_over(make):
    c = make(3)
    leader = c.leader()
    t0 = time.monotonic()
    leader.kill(signal.SIGTERM)
    assert leader.proc.returncode == 0, leader.proc.returncode
    new = c.leader()
    assert new is not leader
    assert time.monotonic() - t0 < 15
    r = new.api("PUT", "/v1/files/after-handover", "ok")
    assert r.status == 200, r


def test_sigterm_stops_a_leader_that_lost_its_quorum(make):
    c = make(3)
    leader = c.leader()
    for a in c.agents:
        if a is not leader:
            a.kill(signal.SIGKILL)
    t0 = time.monotonic()
    leader.kill(signal.SIGTERM)
    assert leader.proc.returncode == 0, leader.proc.returncode
    assert time.monotonic() - t0 < 10


def test_raft_port_rejects_peers_without_the_secret(make):
    c = make(3)
    leader = c.leader()
    host, port = leader.raft.split(":")
    for payload in [b"", b"GARBAGE" * 100, b"LGS1" + b"\0" * 32 + b"\0" * 8 + b"\xff\xff"]:
        s = socket.create_connection((host, int(port)), timeout=5)
        try:
            s.recv(36)
            if payload:
                s.sendall(payload)
            s.settimeout(6)
            # The agent drops us: EOF (or reset) rather than raft traffic.
            data = s.recv(100)
            assert data in (b"",), data
        except (ConnectionResetError, socket.timeout):
            pass
        finally:
            s.close()
    r = leader.api("PUT", "/v1/files/after", "still fine")
    assert r.status == 200, r
    c.converged()


def test_count_spreads_copies_over_the_nodes_in_one_command(make):
    c = make(3)
    a = c.agents[2]  # through a follower or the leader
    before = a.api("GET", "/v1/status").json()["applied_index"]
    r = a.api("POST", "/v1/procs?wait=1",
              {"argv": ["/bin/sh", "-c", "echo $LOGOS_PID"], "count": 9})
    assert r.status == 200, r
    body = r.json()
    procs = body["procs"]
    pids = [p["pid"] for p in procs]
    # Consecutive pids, all ended, each with its own output.
    assert pids == list(range(pids[0], pids[0] + 9)), body
    assert all(p["state"] == "exited" and p["exit_code"] == 0 for p in procs), body
    for p in procs:
        out = a.api("GET", "/v1/procs/%d/output" % p["pid"])
        assert out.body == b"%d\n" % p["pid"], (p, out)
    # From equal loads, least load spreads them evenly.
    per = {}
    for p in procs:
        per[p["node"]] = per.get(p["node"], 0) + 1
    assert per == {"h1": 3, "h2": 3, "h3": 3}, body
    # One proc.submit command in the log for the nine.
    entries = a.api("GET", "/v1/log?from=%d&limit=1000" % (before + 1)).json()["entries"]
    submits = [e for e in entries if e["type"] == "proc.submit"]
    assert len(submits) == 1 and submits[0]["index"] == body["index"], entries
    # On a named node: all there.
    r = a.api("POST", "/v1/procs", {"argv": ["/bin/true"], "node": "h2", "count": 4})
    assert r.status == 200 and len(r.json()["pids"]) == 4, r
    assert set(r.json()["nodes"]) == {c.agents[1].status()["node"]["id"]}, r
    c.converged()


def test_count_burst_runs_every_copy_once(make):
    # A burst larger than a reconciler pass starts (bounded per loop turn,
    # journaled in groups): every copy runs exactly once and ends.
    c = make(3)
    a = c.any()
    n = 600
    r = a.api("POST", "/v1/procs",
              {"argv": ["/bin/sh", "-c", "echo $LOGOS_PID $LOGOS_ATTEMPT"], "count": n})
    assert r.status == 200, r
    pids = r.json()["pids"]
    assert len(pids) == n, r

    def all_ended():
        ps = a.api("GET", "/v1/procs").json()["procs"]
        ours = [p for p in ps if p["pid"] in set(pids)]
        return len(ours) == n and all(p["state"] == "exited" for p in ours) and ours
    ours = wait_for("%d copies to end" % n, all_ended, timeout=120)
    assert all(p["attempt"] == 1 for p in ours), [p for p in ours if p["attempt"] != 1]
    for pid in pids[::37]:
        out = a.api("GET", "/v1/procs/%d/output" % pid)
        assert out.body == b"%d 1\n" % pid, (pid, out)
    c.converged()


def test_count_bad_input_is_400_and_changes_nothing(make):
    c = make(1)
    a = c.any()
    first = a.api("POST", "/v1/procs", {"argv": ["/bin/true"]}).json()["pids"][0]
    for count in (0, -1, 10001, "3", 2.5, True, None):
        r = a.api("POST", "/v1/procs", {"argv": ["/bin/true"], "count": count})
        assert r.status == 400, (count, r)
        assert "count" in r.json()["message"], (count, r)
    r = a.api("POST", "/v1/procs", {"argv": ["/bin/true"], "placement": "all", "count": 2})
    assert r.status == 400 and "count" in r.json()["message"], r
    # Nothing was submitted: the next pid follows the first.
    r = a.api("POST", "/v1/procs", {"argv": ["/bin/true"], "count": 10000})
    assert r.status == 200 and r.json()["pids"][0] == first + 1, r
    assert len(r.json()["pids"]) == 10000, len(r.json()["pids"])


def test_bad_input_gets_4xx_and_agents_stay_up(make):
    c = make(1)
    a = c.any()
    cases = [
        ("POST", "/v1/procs", b"{not json", 400),
        ("POST", "/v1/procs", b'{"argv": "ls"}', 400),
        ("POST", "/v1/procs", b'{"argv": []}', 400),
        ("POST", "/v1/procs", b'{"argv": ["ls"], "bogus": 1}', 400),
        ("POST", "/v1/procs", b'{"argv": ["ls"], "restart": "sometimes"}', 400),
        ("POST", "/v1/procs", b'{"argv": ["ls"], "node": "nosuchnode"}', 404),
        ("GET", "/v1/procs/abc", None, 400),
        ("GET", "/v1/procs/0", None, 400),
        ("GET", "/v1/procs/99999999999999999999999", None, 400),
        ("GET", "/v1/procs/424242", None, 404),
        ("POST", "/v1/procs/424242/kill", b"{}", 404),
        ("PUT", "/v1/files/a/../b", b"x", 400),
        ("PUT", "/v1/files/a%00b", b"x", 400),
        ("PUT", "/v1/files/", b"x", 404),
        ("GET", "/v1/files/nothing/here", None, 404),
        ("POST", "/v1/queues/bad%20name", b"x", 400),
        ("GET", "/v1/nosuch", None, 404),
        ("DELETE", "/v1/status", None, 405),
        ("POST", "/v1/rewind", b'{"index": "x"}', 400),
        ("POST", "/v1/rewind", b'{"index": 99999999}', 400),
        ("GET", "/v1/status?at=banana", None, 400),
        ("POST", "/v1/nodes", b'{"name": "x", "raft": "1.2.3.4:1", "http": "1.2.3.4:2", "token": "bad"}', 403),
        ("POST", "/v1/internal/propose", b"x", 403),
    ]
    for method, path, body, want in cases:
        r = a.api(method, path, body)
        assert r.status == want, (method, path, r)
        assert "error" in r.json() and r.json()["message"], (method, path, r)
    # An oversized body is refused from its headers (413), before it is read.
    host, port = a.http.split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(b"PUT /v1/files/big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
              % (3 << 20))
    s.sendall(b"x" * 65536)
    head = s.recv(200)
    s.close()
    assert head.startswith(b"HTTP/1.1 413"), head
    assert a.alive()
    assert a.api("GET", "/v1/status").status == 200


def metrics(a):
    r = a.api("GET", "/metrics")
    assert r.status == 200, r
    out = {}
    for line in r.body.decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def live_index_matches(c, a):
    """The reconciler's index of a's live processes (agent/reconcile.c)
    against a walk of the procs table: an audit walk that began after now
    found none missing, and once the passes caught up the index holds
    exactly the processes pending or running on a."""
    first = metrics(a)["logos_live_audits_total"]
    wait_for("an audit walk on %s" % a.name,
             lambda: metrics(a)["logos_live_audits_total"] >= first + 2, timeout=30)
    assert metrics(a)["logos_live_missed_total"] == 0, a.name

    def exact():
        ps = a.api("GET", "/v1/procs").json()["procs"]
        want = len([p for p in ps if p["node"] == a.name
                    and p["state"] in ("pending", "running")])
        got = metrics(a)["logos_live"]
        return got == want and (got, want)
    wait_for("the index of %s to hold its live processes" % a.name, exact)


def test_live_index_follows_the_procs_table(make):
    # Placements, exits, kills, restarts, a rewind and a snapshot: after
    # each, every agent's index equals what a walk of the procs table says.
    c = make(3, extra=["--snapshot-threshold", "64"])
    leader = c.leader()
    f = [x for x in c.agents if x is not leader][0]
    r = leader.api("POST", "/v1/procs?wait=1", {"argv": ["/bin/true"], "count": 30})
    assert r.status == 200, r
    r = leader.api("POST", "/v1/procs", {"argv": ["/bin/sleep", "600"], "node": f.name,
                                         "count": 3})
    s1, s2, s3 = r.json()["pids"]
    r = leader.api("POST", "/v1/procs?wait=1", {"argv": ["/bin/false"], "node": f.name,
                                                "restart": "on-failure:2"})
    assert r.json()["procs"][0]["state"] == "failed", r
    for pid in (s1, s2, s3):
        wait_for("the process to run", lambda: proc(leader, pid)["state"] == "running")
    n = leader.api("GET", "/v1/status").json()["applied_index"]
    assert leader.api("POST", "/v1/procs/%d/kill" % s1, {}).status == 200
    wait_for("the kill", lambda: proc(leader, s1)["state"] == "killed")
    for a in c.agents:
        live_index_matches(c, a)
    # A rewind to when s1 ran: its row is running again, with no effect to
    # say so; its process is gone, so its agent reports it lost.
    r = leader.api("POST", "/v1/rewind", {"index": n})
    assert r.status == 200, r
    wait_for("the rewound process reported lost", lambda: proc(leader, s1)["state"] == "lost")
    for a in c.agents:
        live_index_matches(c, a)
    # A follower that comes back behind a snapshot.
    f.kill(signal.SIGTERM)
    for i in range(150):
        assert leader.api("PUT", "/v1/files/s/%d" % (i % 10), "v%d" % i).status == 200
    f.start()
    wait_for("the follower to come back", f.ready)
    c.converged(timeout=60)
    live_index_matches(c, f)
    # And it still starts what is placed on it.
    r = leader.api("POST", "/v1/procs", {"argv": ["/bin/sleep", "600"], "node": f.name})
    pid = r.json()["pids"][0]
    wait_for("the process to run", lambda: proc(leader, pid)["state"] == "running")
    live_index_matches(c, f)
    c.converged()
def test_forwarded_writes_share_one_connection(make):
    """Many concurrent writes sent to a follower all get their own result,
    and reach the leader in batches over one kept-alive connection, not one
    TCP connection each."""
    c = make(3)
    leader = c.leader()
    f = [a for a in c.agents if a is not leader][0]
    conns0 = metric(f, "logos_forward_connections_total")
    batches0 = metric(f, "logos_forward_batches_total")
    results = {}

    def writer(t):
        for i in range(40):
            path = "/fwd/%d/%d" % (t, i)
            # Every third write must not exist yet and does: its own 409.
            q = "?if_version=0" if i % 3 == 0 else ""
            if i % 3 == 0:
                f.api("PUT", "/v1/files" + path, "first")
            results[path] = f.api("PUT", "/v1/files" + path + q, "v-%d-%d" % (t, i))

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writes = 16 * 40 + 16 * 14
    for path, r in results.items():
        i = int(path.rsplit("/", 1)[1])
        if i % 3 == 0:
            assert r.status == 409, (path, r)
        else:
            assert r.status == 200 and r.json()["version"] == 1, (path, r)
    for path, r in results.items():
        t, i = path.split("/")[2:4]
        want = b"first" if int(i) % 3 == 0 else b"v-%s-%s" % (t.encode(), i.encode())
        got = f.api("GET", "/v1/files" + path)
        assert got.status == 200 and got.body == want, (path, got)
    conns = metric(f, "logos_forward_connections_total") - conns0
    batches = metric(f, "logos_forward_batches_total") - batches0
    assert 1 <= conns <= 2, conns
    assert batches < writes, (batches, writes)
    assert metric(leader, "logos_forward_connections_total") == 0


def test_follower_reads_share_read_indexes_on_one_connection(make):
    """Linearizable reads at a follower, each after a write the leader
    acknowledged, all see that write; concurrent ones share a read index, and
    the requests for them go on one kept-alive connection."""
    c = make(3)
    leader = c.leader()
    f = [a for a in c.agents if a is not leader][0]
    conns0 = metric(f, "logos_read_index_connections_total")
    reqs0 = metric(f, "logos_read_index_requests_total")
    errors = []

    def reader(t):
        for i in range(30):
            path = "/v1/files/lin/%d/%d" % (t, i)
            w = leader.api("PUT", path, "v%d" % i)
            if w.status != 200:
                errors.append((path, "write", w))
                continue
            r = f.api("GET", path)
            if r.status != 200 or r.body != b"v%d" % i:
                errors.append((path, "read", r))

    threads = [threading.Thread(target=reader, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]
    reads = 16 * 30
    reqs = metric(f, "logos_read_index_requests_total") - reqs0
    conns = metric(f, "logos_read_index_connections_total") - conns0
    assert 1 <= reqs < reads, (reqs, reads)
    assert 1 <= conns <= 2, conns
    assert metric(leader, "logos_read_index_requests_total") == 0


def test_forwarded_large_writes_fit_the_leaders_body_limit(make):
    """Files of almost 1 MiB written through a follower at once: batched,
    they would exceed the leader's 2 MiB limit on a request body; each batch
    stays under it, and every write commits."""
    c = make(3)
    leader = c.leader()
    f = [a for a in c.agents if a is not leader][0]
    data = {i: bytes([65 + i]) * (1000 * 1000) for i in range(8)}
    results = {}

    def writer(i):
        results[i] = f.api("PUT", "/v1/files/big/%d" % i, data[i], timeout=60)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, r in results.items():
        assert r.status == 200, (i, r)
    for i in data:
        r = f.api("GET", "/v1/files/big/%d" % i)
        assert r.status == 200 and r.body == data[i], (i, r.status, len(r.body))


def test_follower_stops_with_forwards_in_flight(make):
    """SIGTERM to a follower while its clients' writes are queued and in
    flight to the leader: the follower cancels them (503, or the connection
    closes), closes its connection to the leader and exits 0."""
    c = make(3)
    leader = c.leader()
    f = [a for a in c.agents if a is not leader][0]
    stop = threading.Event()
    statuses = []
    started = threading.Event()

    def writer(t):
        i = 0
        while not stop.is_set():
            try:
                r = f.api("PUT", "/v1/files/stop/%d/%d" % (t, i), "v", timeout=30)
                statuses.append(r.status)
                if r.status == 200 and i > 10:
                    started.set()
            except Exception:
                statuses.append(None)  # refused or closed: the agent is gone
                stop.wait(0.01)
            i += 1

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    assert started.wait(20), statuses[-5:]
    f.proc.send_signal(signal.SIGTERM)
    try:
        code = f.proc.wait(timeout=20)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=40)
    assert code == 0, code
    assert set(statuses) <= {200, 503, None}, sorted(set(statuses), key=str)
    # The others go on.
    r = leader.api("PUT", "/v1/files/stop/after", "x")
    assert r.status == 200, r


def test_forwarded_writes_across_a_leader_change(make):
    """The leader is killed while a follower has forwards queued and in
    flight: every write is answered (200, or 503/504: outcome unknown, as
    before), every acknowledged write is kept, and the follower forwards to
    the new leader on a new connection."""
    c = make(3, down_after=1500)
    leader = c.leader()
    f = [a for a in c.agents if a is not leader][0]
    acked = {}
    statuses = []
    stop = threading.Event()

    def writer(t):
        i = 0
        while not stop.is_set():
            path = "/lc/%d/%d" % (t, i)
            r = f.api("PUT", "/v1/files" + path, "v%d" % i, timeout=30)
            statuses.append(r.status)
            if r.status == 200:
                acked[path] = b"v%d" % i
            i += 1

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    wait_for("writes before the kill", lambda: len(acked) >= 200)
    conns = metric(f, "logos_forward_connections_total")
    leader.kill()
    before = len(acked)
    wait_for("writes after the kill", lambda: len(acked) >= before + 200, timeout=30)
    stop.set()
    for t in threads:
        t.join(timeout=40)
        assert not t.is_alive(), "a write was never answered"
    assert set(statuses) <= {200, 503, 504}, sorted(set(statuses))
    new = c.leader()
    if new is not f:
        assert metric(f, "logos_forward_connections_total") > conns
    c.converged()
    for path, v in acked.items():
        r = new.api("GET", "/v1/files" + path)
        assert r.status == 200 and r.body == v, (path, r)


if __name__ == "__main__":
    sys.exit(run([
        test_bootstrap_and_join,
        test_run_on_each_node_wait_and_output,
        test_output_follow_streams_live,
        test_large_output_in_order_up_to_cap,
        test_leader_failover_keeps_acknowledged_writes,
        test_idempotency_keys,
        test_rewind_and_time_travel,
        test_agent_restart_marks_attempts_lost_and_restarts,
        test_rewind_stops_processes_started_after_the_target,
        test_lost_voter_is_replaced_by_a_standby,
        test_join_right_after_init_gets_its_own_id,
        test_removed_node_leaves_raft,
        test_restart_from_a_snapshot,
        test_node_that_lost_its_raft_log_refuses_to_rejoin,
        test_killed_follower_catches_up_in_groups,
        test_paused_leader_does_not_mark_others_down,
        test_sigterm_hands_leadership_over,
        test_sigterm_stops_a_leader_that_lost_its_quorum,
        test_raft_port_rejects_peers_without_the_secret,
        test_count_spreads_copies_over_the_nodes_in_one_command,
        test_count_burst_runs_every_copy_once,
        test_count_bad_input_is_400_and_changes_nothing,
        test_bad_input_gets_4xx_and_agents_stay_up,
        test_live_index_follows_the_procs_table,
        test_forwarded_writes_share_one_connection,
        test_follower_reads_share_read_indexes_on_one_connection,
        test_forwarded_large_writes_fit_the_leaders_body_limit,
        test_follower_stops_with_forwards_in_flight,
        test_forwarded_writes_across_a_leader_change,
    ]))
