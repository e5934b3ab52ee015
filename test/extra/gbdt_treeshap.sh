#!/usr/bin/env bash
# ecml.fraud_explain against Shapley values computed by brute force: every
# coalition S of 5 features, f(S) the tree's expectation with the features
# outside S integrated out over the training cover (Lundberg et al. 2018,
# Algorithm 1), phi_i = sum_S |S|! (M-|S|-1)! / M! (f(S+i) - f(S)).
# Exact TreeSHAP (Algorithm 2) must agree to rounding, including paths that
# split on the same feature twice and missing values.
set -euo pipefail
exec /usr/bin/python3 - <<'PY'
import itertools, json, math, struct, subprocess, sys

def q(sql):
    return subprocess.run(["psql", "-X", "-A", "-t", "-q", "-d", "ecml_test", "-c", sql],
                          capture_output=True, text=True, check=True).stdout.strip()

q("CREATE EXTENSION IF NOT EXISTS ecml")
data = """(SELECT ARRAY[abs(sin(i * 0.71)), abs(sin(i * 1.37)), abs(sin(i * 2.91)),
                    CASE WHEN i % 6 = 0 THEN 'NaN' ELSE abs(sin(i * 5.19)) END, (i % 3)]::real[] AS f,
              (abs(sin(i * 0.71)) > 0.6 AND abs(sin(i * 1.37)) < 0.4) OR (abs(sin(i * 2.91)) < 0.2)
              OR (i % 6 = 0 AND abs(sin(i * 7.77)) > 0.5) AS y
       FROM generate_series(1, 3000) i) d"""
model = q("SELECT encode(ecml.fraud_train(f, y, '{\"n_trees\": 6, \"max_depth\": 5, \"learning_rate\": 0.5, "
          "\"min_child_weight\": 0.1}'), 'hex') FROM " + data)
b = bytes.fromhex(model)
secs, off = {}, 64
while off < len(b):
    tag = b[off:off + 4].decode()
    ln = struct.unpack("<Q", b[off + 8:off + 16])[0]
    secs[tag] = b[off + 16:off + 16 + ln]
    off += 16 + (ln + 15) // 16 * 16
base = struct.unpack("<2d", secs["BASE"])[0]
starts = struct.unpack("<%di" % (len(secs["TREE"]) // 4), secs["TREE"])
ni = struct.unpack("<%di" % (len(secs["NODI"]) // 4), secs["NODI"])
nf = struct.unpack("<%df" % (len(secs["NODF"]) // 4), secs["NODF"])
M = 5

def expectation(x, S, k):
    feat = ni[4 * k]
    if feat < 0:
        return nf[4 * k + 1]
    l, r = ni[4 * k + 1], ni[4 * k + 1] + 1
    if feat in S:
        v = x[feat]
        left = bool(ni[4 * k + 2] & 1) if math.isnan(v) else v <= nf[4 * k]
        return expectation(x, S, l if left else r)
    cl, cr = nf[4 * l + 2], nf[4 * r + 2]
    return (cl * expectation(x, S, l) + cr * expectation(x, S, r)) / (cl + cr)

def f(x, S):
    return base + sum(expectation(x, S, starts[t]) for t in range(len(starts) - 1))

repeated = 0
for t in range(len(starts) - 1):
    def walk(k, seen):
        global repeated
        feat = ni[4 * k]
        if feat < 0:
            return
        repeated += feat in seen
        walk(ni[4 * k + 1], seen | {feat})
        walk(ni[4 * k + 1] + 1, seen | {feat})
    walk(starts[t], frozenset())

points = [[0.9, 0.1, 0.5, 0.5, 1], [0.2, 0.5, 0.05, float("nan"), 2], [0.75, 0.95, 0.1, 0.3, 0],
          [0.61, 0.39, 0.21, float("nan"), 1], [0.05, 0.05, 0.95, 0.95, 2]]
worst = 0.0
for x in points:
    lit = "{" + ",".join("NaN" if math.isnan(v) else repr(v) for v in x) + "}"
    e = json.loads(q("SELECT ecml.fraud_explain('\\x%s'::bytea, '%s')" % (model, lit)))
    for i in range(M):
        others = [j for j in range(M) if j != i]
        phi = 0.0
        for r in range(M):
            for S in itertools.combinations(others, r):
                w = math.factorial(r) * math.factorial(M - r - 1) / math.factorial(M)
                phi += w * (f(x, set(S) | {i}) - f(x, set(S)))
        worst = max(worst, abs(phi - e["contributions"]["x%d" % (i + 1)]))
    worst = max(worst, abs(f(x, set()) - e["base_value"]), abs(f(x, set(range(M))) - e["margin"]))
print("TreeSHAP vs brute-force Shapley: max difference %.3g over %d points, %d repeated-feature splits"
      % (worst, len(points), repeated))
sys.exit(0 if worst < 1e-6 and repeated > 0 else 1)
PY
