#!/usr/bin/python3
"""ecml gradient-boosted fraud scoring against XGBoost (tree_method=hist).

Run as root (make -C test/bench -f gbdt.mk bench-gbdt):

    ECML_PGROOT=/opt/pg-x /usr/bin/python3 test/bench/bench_gbdt.py
        [--rows N] [--big-rows N] [--output PATH] [--keep]

It starts a private PostgreSQL 15 cluster in /var/tmp/ecml-bench-gbdt (port
54383) from $ECML_PGROOT/usr/lib/postgresql/15/bin (default: the system
tree, where ecml must be installed), loads data with COPY, and runs ecml and
XGBoost 1.7 (one thread, the same trees, depth, learning rate, lambda,
min_child_weight and max_bin) in the same run:

 1. the vehicle-insurance claims in ../shared/data (skipped when absent):
    5-fold stratified out-of-fold average precision and ROC AUC, one-hot
    categories for both;
 2. speed on generated payments, ROWS x 30 features, 1% fraud: training
    (ecml: the aggregate over the table; XGBoost: DMatrix + train) and
    scoring every row (ecml: SELECT over the table; XGBoost: inplace_predict);
 3. growth of training time with rows (100k, ROWS, BIG_ROWS) and trees.

It replaces the section between <!-- bench:gbdt begin --> and
<!-- bench:gbdt end --> in RESULTS.md beside this file (or appends it).
"""
import argparse
import csv
import datetime
import json
import os
import re
import struct
import sys
import time

import benchlib
from benchlib import PG_BIN, die, log

benchlib.one_thread()  # before numpy and XGBoost load

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
import xgboost as xgb  # noqa: E402
from sklearn.metrics import average_precision_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DIR = "/var/tmp/ecml-bench-gbdt"
PORT = 54383
DB = "bench"
# ../shared/data beside the checkout (or beside the directory of work trees)
CLAIMS_CSV = next((p for p in (
    os.path.normpath(os.path.join(base, "shared", "data", "vehicle-insurance-claim-fraud",
                                  "fraud_oracle.csv"))
    for base in (os.path.join(REPO, ".."), os.path.join(REPO, "..", "..")))
    if os.path.exists(p)), "../shared/data/vehicle-insurance-claim-fraud/fraud_oracle.csv")
BEGIN = "<!-- bench:gbdt begin -->"
END = "<!-- bench:gbdt end -->"

# the shared hyper-parameters (the benchmark)
CLAIMS_PARAMS = dict(n_trees=200, max_depth=6, learning_rate=0.1, l2=1.0,
                     min_child_weight=1.0, max_bins=256)
SPEED_PARAMS = dict(n_trees=100, max_depth=6, learning_rate=0.1, l2=1.0,
                    min_child_weight=1.0, max_bins=256)


def xgb_params(p):
    return {"objective": "binary:logistic", "tree_method": "hist", "nthread": 1,
            "max_depth": p["max_depth"], "eta": p["learning_rate"], "lambda": p["l2"],
            "min_child_weight": p["min_child_weight"], "max_bin": p["max_bins"],
            "eval_metric": "logloss", "verbosity": 0}


def ecml_options(p):
    return json.dumps(p)


# --------------------------------------------------------------------------
# the private cluster


class Cluster(benchlib.Cluster):
    """The private cluster; psql() takes bytes in and gives bytes out."""

    def __init__(self):
        # initdb with its default encoding and locale, as this benchmark always had
        super().__init__(DIR, PORT, db=DB, initdb_args=["--auth=trust"], conf=[
            "shared_buffers = 2GB", "max_parallel_workers_per_gather = 0", "jit = off",
            "max_wal_size = 8GB", "synchronous_commit = off", "fsync = off",
            "full_page_writes = off"])

    def psql(self, *args, stdin=None):
        return super().psql(*args, input=stdin, text=False)

    def sql(self, q):
        return self.psql("-c", q).stdout.decode().strip()

    def timed(self, q):
        """Wall seconds of one statement (psql \\timing, connection open) and its output."""
        out = self.psql("-c", "\\timing on", "-c", q).stdout.decode()
        ms = [float(x) for x in re.findall(r"^Time: ([0-9.]+) ms", out, re.M)]
        rows = [line for line in out.splitlines() if line and not line.startswith("Time:")]
        return ms[-1] / 1000.0, rows

    def copy_binary(self, table, payload):
        self.psql("-c", f"COPY {table} FROM STDIN WITH (FORMAT binary)", stdin=payload)


