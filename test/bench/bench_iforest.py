#!/usr/bin/python3
"""ecml isolation forest benchmark against scikit-learn's IsolationForest.

Run as root from anywhere (the target bench-iforest in iforest.mk does):

    /usr/bin/python3 test/bench/bench_iforest.py [--rows N] [--features F]
        [--quality-rows N] [--runs R] [--no-5m] [--output PATH] [--keep]

Environment: ECML_PGROOT, a private PostgreSQL tree with ecml installed
(make install DESTDIR=...); default the system tree.

It creates a private cluster in /var/tmp/ecml-bench-iforest (port 54343, run
as the postgres OS user, clients as root over the unix socket), loads the
same generated rows into PostgreSQL (COPY) and into numpy, and measures, in
one run, one thread on each side (OMP/OpenBLAS/MKL/BLIS threads = 1,
ecml.blas_threads = 1, serial plans unless said otherwise):

 1. quality: ROC AUC on generated numeric data with planted anomalies (two
    kinds, three seeds each), ecml vs scikit-learn, same n_trees and
    sample size; and the claims-fraud data (../shared/data), where both are
    expected near chance;
 2. speed on ROWS x FEATURES rows: training 100 trees x 256 samples, and
    scoring every row in SQL vs score_samples on the in-memory array;
 3. how training time grows with rows (100k, 1M, 5M) and with trees.

It writes its section of RESULTS.md (between the bench:iforest markers)
beside this file, leaving the rest of the file alone.
"""
import os

import benchlib
from benchlib import Cluster, die, log

# one thread for numpy / scikit-learn, set before they are imported
benchlib.one_thread()

import argparse
import csv
import datetime
import statistics
import sys
import tempfile
import time

import numpy as np
import sklearn
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DIR = "/var/tmp/ecml-bench-iforest"
PORT = 54343
DB = "bench"
# ../shared/data beside the repository; a git work tree may sit one level deeper
CLAIMS_CANDIDATES = [os.path.normpath(os.path.join(REPO, *up, "shared", "data",
                                                   "vehicle-insurance-claim-fraud", "fraud_oracle.csv"))
                     for up in (("..",), ("..", ".."))]
CLAIMS_CSV = next((p for p in CLAIMS_CANDIDATES if os.path.exists(p)), CLAIMS_CANDIDATES[0])
BEGIN = "<!-- bench:iforest begin -->"
END = "<!-- bench:iforest end -->"

# figures quoted in the issue, measured there with scikit-learn
ISSUE_SK_TRAIN_S = 1.0
ISSUE_SK_SCORE_S = 35.0


# --------------------------------------------------------------------------
# the private cluster


CLUSTER = Cluster(DIR, PORT, db=DB, conf=[
    "shared_buffers = 1GB", "work_mem = 256MB", "max_wal_size = 4GB",
    "synchronous_commit = off", "fsync = off", "full_page_writes = off",
    "max_parallel_workers_per_gather = 0", "jit = off"])


class Psql(benchlib.Psql):
    """run() gives (rows, seconds per \\timing line); an SQL error ends the run."""

    def __init__(self):
        super().__init__(CLUSTER)

    def run(self, sql, check=True):
        try:
            rows, times, _ = super().run(sql)
        except benchlib.SQLError as e:
            die(f"SQL failed: {e}")
        return rows, [t / 1000.0 for t in times]

    def value(self, sql):
        return self.run(sql)[0][0]

    def timed(self, sql):
        return self.run(sql)[1][-1]


def copy_matrix(db, table, X, y=None):
    """Load X (and labels y) into table(i, f real[] [, y boolean]) with COPY."""
    cols = "i bigint, f real[]" + (", y boolean" if y is not None else "")
    db.run(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} ({cols})")
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False, dir="/var/tmp") as f:
        path = f.name
        fmt = "{" + ",".join(["%.9g"] * X.shape[1]) + "}"
        idx = np.arange(1, X.shape[0] + 1)
        step = 200000
        for s in range(0, X.shape[0], step):
            block = X[s:s + step]
            lines = [f"{idx[s + k]}\t" + (fmt % tuple(r)) for k, r in enumerate(block.tolist())]
            if y is not None:
                lines = [ln + ("\tt" if y[s + k] else "\tf") for k, ln in enumerate(lines)]
            f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o644)
    try:
        db.run(f"\\copy {table} FROM '{path}'")
    finally:
        os.unlink(path)
    db.run(f"VACUUM ANALYZE {table}")


# --------------------------------------------------------------------------
# data


