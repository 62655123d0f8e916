#!/usr/bin/env python3
"""Helpers of bench/run-all (Python 3 standard library only).

  lbench.py ports N                      N free TCP ports on 127.0.0.1
  lbench.py wait-logos DEADLINE PORT...  until the agents agree on a leader,
                                         list all as voters that are up, and
                                         have applied as far as the leader
  lbench.py wait-etcd DEADLINE PORT...   until every member answers /health
  lbench.py leader PORT...               the HTTP port of the logos leader
  lbench.py etcd-leader PORT...          the client port of the etcd leader
  lbench.py hist-init PORT N             put files h/0..N-1 (32-byte values)
  lbench.py applied PORT                 the applied index of one agent
  lbench.py wait-applied DEADLINE PORT INDEX [PID]
                                         until that agent has applied INDEX;
                                         prints the seconds waited
  lbench.py prefill SYSTEM PORT N        put keys 0..N-1 (as kv.lua writes them)
  lbench.py launch PORT N OUT            N sequential POST /v1/procs?wait=1 of
                                         /bin/true, each timed
  lbench.py submit-one PORT              one detached /bin/true; prints its pid
  lbench.py wait-idle DEADLINE PORT      until no process is pending or running
  lbench.py asof PORT N KEYS FROM OUT LABEL
                                         N reads of h/KEY ?at= a random index in
                                         [FROM, applied], and N plain reads
  lbench.py rewind PORT INDEX ROWS OUT   POST /v1/rewind, timed
  lbench.py cli OUT LABEL N CMD...       N runs of a command, each timed
  lbench.py rss OUT LABEL FIELD PID...   VmRSS or VmHWM of processes, KiB
  lbench.py logtail OUT NAME FILE        the end of a log, as a note
  lbench.py record OUT JSON              append one figure line
  lbench.py report JSONL MACHINE         the markdown report on stdout
Figures are appended as JSON lines to OUT; `report` renders them.
"""
import base64
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import time

HOST = "127.0.0.1"


def die(msg):
    sys.stderr.write("lbench: " + msg + "\n")
    sys.exit(1)


def request(port, method, path, body=None, headers=None, timeout=10.0):
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def get_json(port, path):
    status, body = request(port, "GET", path, timeout=2.0)
    if status != 200:
        raise OSError("%s: HTTP %d" % (path, status))
    return json.loads(body)


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[i]


def append(out, rec):
    with open(out, "a") as f:
        f.write(json.dumps(rec) + "\n")