def copy_rows(ids, X, y):
    """PostgreSQL binary COPY of (id int, f real[], y boolean), built with numpy."""
    n, f = X.shape
    dt = np.dtype([("nf", ">i2"), ("lid", ">i4"), ("id", ">i4"), ("larr", ">i4"),
                   ("ndim", ">i4"), ("hasnull", ">i4"), ("oid", ">u4"), ("dim", ">i4"),
                   ("lb", ">i4"), ("el", [("len", ">i4"), ("v", ">f4")], (f,)),
                   ("ly", ">i4"), ("y", "u1")])
    rec = np.zeros(n, dtype=dt)
    rec["nf"] = 3
    rec["lid"] = 4
    rec["id"] = ids
    rec["larr"] = 20 + 8 * f
    rec["ndim"] = 1
    rec["oid"] = 700            # float4
    rec["dim"] = f
    rec["lb"] = 1
    rec["el"]["len"] = 4
    rec["el"]["v"] = X
    rec["ly"] = 1
    rec["y"] = y.astype(np.uint8)
    return (b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0) + rec.tobytes()
            + struct.pack(">h", -1))


# --------------------------------------------------------------------------
# part 1: claims


def load_claims():
    with open(CLAIMS_CSV, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    y = np.array([int(r["FraudFound_P"]) for r in rows], dtype=np.int32)
    numeric = ["WeekOfMonth", "WeekOfMonthClaimed", "Age", "RepNumber", "Deductible",
               "DriverRating", "Year"]
    skip = {"FraudFound_P", "PolicyNumber"}
    categorical = [c for c in rows[0].keys() if c not in skip and c not in numeric]
    cols, names = [], []
    for c in numeric:
        cols.append(np.array([float(r[c]) for r in rows], dtype=np.float32))
        names.append(c)
    for c in categorical:
        levels = sorted({r[c] for r in rows})
        for lv in levels:
            cols.append(np.array([1.0 if r[c] == lv else 0.0 for r in rows], dtype=np.float32))
            names.append(f"{c}={lv}")
    return np.stack(cols, axis=1), y, names, len(numeric), len(categorical)


def part_claims(cl, res):
    if not os.path.exists(CLAIMS_CSV):
        log(f"{CLAIMS_CSV} is absent: part 1 skipped")
        res["claims"] = None
        return
    X, y, names, nnum, ncat = load_claims()
    n = len(y)
    folds = np.zeros(n, dtype=np.int32)
    for k, (_, te) in enumerate(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y)):
        folds[te] = k
    log(f"claims: {n} rows, {X.shape[1]} columns ({nnum} numeric, {ncat} categorical one-hot)")
    cl.sql("CREATE TABLE claims (id int, f real[], y boolean)")
    cl.copy_binary("claims", copy_rows(np.arange(n), X, y))
    cl.sql("CREATE TABLE claims_fold (id int, fold int)")
    cl.psql("-c", "COPY claims_fold FROM STDIN",
            stdin="".join(f"{i}\t{k}\n" for i, k in enumerate(folds)).encode())
    cl.sql("ALTER TABLE claims ADD COLUMN fold int; "
           "UPDATE claims c SET fold = t.fold FROM claims_fold t WHERE t.id = c.id")
    cl.sql("VACUUM ANALYZE claims")

    opts = ecml_options(CLAIMS_PARAMS)
    oof_ecml = np.zeros(n)
    t_ecml = 0.0
    for k in range(5):
        s, _ = cl.timed(f"CREATE TABLE m{k} AS SELECT ecml.fraud_train(f, y, '{opts}') AS m "
                        f"FROM claims WHERE fold <> {k}")
        t_ecml += s
        out = cl.sql(f"SELECT id, ecml.fraud_score(m, f) FROM claims, m{k} WHERE fold = {k}")
        for line in out.splitlines():
            i, p = line.split("|")
            oof_ecml[int(i)] = float(p)
    oof_xgb = np.zeros(n)
    t_xgb = 0.0
    for k in range(5):
        tr, te = folds != k, folds == k
        t0 = time.perf_counter()
        d = xgb.DMatrix(X[tr], label=y[tr], nthread=1)
        b = xgb.train(xgb_params(CLAIMS_PARAMS), d, num_boost_round=CLAIMS_PARAMS["n_trees"])
        t_xgb += time.perf_counter() - t0
        oof_xgb[te] = b.inplace_predict(X[te])
    res["claims"] = {
        "rows": n, "columns": X.shape[1], "fraud": int(y.sum()),
        "ecml_ap": average_precision_score(y, oof_ecml), "ecml_auc": roc_auc_score(y, oof_ecml),
        "xgb_ap": average_precision_score(y, oof_xgb), "xgb_auc": roc_auc_score(y, oof_xgb),
        "ecml_s": t_ecml, "xgb_s": t_xgb}
    log(f"claims: {res['claims']}")


