#!/usr/bin/env python3
"""The timeline of one write at one connection, across three agents, from their
system calls (docs/PERFORMANCE.md, "One write at a time").

Record the three agents while a one-connection write load runs, then parse:

  perf record -o w.data -p LEADER,F1,F2 -e syscalls:sys_enter_io_submit,\\
      syscalls:sys_enter_fdatasync,syscalls:sys_exit_fdatasync,\\
      syscalls:sys_enter_write,syscalls:sys_enter_writev[,\\
      syscalls:sys_enter_read,syscalls:sys_exit_read] -- sleep 1
  perf script -i w.data > w.txt
  bench/write-timeline.py w.txt LEADER F1 F2

Each request starts at the leader's read of the HTTP request (with the read
tracepoints; they add overhead) or else at the leader's raft append
(io_submit, ~15 us later). For each step the first occurrence in the request
is taken, in ms from its start; the report gives p25/p50/p75 over the
requests. Other threads' io_submit are raft_uv's writes that fell back to the
thread pool. Assumes the layout of an agent under that load: the follower's
answer is a 48-byte write, raft_uv's completion an 8-byte eventfd read, the
HTTP connection fd 20 (checked on 2026-12-02; adjust HTTP_FD if not).
"""
import re
import statistics
import sys

HTTP_FD = 20

RX = re.compile(r'^\s*\S+\s+(\d+) \[\d+\]\s+([\d.]+):\s+syscalls:sys_(enter|exit)_(\w+): (.*)$')


def events(path):
    last_enter = {}
    out = []  # (ms, tid, kind, detail)
    for line in open(path):
        m = RX.match(line)
        if not m:
            continue
        tid, t, ee, call, rest = m.groups()
        t = float(t) * 1000
        if ee == 'enter':
            last_enter[tid] = (t, call, rest)
            if call == 'io_submit':
                out.append((t, tid, 'io_submit', None))
            elif call == 'fdatasync':
                out.append((t, tid, 'fsync_start', None))
            elif call in ('write', 'writev'):
                fd = int(re.search(r'fd: (0x[0-9a-f]+)', rest).group(1), 16)
                cnt = re.search(r'count: (0x[0-9a-f]+)', rest)
                out.append((t, tid, call, (fd, int(cnt.group(1), 16) if cnt else None)))
            continue
        st = last_enter.get(tid)
        if not st:
            continue
        res = int(rest.split()[-1], 16)
        if res >= 1 << 63:
            res -= 1 << 64
        if call == 'fdatasync':
            out.append((t, tid, 'fsync_end', None))
        elif call == 'read' and res > 0:
            fd = int(re.search(r'fd: (0x[0-9a-f]+)', st[2]).group(1), 16)
            cnt = int(re.search(r'count: (0x[0-9a-f]+)', st[2]).group(1), 16)
            out.append((st[0], tid, 'read', (fd, cnt, res)))
    out.sort()
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    ev = events(sys.argv[1])
    lead, fols = sys.argv[2], sys.argv[3:]
    starts = [e for e in ev if e[1] == lead and e[2] == 'read' and e[3][1] == 8192]
    if not starts:
        starts = [e for e in ev if e[1] == lead and e[2] == 'io_submit']
    rows = []
    j = 0
    for i in range(len(starts) - 1):
        t0, t1 = starts[i][0], starts[i + 1][0]
        while j < len(ev) and ev[j][0] < t0:
            j += 1
        r = {}

        def put(k, t):
            r.setdefault(k, t - t0)

        k = j
        while k < len(ev) and ev[k][0] < t1:
            t, tid, kind, x = ev[k]
            k += 1
            if tid == lead:
                if kind == 'io_submit':
                    put('leader: raft append submitted', t)
                elif kind == 'writev' and x[0] != HTTP_FD and 'leader: raft append submitted' in r:
                    put('leader: AppendEntries sent', t)
                elif kind == 'read' and x[1] == 8 and 'leader: raft append submitted' in r:
                    put('leader: own append done', t)
                elif kind == 'read' and x[1] == 16 and 'leader: raft append submitted' in r:
                    put('leader: first answer read', t)
                elif kind == 'fsync_start':
                    put('leader: LMDB fdatasync start', t)
                elif kind == 'fsync_end':
                    put('leader: LMDB fdatasync end', t)
                elif kind == 'writev' and x[0] == HTTP_FD:
                    put('leader: HTTP answer written', t)
            elif tid in fols:
                p = 'follower %d: ' % (fols.index(tid) + 1)
                if kind == 'read' and x[1] == 16:
                    put(p + 'AppendEntries read', t)
                elif kind == 'io_submit':
                    put(p + 'raft append submitted', t)
                elif kind == 'read' and x[1] == 8:
                    put(p + 'append done', t)
                elif kind == 'fsync_start':
                    put(p + 'LMDB fdatasync start', t)
                elif kind == 'fsync_end':
                    put(p + 'LMDB fdatasync end', t)
                elif kind == 'write' and x[1] == 48:
                    put(p + 'answer sent', t)
            elif kind == 'io_submit':
                put('thread pool: raft append submitted', t)
        r['next request'] = t1 - t0
        rows.append(r)
    print('requests: %d' % len(rows))
    keys = {k for r in rows for k in r}
    med = {k: statistics.median(r[k] for r in rows if k in r) for k in keys}
    for k in sorted(keys, key=lambda k: med[k]):
        v = sorted(r[k] for r in rows if k in r)
        print('%-38s n=%5d  p25 %6.3f  p50 %6.3f  p75 %6.3f ms' %
              (k, len(v), v[len(v) // 4], v[len(v) // 2], v[3 * len(v) // 4]))


main()
