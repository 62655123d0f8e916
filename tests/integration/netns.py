"""Network-namespace test hosts for the fault tier (DESIGN §7).

Topology, all made and removed by this module:

    root ns  --veth-->  bridge ns (bridge "br0")  <--veth--  host ns h1..hN

Each host namespace has one interface "eth0" with 10.231.X.i/24 and lo up;
the root namespace gets 10.231.X.254/24 on its own veth so the test process
talks to every agent's HTTP API directly. X is chosen per run among subnets
nobody uses. Every name starts with "lgf<pid>" so that leftovers of a dead
run are recognised and removed at the next start (cleanup_leftovers).

Faults:
  - isolate(i): the host's link goes down (it reaches nobody, not even the
    test client); heal(i) brings it back;
  - split(groups): hosts in different groups drop each other's packets
    (blackhole routes on both sides); the test client still reaches all.
  - heal_all(): undoes both.

Only loopback and these self-made namespaces are ever addressed.
"""

import os
import re
import subprocess

PREFIX = "lgf"


def sh(*args, check=True, ns=None):
    cmd = list(args)
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
    return r


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def cleanup_leftovers():
    """Removes namespaces, links and mounts of earlier runs whose process died."""
    removed = []
    out = sh("ip", "netns", "list", check=False).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(r"^%s(\d+)-" % PREFIX, name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        pids = sh("ip", "netns", "pids", name, check=False).stdout.split()
        for p in pids:
            try:
                os.kill(int(p), 9)
            except (OSError, ValueError):
                pass
        sh("ip", "netns", "del", name, check=False)
        removed.append(name)
    out = sh("ip", "-o", "link", "show", check=False).stdout
    for line in out.splitlines():
        m = re.match(r"^\d+: (%s(\d+)[a-z]\d*)[@:]" % PREFIX, line)
        if m and not _pid_alive(int(m.group(2))):
            sh("ip", "link", "del", m.group(1), check=False)
            removed.append(m.group(1))
    try:
        with open("/proc/mounts") as f:
            mounts = [l.split()[1] for l in f]
    except OSError:
        mounts = []
    for mp in mounts:
        m = re.search(r"/%s(\d+)-" % PREFIX, mp)
        if m and not _pid_alive(int(m.group(1))):
            sh("umount", "-l", mp, check=False)
            removed.append(mp)
    return removed


def available():
    """(True, "") when namespaces can be made here, else (False, why)."""
    if os.geteuid() != 0:
        return False, "not root"
    name = "%s%d-probe" % (PREFIX, os.getpid())
    r = sh("ip", "netns", "add", name, check=False)
    if r.returncode != 0:
        return False, "ip netns add failed: %s" % r.stderr.strip()
    sh("ip", "netns", "del", name, check=False)
    return True, ""


def _free_subnet():
    used = sh("ip", "-4", "addr", "show", check=False).stdout + \
        sh("ip", "-4", "route", "show", "table", "all", check=False).stdout
    start = os.getpid() % 250
    for k in range(250):
        x = (start + k) % 250 + 1
        if ("10.231.%d." % x) not in used:
            return x
    raise RuntimeError("no free 10.231.X.0/24 subnet")


class Net:
    """n host namespaces on one bridge; host i (1-based) is 10.231.X.i."""

    def __init__(self, n):
        self.n = n
        self.tag = "%s%d" % (PREFIX, os.getpid())
        self.x = _free_subnet()
        self.bridge_ns = self.tag + "-br"
        self.made_ns = []
        self.made_links = []
        self.blackholes = set()  # (i, j): host i drops packets to host j
        self.down = set()
        try:
            self._build()
        except Exception:
            self.destroy()
            raise

    def ns(self, i):
        return "%s-h%d" % (self.tag, i)

    def addr(self, i):
        return "10.231.%d.%d" % (self.x, i)

    @property
    def client_addr(self):
        return "10.231.%d.254" % self.x

    def _addns(self, name):
        sh("ip", "netns", "add", name)
        self.made_ns.append(name)
        sh("ip", "link", "set", "lo", "up", ns=name)

    def _build(self):
        b = self.bridge_ns
        self._addns(b)
        sh("ip", "link", "add", "br0", "type", "bridge", ns=b)
        sh("ip", "link", "set", "br0", "up", ns=b)
        # The root namespace's port.
        r, q = self.tag + "r", self.tag + "q"
        sh("ip", "link", "add", r, "type", "veth", "peer", "name", q)
        self.made_links.append(r)
        sh("ip", "link", "set", q, "netns", b)
        sh("ip", "link", "set", q, "name", "pr", ns=b)
        sh("ip", "link", "set", "pr", "master", "br0", ns=b)
        sh("ip", "link", "set", "pr", "up", ns=b)
        sh("ip", "addr", "add", self.client_addr + "/24", "dev", r)
        sh("ip", "link", "set", r, "up")
        for i in range(1, self.n + 1):
            h = self.ns(i)
            self._addns(h)
            a, p = "%sa%d" % (self.tag, i), "%sb%d" % (self.tag, i)
            sh("ip", "link", "add", a, "type", "veth", "peer", "name", p)
            sh("ip", "link", "set", a, "netns", h)
            sh("ip", "link", "set", p, "netns", b)
            sh("ip", "link", "set", a, "name", "eth0", ns=h)
            sh("ip", "link", "set", p, "name", "p%d" % i, ns=b)
            sh("ip", "link", "set", "p%d" % i, "master", "br0", ns=b)
            sh("ip", "link", "set", "p%d" % i, "up", ns=b)
            sh("ip", "addr", "add", self.addr(i) + "/24", "dev", "eth0", ns=h)
            sh("ip", "link", "set", "eth0", "up", ns=h)

    def exec_prefix(self, i):
        return ["ip", "netns", "exec", self.ns(i)]

    # --- faults -------------------------------------------------------
    def isolate(self, i):
        """Host i's link goes down (bridge side): it reaches no one."""
        sh("ip", "link", "set", "p%d" % i, "down", ns=self.bridge_ns)
        self.down.add(i)

    def heal(self, i):
        sh("ip", "link", "set", "p%d" % i, "up", ns=self.bridge_ns)
        self.down.discard(i)

    def block(self, i, j):
        """Host i drops every packet it sends to host j (one way)."""
        if (i, j) in self.blackholes:
            return
        sh("ip", "route", "add", "blackhole", self.addr(j) + "/32", ns=self.ns(i))
        self.blackholes.add((i, j))

    def split(self, groups):
        """Hosts in different groups cannot reach each other (both ways)."""
        for g in groups:
            for h in groups:
                if g is h:
                    continue
                for i in g:
                    for j in h:
                        self.block(i, j)

    def heal_all(self):
        for (i, j) in sorted(self.blackholes):
            sh("ip", "route", "del", "blackhole", self.addr(j) + "/32", ns=self.ns(i),
               check=False)
        self.blackholes.clear()
        for i in sorted(self.down):
            sh("ip", "link", "set", "p%d" % i, "up", ns=self.bridge_ns, check=False)
        self.down.clear()

    def destroy(self):
        for name in reversed(self.made_ns):
            pids = sh("ip", "netns", "pids", name, check=False).stdout.split()
            for p in pids:
                try:
                    os.kill(int(p), 9)
                except (OSError, ValueError):
                    pass
            sh("ip", "netns", "del", name, check=False)
        self.made_ns = []
        for link in self.made_links:
            sh("ip", "link", "del", link, check=False)
        self.made_links = []
