#!/usr/bin/env python3
"""Integration tests of the shell, `logos` (DESIGN §1): the real binary run
with subprocess against real agents (a live 3-agent cluster per test): exit
codes, human output for known cases, --json carrying the same data, live
streaming of `run`, `run --all` prefixes, durable steps across a restart,
usage and connection errors, and the interactive shell through a pseudo-
terminal. Run: tests/integration/test_shell.py (LOGOS_TEST=substring runs
only matching tests)."""

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, free_port, run, wait_for  # noqa: E402

LOGOS = os.path.join(BUILD, "logos")


def logos(addr, *args, input=None, timeout=60, env=None):
    """Runs `logos --addr ADDR ARGS...`; returns (exit code, stdout, stderr)."""
    e = dict(os.environ)
    e.pop("LOGOS_ADDR", None)
    e.update(env or {})
    p = subprocess.run([LOGOS, "--addr", addr] + list(args), input=input,
                       capture_output=True, timeout=timeout, env=e)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def ok(addr, *args, **kw):
    rc, out, err = logos(addr, *args, **kw)
    assert rc == 0, (args, rc, out, err)
    return out


def as_json(addr, *args, **kw):
    rc, out, err = logos(addr, "--json", *args, **kw)
    assert rc == 0, (args, rc, out, err)
    return json.loads(out)


def test_cluster_files_queues_history(make):
    c = make(3)
    a = c.agents[1].http  # a follower or the leader: either serves everything

    out = ok(a, "status")
    assert re.search(r"^node +h2 \(id \d+\)$", out, re.M), out
    st = as_json(a, "status")
    assert st["node"]["name"] == "h2" and st["leader"]["name"] in out, (st, out)

    out = ok(a, "nodes")
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "ROLE", "STATE", "RAFT", "HTTP", "LEADER"], out
    names = sorted(l.split()[1] for l in lines[1:])
    assert names == ["h1", "h2", "h3"], out
    starred = [l.split()[1] for l in lines[1:] if l.rstrip().endswith("*")]
    nodes = as_json(a, "nodes")["nodes"]
    assert starred == [n["name"] for n in nodes if n["leader"]], (out, nodes)
    assert sorted(n["name"] for n in nodes) == names, nodes

    # Files: put from a file and from stdin, get, ls, compare-and-set, rm.
    tmp = tempfile.mkdtemp(prefix="logos-shell-")
    path = os.path.join(tmp, "app.conf")
    with open(path, "w") as f:
        f.write("port = 80\n")
    out = ok(a, "put", "/etc/app.conf", path)
    assert out.startswith("/etc/app.conf: version 1,"), out
    ok(a, "put", "/etc/other", "-", input=b"other\n")
    assert ok(a, "get", "/etc/app.conf") == "port = 80\n"
    g = as_json(a, "get", "/etc/app.conf")
    assert g["content"] == "port = 80\n" and g["version"] == 1, g
    rc, out, err = logos(a, "put", "/etc/app.conf", path, "--if-version", "7")
    assert rc == 1 and err.startswith("logos: ") and "version" in err, (rc, err)
    out = ok(a, "ls", "/etc")
    assert out.splitlines()[0].split()[:3] == ["PATH", "VERSION", "SIZE"], out
    assert [l.split()[0] for l in out.splitlines()[1:]] == ["/etc/app.conf", "/etc/other"], out
    files = as_json(a, "ls", "/etc")["files"]
    assert [f["path"] for f in files] == ["/etc/app.conf", "/etc/other"], files
    assert files[0]["size"] == 10, files
    before_rm = as_json(a, "status")["applied_index"]
    assert ok(a, "rm", "/etc/other").startswith("removed /etc/other")
    rc, out, err = logos(a, "get", "/etc/other")
    assert rc == 1 and "no file" in err, (rc, err)

    # Time travel: the removed file is there as of before the rm.
    assert ok(a, "at", str(before_rm), "get", "/etc/other") == "other\n"
    old = as_json(a, "at", str(before_rm), "ls", "/etc")["files"]
    assert len(old) == 2, old
    rc, out, err = logos(a, "at", str(before_rm), "rm", "/etc/app.conf")
    assert rc == 2 and "not a read command" in err, (rc, err)

    # Queues.
    assert ok(a, "send", "jobs", '{"n":1}').startswith("sent to jobs: seq 1")
    ok(a, "send", "jobs", "-", "--key", "k1", input=b"two")
    ok(a, "send", "jobs", "-", "--key", "k1", input=b"two")  # deduplicated
    out = ok(a, "queues")
    assert out.splitlines()[1].split()[:2] == ["jobs", "2"], out
    assert as_json(a, "queues")["queues"][0]["count"] == 2
    assert ok(a, "recv", "jobs") == '{"n":1}'
    m = as_json(a, "recv", "jobs", "--key", "r1")
    assert m["message"] == "two" and m["seq"] == 2, m
    t0 = time.monotonic()
    rc, out, err = logos(a, "recv", "jobs", "--wait", "1")
    assert rc == 1 and "no message" in err and time.monotonic() - t0 >= 0.9, (rc, err)

    # The log, diff, rewind.
    out = ok(a, "log", "--limit", "50")
    hdr = out.splitlines()[0].split()
    assert hdr == ["INDEX", "TIME", "ORIGIN", "COMMAND", "SUMMARY"], out
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +h\d +file\.put", out), out
    entries = as_json(a, "log", "--limit", "50")["entries"]
    assert any(e["type"] == "msg.send" for e in entries), entries
    now = as_json(a, "status")["applied_index"]
    out = ok(a, "diff", str(before_rm), str(now))
    assert re.search(r"^files +/etc/other +deleted", out, re.M), out
    d = as_json(a, "diff", str(before_rm), str(now))
    assert any(ch["table"] == "files" and ch["after"] is None for ch in d["changes"]), d
    out = ok(a, "rewind", str(before_rm), "--plan")
    assert "/etc/other" in out and "create" in out, out
    rc, out, err = logos(a, "rewind", str(before_rm))  # stdin is not a terminal
    assert rc == 2 and "refusing to rewind without --yes" in err, (rc, err)
    out = ok(a, "rewind", str(before_rm), "--yes")
    assert out.startswith("rewound the cluster to index %d" % before_rm), out
    wait_for("the rewind to apply", lambda: logos(a, "get", "/etc/other")[0] == 0)
    assert ok(a, "get", "/etc/other") == "other\n"


