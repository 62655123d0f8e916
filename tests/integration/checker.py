"""History checker for the fault tier (reliability.md (b): I1, I2).

A history is a list of Op records, each with the time it was invoked and
completed (time.monotonic) and its outcome:
  "ok"      the operation took effect and we saw its result;
  "fail"    it definitely did not take effect (a 4xx such as a 409);
  "unknown" timeout, 5xx or connection error: it may or may not have taken
            effect, at any time after its invocation.

Registers (check_register): per key, a compare-and-set register whose state
is None (absent) or (content, version).
  read   -> ok with result None (404) or (content, version)
  cas    -> arg (if_version, content); if_version 0 means "must not exist";
            ok (result: the new version) when the state's version matched,
            fail (409) when it did not.
The search is Wing & Gong's, as in Knossos and Porcupine: repeatedly pick an
operation that may come first (invoked before every pending operation
completed), apply the model, and explore; configurations (linearized set,
state) are memoized so each is explored once. Unknown operations complete at
infinity and need not be linearized at all; an unknown CAS is only ever
linearized where it would take effect (its no-effect case is the same as not
linearizing it), and unknown reads are dropped.

Queues (check_queue): every acknowledged send is received exactly once or is
still in the queue at the end (the caller drains it into `received` too);
nothing is received twice; nothing is received that was not sent, or whose
send definitely failed.
"""

import bisect

INF = float("inf")


class Op:
    __slots__ = ("client", "kind", "key", "arg", "call", "ret", "outcome", "result", "node",
                 "note")

    def __init__(self, client, kind, key, arg, call, ret=None, outcome=None, result=None,
                 node=None, note=None):
        self.client = client
        self.kind = kind        # "read" | "cas" | "send" | "recv"
        self.key = key
        self.arg = arg
        self.call = call
        self.ret = ret
        self.outcome = outcome  # "ok" | "fail" | "unknown"
        self.result = result
        self.node = node
        self.note = note

    def __repr__(self):
        return "%s(c%s %s %r -> %s %r @%.3f..%s%s)" % (
            self.kind, self.client, self.key, self.arg, self.outcome, self.result, self.call,
            "inf" if self.ret in (None, INF) else "%.3f" % self.ret,
            " via %s" % self.node if self.node else "")


def _cas_step(state, op):
    """Model of a CAS on state; returns (applies, new_state)."""
    ifv, content = op.arg
    cur = 0 if state is None else state[1]
    if cur != ifv:
        return False, state
    return True, (content, ifv + 1)


def check_register_key(ops, max_states=3000000):
    """Linearizability of one key's history. Returns (ok, message); ok is
    None when the search budget ran out (inconclusive)."""
    definite = []
    unknown = []
    for op in ops:
        if op.outcome == "unknown":
            if op.kind == "cas":
                unknown.append(op)
        elif op.outcome in ("ok", "fail"):
            definite.append(op)
    definite.sort(key=lambda o: o.call)
    unknown.sort(key=lambda o: o.call)
    ucalls = [o.call for o in unknown]
    nd = len(definite)
    full = (1 << nd) - 1

    def step(state, op):
        """New state when op is linearized here, or a sentinel when it cannot be."""
        if op.kind == "read":
            want = op.result
            if want is None:
                return state if state is None else _BAD
            return state if state is not None and tuple(state) == tuple(want) else _BAD
        applies, new = _cas_step(state, op)
        if op.outcome == "unknown":
            return new if applies else _BAD
        if op.outcome == "ok":
            if not applies or (op.result is not None and op.result != new[1]):
                return _BAD
            return new
        return state if not applies else _BAD  # a definite failure

    start = (0, 0, None)
    seen = {start}
    stack = [start]
    best = (0, start)
    while stack:
        dmask, umask, state = stack.pop()
        if dmask == full:
            return True, "linearizable (%d ops, %d unknown, %d configurations)" % (
                nd, len(unknown), len(seen))
        # The first not yet linearized definite op.
        lo = (~dmask & (dmask + 1)).bit_length() - 1
        depth = bin(dmask).count("1")
        if depth > best[0]:
            best = (depth, (dmask, umask, state))
        min_ret = INF
        cands = []
        i = lo
        while i < nd:
            op = definite[i]
            if op.call > min_ret:
                break
            if not (dmask >> i) & 1:
                cands.append(i)
                if op.ret < min_ret:
                    min_ret = op.ret
            i += 1
        nxt = []
        for i in cands:
            op = definite[i]
            if op.call > min_ret:
                continue
            s2 = step(state, op)
            if s2 is _BAD:
                continue
            nxt.append((dmask | (1 << i), umask, s2))
        for j in range(bisect.bisect_right(ucalls, min_ret)):
            if (umask >> j) & 1:
                continue
            s2 = step(state, unknown[j])
            if s2 is _BAD:
                continue
            nxt.append((dmask, umask | (1 << j), s2))
        for c in nxt:
            if c not in seen:
                seen.add(c)
                stack.append(c)
        if len(seen) > max_states:
            return None, "inconclusive: more than %d configurations" % max_states
    # Not linearizable: describe where the deepest attempt got stuck.
    depth, (dmask, umask, state) = best
    pending = [definite[i] for i in range(nd) if not (dmask >> i) & 1][:6]
    done = [definite[i] for i in range(nd) if (dmask >> i) & 1]
    done.sort(key=lambda o: o.ret)
    msg = ["not linearizable: %d of %d definite ops linearized at best; state then %r" % (
        depth, nd, state)]
    msg.append("  last linearized: " + "; ".join(repr(o) for o in done[-4:]))
    msg.append("  could not place: " + "; ".join(repr(o) for o in pending))
    return False, "\n".join(msg)