def cmd_ports(n):
    socks, ports = [], []
    for _ in range(int(n)):
        s = socket.socket()
        s.bind((HOST, 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    print(" ".join(map(str, ports)))


def poll(deadline, what, fn):
    end = time.monotonic() + float(deadline)
    last = None
    while time.monotonic() < end:
        try:
            v = fn()
            if v is not None:
                return v
        except (OSError, ValueError, KeyError, http.client.HTTPException) as e:
            last = e
        time.sleep(0.05)
    die("timed out after %ss waiting for %s%s" % (deadline, what, " (%s)" % last if last else ""))


def logos_leader(ports):
    leaders = set()
    for p in ports:
        st = get_json(p, "/v1/status")
        leaders.add(st["leader"]["id"])
        if st["is_leader"]:
            lp = p
    if len(leaders) != 1 or None in leaders:
        return None
    return lp


def cmd_wait_logos(deadline, *ports):
    ports = [int(p) for p in ports]

    def ready():
        lp = logos_leader(ports)
        if lp is None:
            return None
        nodes = get_json(lp, "/v1/nodes")["nodes"]
        if len([n for n in nodes if n["role"] == "voter" and n["state"] == "up"]) != len(ports):
            return None
        target = get_json(lp, "/v1/status")["applied_index"]
        for p in ports:
            if get_json(p, "/v1/status")["applied_index"] < target:
                return None
        return lp

    print(poll(deadline, "the logos agents", ready))


def cmd_wait_etcd(deadline, *ports):
    def ready():
        for p in ports:
            if json.loads(request(int(p), "GET", "/health", timeout=2.0)[1]).get("health") != "true":
                return None
        return True

    poll(deadline, "the etcd members", ready)


def cmd_leader(*ports):
    print(poll(10, "a logos leader", lambda: logos_leader([int(p) for p in ports])))


def cmd_etcd_leader(*ports):
    """The client port of the etcd leader (POST /v3/maintenance/status)."""
    def find():
        for p in ports:
            st = json.loads(request(int(p), "POST", "/v3/maintenance/status", "{}", timeout=2.0)[1])
            if st.get("leader") and st["leader"] == st["header"]["member_id"]:
                return p
        return None

    print(poll(10, "an etcd leader", find))


def put_retrying(conn, method, path, body, headers, what):
    """One write; a 503 (no leader for the moment: an election) is retried
    for up to 30 s, anything else but 200 ends the run."""
    end = time.monotonic() + 30
    while True:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        r.read()
        if r.status == 200:
            return
        if r.status != 503 or time.monotonic() > end:
            die("%s: HTTP %d" % (what, r.status))
        time.sleep(0.1)


def cmd_hist_init(port, n):
    conn = http.client.HTTPConnection(HOST, int(port), timeout=10)
    for i in range(int(n)):
        put_retrying(conn, "PUT", "/v1/files/h/%08x" % i, b"v" * 32, {}, "hist-init")
    conn.close()


def cmd_applied(port):
    print(get_json(int(port), "/v1/status")["applied_index"])


def cmd_wait_applied(deadline, port, index, pid=None):
    t0 = time.monotonic()

    def done():
        if pid and not os.path.exists("/proc/%s/stat" % pid) or pid and open("/proc/%s/stat" % pid).read().split()[2] == "Z":
            die("the agent (pid %s) exited" % pid)
        return True if get_json(int(port), "/v1/status")["applied_index"] >= int(index) else None

    poll(deadline, "index %s on port %s" % (index, port), done)
    print("%.3f" % (time.monotonic() - t0))


def cmd_prefill(system, port, n):
    conn = http.client.HTTPConnection(HOST, int(port), timeout=10)
    value = b"0123456789abcdef" * 16
    for i in range(int(n)):
        k = "%08x" % i
        if system == "etcd":
            body = json.dumps({"key": base64.b64encode(k.encode()).decode(),
                               "value": base64.b64encode(value).decode()})
            put_retrying(conn, "POST", "/v3/kv/put", body, {"Content-Type": "application/json"},
                         "prefill etcd " + k)
        else:
            put_retrying(conn, "PUT", "/v1/files/k/" + k, value, {}, "prefill logos " + k)
    conn.close()


RETRIED = [0]


def timed_requests(port, n, method, path_fn, body=None, check=None):
    """n requests, one at a time; returns their latencies in ms. A 503 (no
    leader for the moment: an election) is not a figure: the request is made
    again after 0.1 s, for up to 30 s, and counted in RETRIED."""
    conn = http.client.HTTPConnection(HOST, int(port), timeout=30)
    lat = []
    for i in range(n):
        path = path_fn(i)
        end = time.monotonic() + 30
        while True:
            t0 = time.perf_counter_ns()
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
            r = conn.getresponse()
            data = r.read()
            if r.status != 503 or time.monotonic() > end:
                break
            RETRIED[0] += 1
            time.sleep(0.1)
        lat.append((time.perf_counter_ns() - t0) / 1e6)
        if check:
            check(r.status, data)
    conn.close()
    return lat


def summary(lat):
    s = sorted(lat)
    rec = {"n": len(s), "p50_ms": round(pct(s, 50), 4), "p99_ms": round(pct(s, 99), 4),
           "mean_ms": round(sum(s) / len(s), 4), "max_ms": round(s[-1], 4)}
    if RETRIED[0]:
        rec["retried_503"] = RETRIED[0]
        RETRIED[0] = 0
    return rec


def cmd_launch(port, n, out):
    def check(status, data):
        if status != 200:
            die("launch: HTTP %d %r" % (status, data[:200]))
        procs = json.loads(data)["procs"]
        if procs[0]["state"] != "exited" or procs[0]["exit_code"] != 0:
            die("launch: %r" % procs)

    body = json.dumps({"argv": ["/bin/true"]})
    timed_requests(port, 10, "POST", lambda i: "/v1/procs?wait=1", body, check)  # warm-up
    rec = summary(timed_requests(port, int(n), "POST", lambda i: "/v1/procs?wait=1", body, check))
    rec.update(kind="launch", system="logos", label="launch-to-exit, POST /v1/procs?wait=1")
    append(out, rec)
    print("launch-to-exit: p50 %.3f ms, p99 %.3f ms" % (rec["p50_ms"], rec["p99_ms"]))


def cmd_submit_one(port):
    status, data = request(int(port), "POST", "/v1/procs", json.dumps({"argv": ["/bin/true"]}),
                           {"Content-Type": "application/json"})
    if status != 200:
        die("submit: HTTP %d %r" % (status, data[:200]))
    d = json.loads(data)
    print(d["pids"][0], d["index"])


def cmd_wait_idle(deadline, port):
    def idle():
        busy = 0
        for line in request(int(port), "GET", "/metrics", timeout=5)[1].decode().splitlines():
            if line.startswith('logos_procs{state="pending"}') or line.startswith('logos_procs{state="running"}'):
                busy += int(float(line.split()[-1]))
        return True if busy == 0 else None

    t0 = time.monotonic()
    poll(deadline, "the processes to end", idle)
    print("%.3f" % (time.monotonic() - t0))


def cmd_asof(port, n, keys, frm, out, label):
    n, keys, frm = int(n), int(keys), int(frm)
    top = get_json(int(port), "/v1/status")["applied_index"]
    rnd = random.Random(1)
    paths = ["/v1/files/h/%08x?at=%d" % (rnd.randrange(keys), rnd.randint(frm, top)) for _ in range(n)]

    def check(status, data):
        if status != 200:
            die("as-of read: HTTP %d %r" % (status, data[:200]))

    asof = summary(timed_requests(port, n, "GET", lambda i: paths[i], None, check))
    plain = summary(timed_requests(port, n, "GET", lambda i: "/v1/files/h/%08x?stale=1" % rnd.randrange(keys),
                                   None, check))
    asof.update(kind="asof", system="logos", label=label, read="as of", indexes=top - frm)
    plain.update(kind="asof", system="logos", label=label, read="latest, ?stale=1", indexes=top - frm)
    append(out, asof)
    append(out, plain)
    print("%s: as-of p50 %.3f ms p99 %.3f ms; latest p50 %.3f ms" % (label, asof["p50_ms"], asof["p99_ms"],
                                                                      plain["p50_ms"]))


def cmd_rewind(port, index, rows, out):
    end = time.monotonic() + 30
    while True:
        t0 = time.perf_counter()
        status, data = request(int(port), "POST", "/v1/rewind", json.dumps({"index": int(index)}),
                               {"Content-Type": "application/json"}, timeout=120)
        ms = (time.perf_counter() - t0) * 1000
        if status != 503 or time.monotonic() > end:
            break
        time.sleep(0.1)  # an election: not a figure
    if status != 200:
        die("rewind: HTTP %d %r" % (status, data[:300]))
    append(out, {"kind": "rewind", "system": "logos", "rows": int(rows), "ms": round(ms, 1),
                 "label": "POST /v1/rewind"})
    print("rewind of %s rows: %.1f ms" % (rows, ms))


def cmd_cli(out, label, n, *argv):
    lat = []
    for _ in range(int(n) + 3):
        t0 = time.perf_counter_ns()
        r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        lat.append((time.perf_counter_ns() - t0) / 1e6)
        if r.returncode != 0:
            die("%s: exit %d: %s" % (" ".join(argv), r.returncode, r.stderr.decode()[:300]))
    rec = summary(lat[3:])
    rec.update(kind="cli", label=label, system=label.split()[0])
    append(out, rec)
    print("%s: p50 %.2f ms" % (label, rec["p50_ms"]))


def cmd_rss(out, label, field, *pids):
    vals, anon, files = [], [], []
    for pid in pids:
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    vals.append(int(line.split()[1]))
                elif line.startswith("RssAnon:"):
                    anon.append(int(line.split()[1]))
                elif line.startswith("RssFile:") or line.startswith("RssShmem:"):
                    files.append(int(line.split()[1]))
    append(out, {"kind": "rss", "label": label, "field": field, "kib": vals,
                 "anon_kib": anon, "file_kib": [files[i] + files[i + 1] for i in range(0, len(files), 2)],
                 "system": label.split()[0]})
    print("%s %s: %s KiB" % (label, field, vals))


def cmd_logtail(out, name, path):
    lines = [l.strip() for l in open(path, errors="replace").readlines()[-6:]]
    append(out, {"kind": "note", "text": "%s, last lines of its log: %s" % (name, " / ".join(
        "`%s`" % l.replace("`", "'") for l in lines))})


def cmd_record(out, js):
    append(out, json.loads(js))


# ---------------------------------------------------------------- report

def fmt(v, nd=2):
    if v is None:
        return "–"
    if isinstance(v, float) and v >= 100:
        return "{:,.0f}".format(v)
    if isinstance(v, int):
        return "{:,}".format(v)
    return ("{:.%df}" % nd).format(v)


def ratio(a, b):
    if not a or not b:
        return "–"
    return "%.2f×" % (a / b)


def cmd_report(jsonl, machine):
    recs = [json.loads(l) for l in open(jsonl) if l.strip()]
    m = json.load(open(machine))
    o = []
    w = o.append
    w("# Side by side with etcd: %s (%s run)\n" % (m["date"], m["mode"]))
    w("| | |\n|---|---|")
    for k in ("machine", "cpu", "memory", "kernel", "tmp", "logos", "build", "libraft", "lmdb", "etcd", "wrk",
              "load", "run"):
        if k in m:
            w("| %s | %s |" % (k, m[k]))
    w("")
    w("All on 127.0.0.1, three members each; every figure from the same %s and the same kv.lua "
      "request shape (8-byte keys, 256-byte values). The machine was shared with other engineers' "
      "builds and tests during the run: figures move between runs.\n" % m.get("wrk", ""))

    wrk = [r for r in recs if r["kind"] == "wrk" and r["label"].startswith(("write", "read"))]
    by = {}
    for r in wrk:
        by[(r["label"], r["system"])] = r
    labels = []
    for r in wrk:
        if r["label"] not in labels:
            labels.append(r["label"])
    w("## Writes and reads (wrk, %s s each)\n" % m.get("duration", "?"))
    w("| test | logos req/s | etcd req/s | ratio | logos p50 ms | etcd p50 ms | p50 ratio | "
      "logos p99 ms | etcd p99 ms | errors (logos/etcd) |")
    w("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    def errs(r):
        if not r:
            return "–"
        if r["errors"] and r.get("bad_status"):
            return "%d (HTTP %d)" % (r["errors"], r["bad_status"])
        return str(r["errors"])

    for lab in labels:
        lg, ed = by.get((lab, "logos")), by.get((lab, "etcd"))
        g = lambda r, k: r[k] if r else None
        w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s/%s |" % (
            lab, fmt(g(lg, "rps")), fmt(g(ed, "rps")), ratio(g(lg, "rps"), g(ed, "rps")),
            fmt(g(lg, "p50_ms")), fmt(g(ed, "p50_ms")), ratio(g(lg, "p50_ms"), g(ed, "p50_ms")),
            fmt(g(lg, "p99_ms")), fmt(g(ed, "p99_ms")),
            errs(lg), errs(ed)))
    w("")

    w("## Processes\n")
    w("| measurement | n | p50 ms | p99 ms | mean ms | max ms |")
    w("|---|--:|--:|--:|--:|--:|")
    for r in recs:
        if r["kind"] in ("launch", "forkexec"):
            w("| %s | %d | %s | %s | %s | %s |" % (r["label"], r["n"], fmt(r["p50_ms"], 3), fmt(r["p99_ms"], 3),
                                                  fmt(r["mean_ms"], 3), fmt(r["max_ms"], 3)))
    for r in recs:
        if r["kind"] == "sched":
            w("\nScheduling%s: %s placements committed in %.1f s = **%s placements/s** "
              "(wrk: %s answers/s, p50 %s ms, p99 %s ms, %d errors; %s). %s" % (
                  " (%s)" % r["label"] if r.get("label") else "", fmt(r["placements"]), r["seconds"], fmt(r["rate"]), fmt(r["rps"]), fmt(r["p50_ms"]),
                  fmt(r["p99_ms"]), r["errors"], r.get("entries", ""), r.get("note", "")))
    w("")

    asof = [r for r in recs if r["kind"] == "asof"]
    if asof:
        w("## Time travel\n")
        w("| read | history entries | p50 ms | p99 ms | mean ms |")
        w("|---|--:|--:|--:|--:|")
        for r in asof:
            retried = " (%d answers 503 during an election, retried)" % r["retried_503"] if r.get("retried_503") else ""
            w("| %s%s | %s | %s | %s | %s |" % (r["read"], retried, r["label"], fmt(r["p50_ms"], 3),
                                               fmt(r["p99_ms"], 3), fmt(r["mean_ms"], 3)))
        w("\n(each read one HTTP request over a kept-alive connection from a Python client, "
          "its overhead included: compare the two lines, not the absolute figure with the store's µs.)\n")
    for r in recs:
        if r["kind"] == "rewind":
            w("- Rewind of %s changed rows: **%s ms** to the answer of POST /v1/rewind." % (fmt(r["rows"]),
                                                                                          fmt(r["ms"], 1)))
        if r["kind"] == "catchup":
            what = "%s log entries" % fmt(r["entries"])
            if r.get("commands"):
                what += " (%s writes)" % fmt(r["commands"])
            w("- Catch-up, %s: %s applied up to the leader's index in %.2f s from the start of the "
              "agent = **%s entries/s** (%s)." % (r.get("label", "restarted follower"), what, r["seconds"],
                                                  fmt(r["rate"]), r.get("note", "")))
    w("")
    rss = [r for r in recs if r["kind"] == "rss"]
    cli = [r for r in recs if r["kind"] == "cli"]
    if rss or cli:
        w("## Memory and the command line\n")
        w("| measurement | value |")
        w("|---|---|")
        for r in rss:
            split = ""
            if r["field"] == "VmRSS" and r.get("anon_kib"):
                split = "; anonymous %s, file-backed (LMDB map, binary, libraries) %s" % (
                    " / ".join("%.1f" % (k / 1024) for k in r["anon_kib"]),
                    " / ".join("%.1f" % (k / 1024) for k in r["file_kib"]))
            w("| %s (%s) | %s MiB%s |" % (r["label"], r["field"],
                                         " / ".join("%.1f" % (k / 1024) for k in r["kib"]), split))
        for r in cli:
            w("| %s, p50 / p99 | %s / %s ms |" % (r["label"], fmt(r["p50_ms"]), fmt(r["p99_ms"])))
        w("")
    for r in recs:
        if r["kind"] == "note":
            w("- " + r["text"])
    print("\n".join(o))


def main():
    if len(sys.argv) < 2:
        die("usage: see the top of bench/lbench.py")
    cmd = sys.argv[1].replace("-", "_")
    fn = globals().get("cmd_" + cmd)
    if fn is None:
        die("unknown command " + sys.argv[1])
    fn(*sys.argv[2:])


if __name__ == "__main__":
    main()