def test_run_ps_logs_wait_kill(make):
    c = make(3)
    a = c.agents[0].http

    # Exit codes, stdout and stderr apart.
    rc, out, err = logos(a, "run", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (rc, out, err) == (3, "out\n", "err\n"), (rc, out, err)
    rc, out, err = logos(a, "run", "--", "sh", "-c", "exit 0")
    assert rc == 0, (rc, err)
    rc, out, err = logos(a, "run", "--", "sh", "-c", "kill -TERM $$")
    assert rc == 128 + 15, (rc, err)
    # A program name without '/' is found in PATH by the agent.
    rc, out, err = logos(a, "run", "--on", "h3", "--env", "GREETING=hi", "--", "sh", "-c",
                         'echo "$GREETING from $LOGOS_PID"')
    assert rc == 0 and re.match(r"hi from \d+\n$", out), (rc, out, err)
    rc, out, err = logos(a, "--json", "run", "--", "sh", "-c", "echo j; exit 4")
    assert rc == 4 and json.loads(out)["procs"][0]["exit_code"] == 4, (rc, out, err)

    # --all: one run per node, lines prefixed by the node name.
    rc, out, err = logos(a, "run", "--all", "--", "sh", "-c", "echo line1; echo line2")
    assert rc == 0, (rc, err)
    lines = sorted(out.splitlines())
    assert lines == sorted("%s: line%d" % (h, i) for h in ("h1", "h2", "h3")
                           for i in (1, 2)), out
    rc, out, err = logos(a, "run", "--all", "--", "sh", "-c", "exit 5")
    assert rc != 0, rc

    # --count: N copies in one command, lines prefixed by node/pid, spread
    # over the nodes by least load.
    rc, out, err = logos(a, "run", "--count", "6", "--", "sh", "-c", "echo c$LOGOS_PID")
    assert rc == 0, (rc, out, err)
    seen = [re.match(r"(h\d)/(\d+): c(\d+)$", l) for l in out.splitlines()]
    assert len(seen) == 6 and all(m and m.group(2) == m.group(3) for m in seen), out
    pids = sorted(int(m.group(2)) for m in seen)
    assert pids == list(range(pids[0], pids[0] + 6)), out
    assert sorted({m.group(1) for m in seen}) == ["h1", "h2", "h3"], out
    rc, out, err = logos(a, "run", "--count", "3", "--", "sh", "-c", "exit 2")
    assert rc == 1, (rc, err)
    out = ok(a, "run", "--detach", "--count", "3", "--on", "h2", "--", "true")
    assert len(out.split()) == 3, out
    for bad in (["--count", "0"], ["--count", "10001"], ["--count", "x"],
                ["--count", "2", "--all"]):
        rc, out, err = logos(a, "run", *bad, "--", "true")
        assert rc == 2 and "count" in err, (bad, rc, err)

    # Live streaming: the first line comes before the program ends.
    p = subprocess.Popen([LOGOS, "--addr", a, "run", "--", "sh", "-c",
                          "echo first; sleep 2; echo second"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    start = time.monotonic()
    buf = b""
    while b"\n" not in buf and time.monotonic() - start < 10:
        r, _, _ = select.select([p.stdout], [], [], 0.1)
        if r:
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
    first_at = time.monotonic() - start
    assert buf.startswith(b"first\n"), buf
    assert p.poll() is None and first_at < 1.9, first_at
    rest = p.stdout.read()
    assert p.wait(timeout=20) == 0 and (buf + rest) == b"first\nsecond\n", buf + rest

    # --detach, ps, logs, wait, kill.
    out = ok(a, "run", "--detach", "--", "sh", "-c", "echo o1; echo e1 >&2; sleep 60")
    pid = int(out.strip())
    wait_for("pid %d to run" % pid,
             lambda: "running" in ok(a, "ps") and logos(a, "logs", "--stderr", str(pid))[2])
    out = ok(a, "ps")
    hdr = out.splitlines()[0].split()
    assert hdr == ["PID", "NODE", "STATE", "ATTEMPT", "EXIT", "AGE", "COMMAND"], out
    row = [l for l in out.splitlines() if l.split()[0] == str(pid)]
    assert row and row[0].split()[2] == "running", out
    assert all(l.split()[2] in ("running", "pending") for l in out.splitlines()[1:]), out
    assert len(ok(a, "ps", "--all").splitlines()) > len(out.splitlines())
    procs = as_json(a, "ps")["procs"]
    assert [p["pid"] for p in procs] == [pid], procs
    rc, out, err = logos(a, "logs", str(pid))
    assert (rc, out, err) == (0, "o1\n", "e1\n"), (rc, out, err)
    assert ok(a, "logs", "--stdout", str(pid)) == "o1\n"
    lj = as_json(a, "logs", str(pid))
    assert lj["stdout"] == "o1\n" and lj["stderr"] == "e1\n", lj
    w = subprocess.Popen([LOGOS, "--addr", a, "wait", str(pid)])
    f = subprocess.Popen([LOGOS, "--addr", a, "logs", "-f", str(pid)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.3)
    assert w.poll() is None and f.poll() is None
    out = ok(a, "kill", "-s", "KILL", str(pid))
    assert "process %d" % pid in out, out
    assert w.wait(timeout=20) == 128 + 9
    fo, fe = f.communicate(timeout=20)
    assert f.returncode == 0 and fo == b"o1\n" and fe == b"e1\n", (f.returncode, fo, fe)
    rc, out, err = logos(a, "wait", "999999")
    assert rc == 1 and "no process 999999" in err, (rc, err)

    # Ctrl-C forwards SIGINT to the program: it ends, we exit with its code.
    p = subprocess.Popen([LOGOS, "--addr", a, "run", "--", "sleep", "60"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for("sleep to run", lambda: "sleep 60" in ok(a, "ps"))
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 128 + 2, (p.returncode, err)
    assert b"sent SIGINT" in err, err


def test_step_replays_after_restart(make):
    c = make(3)
    a = c.agents[0].http
    d = tempfile.mkdtemp(prefix="logos-step-")
    script = os.path.join(d, "script.sh")
    with open(script, "w") as f:
        f.write("""L=%(logos)s
export D=%(dir)s
$L step s1 -- sh -c 'echo one; echo x >> $D/count1'
$L step s2 -- sh -c 'echo two; echo x >> $D/count2'
if [ ! -e $D/marker ]; then touch $D/marker; exit 1; fi
$L step s3 -- sh -c 'echo three; echo x >> $D/count3'
""" % {"logos": LOGOS, "dir": d})
    rc, out, err = logos(a, "run", "--restart", "on-failure", "--on", "h1", "--",
                         "sh", script)
    assert rc == 0, (rc, out, err)
    # Attempt 1 ran steps 1-2; attempt 2 replayed them and ran step 3.
    assert out == "one\ntwo\none\ntwo\nthree\n", out
    for n in (1, 2, 3):
        with open(os.path.join(d, "count%d" % n)) as f:
            assert f.read() == "x\n", n
    procs = as_json(a, "ps", "--all")["procs"]
    assert procs[-1]["attempt"] == 2 and procs[-1]["state"] == "exited", procs
    # Outside a logos program: a clear error, exit 2.
    rc, out, err = logos(a, "step", "x", "--", "true")
    assert rc == 2 and "LOGOS_PID" in err, (rc, err)


def test_usage_and_connection_errors(make):
    c = make(3)
    a = c.agents[2].http
    for args in (["bogus"], ["run"], ["ps", "extra"], ["logs"], ["wait", "x"],
                 ["kill"], ["diff", "1"], ["at", "x", "ps"], ["rewind"],
                 ["--timeout", "zero", "status"], ["--nope"], ["log", "--limit", "0"]):
        rc, out, err = logos(a, *args)
        assert rc == 2 and "usage: logos" in err, (args, rc, err)
    # Every command has --help.
    for cmd in ("status", "nodes", "node", "run", "ps", "logs", "wait", "kill", "step",
                "put", "get", "ls", "rm", "send", "recv", "queues", "log", "at", "diff",
                "rewind"):
        rc, out, err = logos(a, cmd, "--help")
        assert rc == 0 and out.startswith("usage: logos " + cmd), (cmd, rc, out)
    rc, out, err = logos(a, "--help")
    assert rc == 0 and "rewind" in out and "status" in out, out
    assert ok(a, "--version").startswith("logos ")
    # No arguments, stdin not a terminal: usage, exit 2.
    p = subprocess.run([LOGOS, "--addr", a], stdin=subprocess.DEVNULL, capture_output=True)
    assert p.returncode == 2 and b"usage" in p.stderr, p
    # API errors: the agent's message, exit 1.
    rc, out, err = logos(a, "get", "/missing")
    assert rc == 1 and err == "logos: no file '/missing'\n", err
    # An unreachable agent.
    port = free_port()
    rc, out, err = logos("127.0.0.1:%d" % port, "status")
    assert rc == 1, rc
    assert err == ("logos: cannot reach the agent at http://127.0.0.1:%d: connection refused"
                   " (is logosd running? try 'logosd --dev')\n" % port), err
    # LOGOS_ADDR is the default address.
    p = subprocess.run([LOGOS, "status"], capture_output=True,
                       env=dict(os.environ, LOGOS_ADDR="http://" + a))
    assert p.returncode == 0 and b"applied" in p.stdout, p


def test_interactive_shell(make):
    c = make(3)
    a = c.agents[0].http
    home = tempfile.mkdtemp(prefix="logos-home-")
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(HOME=home, TERM="xterm")
        os.execv(LOGOS, [LOGOS, "--addr", a])
    buf = b""

    def expect(pattern, timeout=15):
        nonlocal buf
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern, re.S)
        while time.monotonic() < deadline:
            m = rx.search(buf)
            if m:
                buf = buf[m.end():]
                return m
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    buf += os.read(fd, 4096)
                except OSError:
                    break
        raise AssertionError("no %r in %r" % (pattern, buf[-2000:]))

    try:
        prompt = rb"logos h1 \(leader h\d\)> "
        expect(prompt)
        os.write(fd, b"nodes\r")
        m = expect(rb"ID +NAME +ROLE[^\n]*\n(.*?)" + prompt)
        assert m.group(1).count(b"voter") == 3, m.group(1)
        # History: up-arrow recalls `nodes`.
        os.write(fd, b"\x1b[A\r")
        m = expect(rb"ID +NAME +ROLE[^\n]*\n(.*?)" + prompt)
        assert m.group(1).count(b"voter") == 3, m.group(1)
        # Tab completion: "sta" becomes "status" (the line is redrawn).
        os.write(fd, b"sta\t")
        expect(rb"tus")
        os.write(fd, b"\r")
        expect(rb"applied +\d+")
        expect(prompt)
        # Quoted words.
        os.write(fd, b"send q1 'a b  c'\r")
        expect(rb"sent to q1: seq 1")
        expect(prompt)
        os.write(fd, b"exit\r")
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        pid = 0
        assert ok(a, "recv", "q1") == "a b  c"
        with open(os.path.join(home, ".logos_history")) as f:
            assert "nodes" in f.read()
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)


if __name__ == "__main__":
    sys.exit(run([
        test_cluster_files_queues_history,
        test_run_ps_logs_wait_kill,
        test_step_replays_after_restart,
        test_usage_and_connection_errors,
        test_interactive_shell,
    ]))