# --------------------------------------------------------------------------
# parts 2 and 3: generated payments


def payments(n, seed):
    """n x 30 float32 rows, 1% fraud from planted patterns; 10% NaN in two columns."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 30), dtype=np.float32)
    X[:, 5] = np.floor(np.abs(X[:, 5]) * 3)                       # a count
    X[:, 6] = (X[:, 6] > 1.0).astype(np.float32)                   # a flag
    logit = (1.4 * X[:, 0] + 1.2 * (X[:, 1] > 1.2) * (X[:, 2] < -0.5) + 0.8 * X[:, 5]
             + 1.5 * X[:, 6] * (X[:, 3] > 0) - 0.6 * X[:, 4] + 0.3 * X[:, 7] * X[:, 8])
    X[rng.random(n) < 0.1, 28] = np.nan
    X[rng.random(n) < 0.1, 29] = np.nan
    # intercept for a 1% fraud rate, then labels
    lo, hi = -20.0, 5.0
    for _ in range(50):
        mid = (lo + hi) / 2
        if np.mean(1 / (1 + np.exp(-(logit + mid)))) > 0.01:
            hi = mid
        else:
            lo = mid
    y = (rng.random(n) < 1 / (1 + np.exp(-(logit + lo)))).astype(np.int32)
    return X, y


def load_payments(cl, table, X, y):
    cl.sql(f"CREATE UNLOGGED TABLE {table} (id int, f real[], y boolean)")
    step = 500000
    for s in range(0, len(y), step):
        cl.copy_binary(table, copy_rows(np.arange(s, min(s + step, len(y))), X[s:s + step],
                                        y[s:s + step]))
    cl.sql(f"VACUUM ANALYZE {table}")
    # read it once so that every timed scan finds it in memory
    cl.sql(f"SELECT count(*) FROM {table}")


def ecml_train(cl, table, params, into=None):
    opts = ecml_options(params)
    q = f"SELECT ecml.fraud_train(f, y, '{opts}') AS m FROM {table}"
    if into:
        return cl.timed(f"CREATE TABLE {into} AS {q}")[0]
    return cl.timed(f"SELECT length(({q})) ")[0]


def xgb_train(X, y, params):
    t0 = time.perf_counter()
    d = xgb.DMatrix(X, label=y, nthread=1)
    t1 = time.perf_counter()
    b = xgb.train(xgb_params(params), d, num_boost_round=params["n_trees"])
    t2 = time.perf_counter()
    return b, t1 - t0, t2 - t1


def part_speed(cl, res, rows):
    log(f"speed: generating {rows} x 30 payments")
    X, y = payments(rows, 1)
    load_payments(cl, "pay", X, y)
    res["speed"] = {"rows": rows, "fraud_rate": float(y.mean())}
    log("speed: ecml training")
    res["speed"]["ecml_train"] = ecml_train(cl, "pay", SPEED_PARAMS, into="pay_model")
    log("speed: XGBoost training")
    b, dm, tr = xgb_train(X, y, SPEED_PARAMS)
    res["speed"]["xgb_dmatrix"] = dm
    res["speed"]["xgb_train"] = tr
    log("speed: scoring")
    s, out = cl.timed("SELECT sum(ecml.fraud_score((SELECT m FROM pay_model), f)) FROM pay")
    res["speed"]["ecml_score"] = s
    s, _ = cl.timed("SELECT count(*) FROM pay")
    res["speed"]["scan"] = s
    t0 = time.perf_counter()
    p = b.inplace_predict(X)
    res["speed"]["xgb_score"] = time.perf_counter() - t0
    # training quality on the same rows, so the two did comparable work
    pe = np.array([float(v) for v in cl.sql(
        "SELECT ecml.fraud_score((SELECT m FROM pay_model), f) FROM pay ORDER BY id").split()])
    res["speed"]["ecml_auc"] = roc_auc_score(y, pe)
    res["speed"]["xgb_auc"] = roc_auc_score(y, p)
    res["speed"]["ecml_nodes"] = int(cl.sql("SELECT ecml.model_info(m)->>'nodes' FROM pay_model"))
    log(f"speed: {res['speed']}")
    return X, y


def part_growth(cl, res, X1, y1, big_rows):
    g = res["growth"] = {"rows": [], "trees": []}
    sizes = [100000, len(y1), big_rows]
    for n in sizes:
        if n == len(y1):
            g["rows"].append((n, res["speed"]["ecml_train"],
                              res["speed"]["xgb_dmatrix"] + res["speed"]["xgb_train"]))
            continue
        log(f"growth: {n} rows")
        X, y = payments(n, 2)
        load_payments(cl, f"pay_{n}", X, y)
        e = ecml_train(cl, f"pay_{n}", SPEED_PARAMS)
        _, dm, tr = xgb_train(X, y, SPEED_PARAMS)
        g["rows"].append((n, e, dm + tr))
        cl.sql(f"DROP TABLE pay_{n}")
        del X, y
    for t in (50, 100, 200):
        if t == 100:
            g["trees"].append((t, res["speed"]["ecml_train"],
                               res["speed"]["xgb_dmatrix"] + res["speed"]["xgb_train"]))
            continue
        log(f"growth: {t} trees")
        p = dict(SPEED_PARAMS, n_trees=t)
        e = ecml_train(cl, "pay", p)
        _, dm, tr = xgb_train(X1, y1, p)
        g["trees"].append((t, e, dm + tr))
    log(f"growth: {g}")


# --------------------------------------------------------------------------
# report


def machine():
    return {"cpu": benchlib.cpu_model("unknown"), "nproc": os.cpu_count(),
            "mem": benchlib.memory_gib(), "kernel": benchlib.kernel()}


def verdict(ok, gap):
    return "met" if ok else f"NOT met ({gap})"


def report(res, args, started, load0, load1, pgversion, out):
    m = machine()
    L = []
    L.append(BEGIN)
    L.append("## ecml gradient-boosted fraud scoring vs XGBoost")
    L.append("")
    L.append(f"Written by `test/bench/bench_gbdt.py` on {started:%a %b %d %H:%M:%S UTC %Y}.")
    L.append("")
    L.append(f"Command: `{args.command}`")
    L.append("")
    L.append("| | |\n|---|---|")
    L.append(f"| CPU | {m['cpu']} |")
    L.append(f"| nproc | {m['nproc']} |")
    L.append(f"| memory | {m['mem']} |")
    L.append(f"| kernel | {m['kernel']} |")
    L.append(f"| load average (1, 5, 15 min) | at start {load0}, at end {load1} — the machine is "
             "shared with other work running at the same time, so timings are noisy |")
    L.append(f"| PostgreSQL | {pgversion} (binaries {PG_BIN}) |")
    L.append(f"| Python / numpy / scikit-learn / XGBoost | {benchlib.python_version()} / "
             f"{np.__version__} / {sklearn.__version__} / {xgb.__version__} |")
    L.append("| threads | XGBoost `nthread=1`, `OMP_NUM_THREADS=1`; ecml one backend, "
             "`max_parallel_workers_per_gather = 0`, `jit = off` |")
    L.append(f"| cluster | private, {DIR}, port {PORT} |")
    L.append("")
    L.append("Shared settings: depth 6, learning rate 0.1, `l2`/`lambda` 1, `min_child_weight` 1, "
             "`max_bins`/`max_bin` 256 (ecml counts its missing-value bin among the 256); "
             "XGBoost `tree_method=hist`, `objective=binary:logistic`. Every figure is one run "
             "of this script; ecml times are psql's `\\timing` of the statement (connection "
             "open, table in memory), XGBoost's are `time.perf_counter()` around the calls on "
             "numpy arrays already in memory.")
    L.append("")
    L.append("### Goals")
    L.append("")
    L.append("| # | goal | ecml | XGBoost | verdict |")
    L.append("|---|---|---|---|---|")
    c = res.get("claims")
    if c:
        v_ap = verdict(c["ecml_ap"] >= c["xgb_ap"] - 0.01,
                       "short by %.4f" % (c["xgb_ap"] - 0.01 - c["ecml_ap"]))
        v_auc = verdict(c["ecml_auc"] >= c["xgb_auc"] - 0.005,
                        "short by %.4f" % (c["xgb_auc"] - 0.005 - c["ecml_auc"]))
        L.append(f"| 1a | claims, 5-fold out-of-fold average precision ≥ XGBoost − 0.01 | "
                 f"{c['ecml_ap']:.4f} | {c['xgb_ap']:.4f} | {v_ap} |")
        L.append(f"| 1b | claims, out-of-fold ROC AUC ≥ XGBoost − 0.005 | "
                 f"{c['ecml_auc']:.4f} | {c['xgb_auc']:.4f} | {v_auc} |")
    else:
        L.append(f"| 1 | claims data | skipped: {CLAIMS_CSV} absent | | |")
    s = res["speed"]
    xt = s["xgb_dmatrix"] + s["xgb_train"]
    rows_label = f"{s['rows'] / 1e6:g}M" if s["rows"] >= 1e6 else f"{s['rows']:,}"
    v_tr = verdict(s["ecml_train"] <= xt, "%.2f× XGBoost" % (s["ecml_train"] / xt))
    v_tr2 = verdict(s["ecml_train"] <= s["xgb_train"],
                    "%.2f× XGBoost" % (s["ecml_train"] / s["xgb_train"]))
    v_sc = verdict(s["ecml_score"] <= s["xgb_score"],
                   "%.2f× XGBoost" % (s["ecml_score"] / s["xgb_score"]))
    L.append(f"| 2a | training {rows_label} × 30, 100 trees, ≤ XGBoost (DMatrix + train) | "
             f"{s['ecml_train']:.2f} s | {xt:.2f} s | {v_tr} |")
    L.append(f"| 2a′ | the same, against XGBoost's `train` alone (stricter) | "
             f"{s['ecml_train']:.2f} s | {s['xgb_train']:.2f} s | {v_tr2} |")
    L.append(f"| 2b | scoring {rows_label} rows in SQL ≤ XGBoost `inplace_predict` | "
             f"{s['ecml_score']:.2f} s | {s['xgb_score']:.2f} s | {v_sc} |")
    L.append("")
    if c:
        L.append(f"Claims: {c['rows']} rows, {c['fraud']} fraud, {c['columns']} columns "
                 "(7 numeric columns as numbers, the other 24 one-hot; `PolicyNumber` left "
                 "out), the same matrix for both, `StratifiedKFold(5, shuffle=True, "
                 f"random_state=0)`. Five trainings took {c['ecml_s']:.2f} s in ecml and "
                 f"{c['xgb_s']:.2f} s in XGBoost.")
        L.append("")
    L.append(f"Speed data: {s['rows']:,} generated rows × 30 float32 features, "
             f"{100 * s['fraud_rate']:.2f}% fraud from planted patterns, 10% NaN in two "
             f"columns. ecml's time is the whole aggregate: scan, buffering, binning, boosting. "
             f"XGBoost: DMatrix {s['xgb_dmatrix']:.2f} s + train {s['xgb_train']:.2f} s. "
             f"Training ROC AUC on these rows: ecml {s['ecml_auc']:.4f}, XGBoost "
             f"{s['xgb_auc']:.4f} ({s['ecml_nodes']} nodes in ecml's model). "
             f"Scoring is `SELECT sum(ecml.fraud_score((SELECT m FROM model), f)) FROM t`; a bare "
             f"`count(*)` scan of the table takes {s['scan']:.2f} s of it.")
    L.append("")
    g = res.get("growth")
    if g:
        L.append("### Growth of training time (goal 3)")
        L.append("")
        L.append("| rows | trees | ecml | XGBoost (DMatrix + train) | ecml / XGBoost |")
        L.append("|---|---|---|---|---|")
        for n, e, x in sorted(g["rows"]):
            L.append(f"| {n:,} | 100 | {e:.2f} s | {x:.2f} s | {e / x:.2f} |")
        for t, e, x in g["trees"]:
            if t != 100:
                L.append(f"| {s['rows']:,} | {t} | {e:.2f} s | {x:.2f} s | {e / x:.2f} |")
        L.append("")
        L.append("The growth rows use a second sample of the same generator (seed 2); the "
                 f"{s['rows']:,}-row, 100-tree line is the goal-2 run.")
        L.append("")
    L.append(END)
    section = "\n".join(L) + "\n"
    text = open(out).read() if os.path.exists(out) else ""
    if BEGIN in text and END in text:
        a = text.index(BEGIN)
        b = text.index(END) + len(END)
        if text[b:b + 1] == "\n":
            b += 1
        text = text[:a] + section + text[b:]
    else:
        text = text + ("\n" if text and not text.endswith("\n") else "") + "\n" + section
    with open(out, "w") as f:
        f.write(text)
    print(section)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1000000)
    ap.add_argument("--big-rows", type=int, default=5000000)
    ap.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--keep", action="store_true", help="leave the cluster running")
    ap.add_argument("--skip-growth", action="store_true")
    args = ap.parse_args()
    args.command = benchlib.pgroot_prefix() + \
        "/usr/bin/python3 test/bench/bench_gbdt.py " + " ".join(sys.argv[1:])
    benchlib.require_root()
    if not os.path.exists(os.path.join(PG_BIN, "postgres")):
        die(f"no PostgreSQL 15 in {PG_BIN}")
    started = datetime.datetime.utcnow()
    load0 = benchlib.loadavg_2f()
    print(f"command: {args.command}", flush=True)
    print(f"machine: {machine()}, load {load0}", flush=True)
    cl = Cluster()
    cl.create()
    try:
        pgversion = cl.sql("SELECT version()")
        print(f"PostgreSQL: {pgversion}; XGBoost {xgb.__version__}", flush=True)
        res = {}
        part_claims(cl, res)
        X, y = part_speed(cl, res, args.rows)
        if not args.skip_growth:
            part_growth(cl, res, X, y, args.big_rows)
        load1 = benchlib.loadavg_2f()
        report(res, args, started, load0, load1, pgversion, args.output)
    finally:
        if not args.keep:
            cl.remove()


if __name__ == "__main__":
    main()