def planted(n, d, kind, seed):
    """n rows, d features, 1% planted anomalies; returns X (float32), y."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.01
    if kind == "scattered":
        # three correlated Gaussian clusters; anomalies uniform in a box
        # 1.5 times as wide as the data
        centres = rng.normal(0, 4, size=(3, d))
        mixes = [np.linalg.qr(rng.normal(size=(d, d)))[0] * rng.uniform(0.3, 1.5, d) for _ in range(3)]
        c = rng.integers(0, 3, n)
        X = np.empty((n, d))
        for k in range(3):
            sel = c == k
            X[sel] = centres[k] + rng.normal(size=(sel.sum(), d)) @ mixes[k].T
        lo, hi = X.min(0), X.max(0)
        mid, half = (lo + hi) / 2, (hi - lo) / 2 * 1.5
        X[y] = mid + rng.uniform(-1, 1, size=(y.sum(), d)) * half
    else:
        # "overlap": normal rows N(0, I), anomalies N(0, 1.7^2 I): many
        # anomalies sit inside the bulk, so neither method is near 1
        X = rng.normal(size=(n, d))
        X[y] *= 1.7
    return X.astype(np.float32), y


def claims_matrix():
    """The claims data one-hot encoded (numeric columns as numbers)."""
    with open(CLAIMS_CSV, newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    head, body = rows[0], rows[1:]
    label = head.index("FraudFound_P")
    skip = {label, head.index("PolicyNumber")}
    numeric = {"WeekOfMonth", "WeekOfMonthClaimed", "Age", "RepNumber", "Deductible",
               "DriverRating", "Year"}
    cols = []
    for j, name in enumerate(head):
        if j in skip:
            continue
        if name in numeric:
            cols.append(np.array([float(r[j]) for r in body])[:, None])
        else:
            levels = sorted({r[j] for r in body})
            onehot = np.zeros((len(body), len(levels)))
            pos = {v: k for k, v in enumerate(levels)}
            for i, r in enumerate(body):
                onehot[i, pos[r[j]]] = 1.0
            cols.append(onehot)
    X = np.hstack(cols).astype(np.float32)
    y = np.array([r[label] == "1" for r in body])
    return X, y


# --------------------------------------------------------------------------
# the parts


def ecml_auc(db, table, opts):
    db.run(f"DROP TABLE IF EXISTS m; CREATE TABLE m AS SELECT ecml.anomaly_train(f, '{opts}') AS m FROM {table}")
    return float(db.value(f"SELECT ecml.roc_auc(ecml.anomaly_score((SELECT m FROM m), f), y) FROM {table}"))


def sk_auc(X, y, seed):
    model = IsolationForest(n_estimators=100, max_samples=256, random_state=seed).fit(X)
    return roc_auc_score(y, -model.score_samples(X))


def part_quality(db, res, n):
    out = []
    for kind in ("scattered", "overlap"):
        e, s = [], []
        for seed in (1, 2, 3):
            X, y = planted(n, 10, kind, seed)
            copy_matrix(db, "q", X, y)
            e.append(ecml_auc(db, "q", f'{{"n_trees": 100, "sample_size": 256, "seed": {seed}}}'))
            s.append(sk_auc(X, y, seed))
            log(f"quality {kind} seed {seed}: ecml {e[-1]:.4f}, scikit-learn {s[-1]:.4f}")
        out.append({"kind": kind, "ecml": e, "sk": s})
    res["quality"] = out
    if os.path.exists(CLAIMS_CSV):
        X, y = claims_matrix()
        copy_matrix(db, "claims", X, y)
        e = ecml_auc(db, "claims", '{"seed": 1}')
        s = sk_auc(X, y, 1)
        res["claims"] = {"rows": X.shape[0], "features": X.shape[1], "ecml": e, "sk": s}
        log(f"claims: ecml {e:.4f}, scikit-learn {s:.4f}")
    else:
        res["claims"] = None
        log(f"{CLAIMS_CSV} not found: claims part skipped")


def part_speed(db, res, n, d, runs, with_5m):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = rng.random(n) < 0.01
    X[y] = rng.uniform(-6, 6, size=(y.sum(), d))
    log(f"loading {n} x {d} rows")
    copy_matrix(db, "big", X, y)

    train_sql = "SELECT length(ecml.anomaly_train(f, '{\"seed\": %d}')) FROM big"
    e_train = [db.timed(train_sql % r) for r in range(runs)]
    s_train = []
    for r in range(runs):
        t = time.perf_counter()
        sk_model = IsolationForest(n_estimators=100, max_samples=256, random_state=r).fit(X)
        s_train.append(time.perf_counter() - t)
    log(f"training: ecml {statistics.median(e_train):.3f} s, scikit-learn {statistics.median(s_train):.3f} s")

    db.run("DROP TABLE IF EXISTS m; CREATE TABLE m AS SELECT ecml.anomaly_train(f, '{\"seed\": 1}') AS m FROM big")
    score_sql = "SELECT sum(ecml.anomaly_score((SELECT m FROM m), f)) FROM big"
    e_score = [db.timed(score_sql) for _ in range(runs)]
    scan = [db.timed("SELECT sum(array_length(f, 1)) FROM big") for _ in range(runs)]
    db.run("SET max_parallel_workers_per_gather = 2")
    e_score_par = [db.timed(score_sql) for _ in range(runs)]
    db.run("RESET max_parallel_workers_per_gather")
    t = time.perf_counter()
    sk_scores = sk_model.score_samples(X)
    s_score = time.perf_counter() - t
    log(f"scoring: ecml {statistics.median(e_score):.3f} s (parallel {statistics.median(e_score_par):.3f} s), "
        f"scikit-learn {s_score:.3f} s")
    res["speed"] = {"rows": n, "features": d, "e_train": e_train, "s_train": s_train,
                    "e_score": e_score, "e_score_par": e_score_par, "scan": scan,
                    "s_score": s_score, "sk_auc_check": roc_auc_score(y, -sk_scores)}

    # growth with rows (the 5M table is the 1M rows five times over) and trees
    growth = []
    db.run("CREATE TABLE big100k AS SELECT * FROM big WHERE i <= 100000; VACUUM ANALYZE big100k")
    tables = [("big100k", min(n, 100000)), ("big", n)]
    if with_5m:
        db.run("CREATE TABLE big5m AS SELECT b.* FROM big b, generate_series(1, 5) g; VACUUM ANALYZE big5m")
        tables.append(("big5m", 5 * n))
    for table, rows in tables:
        e = statistics.median([db.timed(f"SELECT length(ecml.anomaly_train(f)) FROM {table}") for _ in range(runs)])
        growth.append({"what": f"{rows:,} rows, 100 trees", "ecml": e})
        log(f"growth {table}: {e:.3f} s")
    for trees in (50, 200, 400):
        e = statistics.median([db.timed(f"SELECT length(ecml.anomaly_train(f, '{{\"n_trees\": {trees}}}')) FROM big")
                               for _ in range(runs)])
        growth.append({"what": f"{n:,} rows, {trees} trees", "ecml": e})
        log(f"growth {trees} trees: {e:.3f} s")
    res["growth"] = growth


# --------------------------------------------------------------------------
# report


def machine_info(db):
    return {"cpu": benchlib.cpu_model(), "nproc": benchlib.nproc(),
            "kernel": benchlib.kernel(),
            "loadavg_start": " ".join(benchlib.loadavg()),
            "postgres": db.value("SHOW server_version"),
            "ecml": db.value("SELECT extversion FROM pg_extension WHERE extname = 'ecml'"),
            "git": benchlib.git_describe(),
            "sklearn": sklearn.__version__, "numpy": np.__version__,
            "python": benchlib.python_version(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def verdict(met, gap):
    return "met" if met else f"NOT met ({gap})"


def report(res, command):
    m = res["machine"]
    med = statistics.median
    L = [BEGIN, "", "## Isolation forest (`bench-iforest`)", "",
         f"Date: {m['date']}. Command: `{command}`.", "",
         f"Machine: {m['cpu']}, {m['nproc']} cores, load average {m['loadavg_start']} at the start and "
         f"{res['loadavg_end']} at the end; Linux {m['kernel']}; PostgreSQL {m['postgres']}, "
         f"ecml {m['ecml']} (git {m['git']}); scikit-learn {m['sklearn']}, numpy {m['numpy']}, "
         f"Python {m['python']}. One thread on each side (OMP/OpenBLAS/MKL/BLIS = 1, "
         "`IsolationForest(n_jobs=None)`, ecml serial plans unless marked parallel). "
         "The machine is shared with other work running at the same time, so timings are noisy; "
         "ratios are from this run only.", ""]
    sp = res["speed"]
    q = res["quality"]
    L += ["| goal (issue 6) | ecml | scikit-learn | verdict |", "|---|---|---|---|"]
    for item in q:
        e, s = statistics.mean(item["ecml"]), statistics.mean(item["sk"])
        L.append(f"| ROC AUC on planted anomalies ({item['kind']}, mean of 3 seeds) within 0.01 of scikit-learn "
                 f"| {e:.4f} | {s:.4f} | {verdict(abs(e - s) <= 0.01, f'gap {abs(e - s):.4f}')} |")
    et, st = med(sp["e_train"]), med(sp["s_train"])
    L.append(f"| training 100 trees × 256 samples on {sp['rows']:,} × {sp['features']} rows, at most scikit-learn's time "
             f"| {et:.3f} s | {st:.3f} s | {verdict(et <= st, f'{et / st:.2f}× its time')} |")
    es, ss = med(sp["e_score"]), sp["s_score"]
    L.append(f"| scoring {sp['rows']:,} rows (SQL vs `score_samples`), at least 10× faster "
             f"| {es:.3f} s | {ss:.3f} s | {verdict(ss / es >= 10, f'only {ss / es:.1f}× faster')}"
             + (f" ({ss / es:.1f}× faster)" if ss / es >= 10 else "") + " |")
    if res["claims"]:
        c = res["claims"]
        L.append(f"| claims-fraud data ({c['rows']:,} claims, {c['features']} one-hot features): both near chance "
                 f"| {c['ecml']:.4f} | {c['sk']:.4f} | {verdict(abs(c['ecml'] - 0.5) < 0.1 and abs(c['sk'] - 0.5) < 0.1, 'not near 0.5')} (expected: fraud here is not an outlier in feature space) |")
    L += ["", "Details:", "",
          f"- Quality data: {res['quality_rows']:,} rows × 10 features, 1% planted anomalies, "
          "100 trees, 256 samples, the same seed for the data on both sides; *scattered*: three "
          "correlated Gaussian clusters, anomalies uniform in a box 1.5 times the data's range; "
          "*overlap*: N(0, I) rows, anomalies N(0, 1.7² I), many inside the bulk. Per seed: " +
          "; ".join(f"{it['kind']} ecml " + ", ".join(f"{v:.4f}" for v in it["ecml"]) +
                    " / scikit-learn " + ", ".join(f"{v:.4f}" for v in it["sk"]) for it in q) + ".",
          f"- Speed data: N(0, I) rows with 1% uniform anomalies, loaded with COPY; scikit-learn works on the "
          f"same rows as an in-memory float32 numpy array (loading them is not counted). "
          f"Training runs (ecml, SQL over the table): " + ", ".join(f"{v:.3f}" for v in sp["e_train"]) +
          " s; scikit-learn `fit`: " + ", ".join(f"{v:.3f}" for v in sp["s_train"]) + " s (the issue quotes about "
          f"{ISSUE_SK_TRAIN_S:.0f} s). Scoring runs (`SELECT sum(ecml.anomaly_score(...)) FROM big`): " +
          ", ".join(f"{v:.3f}" for v in sp["e_score"]) + " s; with a parallel plan (2 workers + leader): " +
          ", ".join(f"{v:.3f}" for v in sp["e_score_par"]) + " s; a plain scan of the same rows "
          "(`sum(array_length(f, 1))`): " + ", ".join(f"{v:.3f}" for v in sp["scan"]) +
          f" s. scikit-learn `score_samples`, one run: {ss:.3f} s (the issue quotes about {ISSUE_SK_SCORE_S:.0f} s).",
          "- Training time against rows and trees (ecml, serial, median of the runs):", ""]
    L += ["| training set | ecml |", "|---|---|"]
    for g in res["growth"]:
        L.append(f"| {g['what']} | {g['ecml']:.3f} s |")
    L += ["", "Training is one pass over the rows (once the reservoirs are full, most rows cost "
          "one comparison with the next row any reservoir takes), then growing the trees on "
          "trees × 256 sampled rows" + ("; the 5M-row table is the 1M rows five times over." if len(res["growth"]) > 5 else "."),
          "", END]
    return "\n".join(L) + "\n"


def write_section(path, text):
    old = open(path).read() if os.path.exists(path) else ""
    if BEGIN in old and END in old:
        a = old.index(BEGIN)
        b = old.index(END) + len(END)
        new = old[:a] + text.rstrip("\n") + old[b:]
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text
    with open(path, "w") as f:
        f.write(new)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1000000)
    ap.add_argument("--features", type=int, default=30)
    ap.add_argument("--quality-rows", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-5m", action="store_true", help="skip the 5M-row growth point")
    ap.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--keep", action="store_true", help="leave the cluster running")
    args = ap.parse_args()
    benchlib.require_root()
    command = "/usr/bin/python3 test/bench/bench_iforest.py " + " ".join(sys.argv[1:])
    command = benchlib.pgroot_prefix() + command.strip()
    print(f"command: {command}", flush=True)

    CLUSTER.create(extension=False)  # created below, in the measured session
    try:
        db = Psql()
        db.run("CREATE EXTENSION ecml")
        db.run("SET ecml.blas_threads = 1")
        res = {"machine": machine_info(db), "quality_rows": args.quality_rows}
        print("machine: " + ", ".join(f"{k} {v}" for k, v in res["machine"].items()), flush=True)
        part_quality(db, res, args.quality_rows)
        part_speed(db, res, args.rows, args.features, args.runs, not args.no_5m)
        res["loadavg_end"] = " ".join(benchlib.loadavg())
        db.close()
        text = report(res, command)
        print(text)
        write_section(args.output, text)
        log(f"wrote {args.output}")
    finally:
        if not args.keep:
            CLUSTER.remove()


if __name__ == "__main__":
    main()