_BAD = object()


def check_registers(history, max_states=3000000):
    """Per-key linearizability of the register ops of a history.
    Returns (errors, notes): lists of strings."""
    keys = {}
    for op in history:
        if op.kind in ("read", "cas"):
            keys.setdefault(op.key, []).append(op)
    errors, notes = [], []
    for k in sorted(keys):
        ok, msg = check_register_key(keys[k], max_states)
        if ok is False:
            errors.append("register %s: %s" % (k, msg))
        else:
            notes.append("register %s: %s" % (k, msg))
    return errors, notes


def check_queue(history, received_at_end=()):
    """history: send ops (arg = the unique body) and recv ops (result = body,
    or None for an empty queue). received_at_end: bodies drained at the end.
    Returns (errors, notes)."""
    sent_ok, sent_unknown, sent_fail = set(), set(), set()
    for op in history:
        if op.kind != "send":
            continue
        {"ok": sent_ok, "unknown": sent_unknown, "fail": sent_fail}[op.outcome].add(op.arg)
    got = {}
    for op in history:
        if op.kind == "recv" and op.outcome == "ok" and op.result is not None:
            got.setdefault(op.result, []).append(op)
    for body in received_at_end:
        got.setdefault(body, []).append("drained at end")
    errors = []
    for body, by in sorted(got.items()):
        if len(by) > 1:
            errors.append("queue: %r received %d times: %r" % (body, len(by), by[:3]))
        if body in sent_fail:
            errors.append("queue: %r received but its send definitely failed" % body)
        elif body not in sent_ok and body not in sent_unknown:
            errors.append("queue: %r received but never sent" % body)
    lost = sorted(b for b in sent_ok if b not in got)
    if lost:
        errors.append("queue: %d acknowledged sends never received nor left in the queue: %r"
                      % (len(lost), lost[:10]))
    notes = ["queue: %d sends acknowledged, %d unknown, %d failed; %d received (%d drained)" % (
        len(sent_ok), len(sent_unknown), len(sent_fail), len(got), len(received_at_end))]
    return errors, notes


# --- unit tests of the checker itself ---------------------------------------

def _h(spec):
    """spec: (client, kind, arg, call, ret, outcome, result)"""
    return [Op(c, k, "k", a, t0, t1 if t1 is not None else INF, o, r)
            for (c, k, a, t0, t1, o, r) in spec]


def self_test():
    """Returns a list of failures (empty when the checker behaves)."""
    fails = []

    def expect(name, spec, want):
        ok, msg = check_register_key(_h(spec))
        if ok is not want:
            fails.append("%s: expected %s, got %s: %s" % (name, want, ok, msg))

    # A sequential history.
    expect("sequential", [
        (1, "read", None, 0, 1, "ok", None),
        (1, "cas", (0, "a"), 2, 3, "ok", 1),
        (2, "read", None, 4, 5, "ok", ("a", 1)),
        (2, "cas", (0, "b"), 6, 7, "fail", None),
        (1, "cas", (1, "b"), 8, 9, "ok", 2),
        (2, "read", None, 10, 11, "ok", ("b", 2)),
    ], True)
    # Concurrent ops that only linearize in an order other than by call time.
    expect("concurrent reorder", [
        (1, "cas", (0, "a"), 0, 10, "ok", 1),
        (2, "read", None, 1, 2, "ok", None),
        (3, "read", None, 3, 4, "ok", ("a", 1)),
        (2, "cas", (1, "b"), 5, 12, "ok", 2),
        (3, "read", None, 6, 7, "ok", ("a", 1)),
        (1, "read", None, 13, 14, "ok", ("b", 2)),
    ], True)
    # A stale read: after b was acknowledged, a later read returns a.
    expect("stale read", [
        (1, "cas", (0, "a"), 0, 1, "ok", 1),
        (1, "cas", (1, "b"), 2, 3, "ok", 2),
        (2, "read", None, 4, 5, "ok", ("a", 1)),
    ], False)
    # A lost acknowledged write: the final read does not show it.
    expect("lost write", [
        (1, "cas", (0, "a"), 0, 1, "ok", 1),
        (2, "cas", (1, "b"), 2, 3, "ok", 2),
        (1, "read", None, 10, 11, "ok", ("a", 1)),
    ], False)
    # An unknown write may have taken effect...
    expect("unknown took effect", [
        (1, "cas", (0, "a"), 0, None, "unknown", None),
        (2, "read", None, 5, 6, "ok", ("a", 1)),
        (2, "cas", (1, "b"), 7, 8, "ok", 2),
    ], True)
    # ...or not.
    expect("unknown did not", [
        (1, "cas", (0, "a"), 0, None, "unknown", None),
        (2, "read", None, 5, 6, "ok", None),
        (2, "cas", (0, "b"), 7, 8, "ok", 1),
        (2, "read", None, 9, 10, "ok", ("b", 1)),
    ], True)
    # A value that appears before it was written.
    expect("read from the future", [
        (2, "read", None, 0, 1, "ok", ("a", 1)),
        (1, "cas", (0, "a"), 2, 3, "ok", 1),
    ], False)
    # A definitely failed CAS whose precondition held.
    expect("wrong conflict", [
        (1, "cas", (0, "a"), 0, 1, "ok", 1),
        (2, "cas", (1, "b"), 2, 3, "fail", None),
        (1, "read", None, 4, 5, "ok", ("a", 1)),
    ], False)
    # A write acknowledged with the wrong version.
    expect("wrong version", [
        (1, "cas", (0, "a"), 0, 1, "ok", 2),
    ], False)
    # Queue: lost, duplicated, unsent; and a good one.
    q = [Op(1, "send", "q", "m1", 0, 1, "ok"), Op(1, "send", "q", "m2", 2, 3, "ok"),
         Op(1, "send", "q", "m3", 2, INF, "unknown"),
         Op(2, "recv", "q", None, 4, 5, "ok", "m1")]
    e, _ = check_queue(q, ["m2"])
    if e:
        fails.append("queue good: %r" % e)
    e, _ = check_queue(q, [])
    if not any("never received" in x for x in e):
        fails.append("queue lost not detected: %r" % e)
    e, _ = check_queue(q, ["m2", "m1"])
    if not any("2 times" in x for x in e):
        fails.append("queue duplicate not detected: %r" % e)
    e, _ = check_queue(q, ["m2", "zz"])
    if not any("never sent" in x for x in e):
        fails.append("queue unsent not detected: %r" % e)
    return fails


if __name__ == "__main__":
    f = self_test()
    print("\n".join(f) if f else "checker self-test: ok")
    raise SystemExit(1 if f else 0)
