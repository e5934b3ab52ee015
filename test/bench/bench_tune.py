#!/usr/bin/python3
"""ecml.tune against scikit-learn's GridSearchCV and XGBoost's cv (issue 21).

Run as root (make -C test/bench -f tune.mk bench-tune):

    ECML_PGROOT=/opt/pg-x /usr/bin/python3 test/bench/bench_tune.py
        [--folds K] [--gbdt-trees N] [--smoke] [--output PATH] [--keep]

It starts a private PostgreSQL 15 cluster in /var/tmp/ecml-bench-tune (port
54349) from $ECML_PGROOT (default: the system tree, where ecml must be
installed) and measures, in one run, one thread on each side:

 1. logreg on the UCI Online Shoppers data (feature set A of shoppers.sql,
    every row): ecml.tune over a grid of l2 against GridSearchCV over
    StandardScaler + LogisticRegression with C = 1/(l2 * n_train), AUC;
 2. gbdt on the vehicle-insurance claims (one-hot, as bench_gbdt.py):
    ecml.tune over max_depth x learning_rate against xgboost.cv and a loop of
    xgboost.train over the same folds, AUC.

The folds are ecml.tune's own: a row's fold is
(hashtext(ROW(features, label)::text) & 2147483647) % 1000 % K, computed in
SQL for every row and handed to PredefinedSplit and to xgboost.cv, so both
sides hold out the same rows.  It writes the bench:tune section of
RESULTS.md beside this file (--output: another file).
"""
import argparse
import datetime
import itertools
import json
import math
import os
import re
import statistics
import sys
import tempfile
import time
import warnings

import benchlib
from benchlib import Cluster, die, log

benchlib.one_thread()  # before numpy, scikit-learn and XGBoost load

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
import xgboost as xgb  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, PredefinedSplit  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import bench_gbdt  # noqa: E402  (the claims encoding and the option mapping)
import results_md  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DIR = "/var/tmp/ecml-bench-tune"
PORT = 54349
SHOPPERS_CSV = next((p for p in (
    os.path.normpath(os.path.join(base, "shared", "data", "online-shoppers-intention",
                                  "online_shoppers_intention.csv"))
    for base in (os.path.join(REPO, ".."), os.path.join(REPO, "..", "..")))
    if os.path.exists(p)), None)
CLAIMS_CSV = bench_gbdt.CLAIMS_CSV

# the grids: C for scikit-learn (l2 = 1/(C * n_train) for ecml); XGBoost's
# names through bench_gbdt.xgb_params
LOGREG_C = [1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0]
GBDT_GRID = {"max_depth": [3, 5, 7], "learning_rate": [0.05, 0.1]}
GBDT_BASE = dict(n_trees=200, l2=1.0, min_child_weight=1.0, max_bins=256)

CLUSTER = Cluster(DIR, PORT, db="bench", conf=[
    "shared_buffers = 512MB", "work_mem = 64MB", "synchronous_commit = off",
    "fsync = off", "full_page_writes = off", "max_parallel_workers_per_gather = 0",
    "jit = off"])
NOTICE = re.compile(r"option set (\d+) of \d+, fold (\d+) of \d+: \w+ = ([0-9.]+)")


def fold_sql(cols, k):
    """ecml.tune's fold of a row of source columns cols (95_lifecycle.sql)."""
    return f"(hashtext(ROW({cols})::text) & 2147483647) % 1000 % {k}"


def query_rows(sql):
    """Rows of one statement, fields split on '|'."""
    out = CLUSTER.psql("-c", sql).stdout
    return [line.split("|") for line in out.splitlines() if line]


def ecml_tune(db, kind, source, grid, options):
    """Run ecml.tune once (ecml.progress on); returns rows, wall seconds and
    the per-fold metric of each option set (from the progress NOTICEs)."""
    sql = (f"SELECT rank, training_options, mean, spread, seconds FROM ecml.tune("
           f"'{kind}', $q${source}$q$, '{json.dumps(grid)}', '{json.dumps(options)}')")
    rows, times, msgs = db.run(sql)
    folds = {}
    for m in msgs:
        hit = NOTICE.search(m)
        if hit:
            folds.setdefault(int(hit.group(1)), {})[int(hit.group(2)) - 1] = float(hit.group(3))
    out = []
    for r in rows:
        rank, opts, mean, spread, secs = r.split("\t")
        out.append({"rank": int(rank), "options": json.loads(opts), "mean": float(mean),
                    "spread": float(spread), "seconds": float(secs)})
    # option set i of the NOTICEs: the grid's product, the first key (in jsonb's
    # key order) varying slowest, as ecml.tune builds it
    keys = [r[0] for r in query_rows(f"SELECT k FROM jsonb_object_keys('{json.dumps(grid)}') k")]
    order = [dict(zip(keys, vals)) for vals in itertools.product(*[grid[k] for k in keys])]
    for r in out:
        i = next(j for j, s in enumerate(order) if all(r["options"][k] == v for k, v in s.items()))
        r["folds"] = [folds[i + 1][f] for f in sorted(folds[i + 1])]
        r["set"] = {k: r["options"][k] for k in grid}
    return out, times[-1] / 1000.0


def sample_sd(xs):
    return statistics.stdev(xs) if len(xs) > 1 else 0.0


# --------------------------------------------------------------------------
# 1. logreg on Online Shoppers


def ecml_tune_rerun(db, kind, source, grid, options, rows):
    """The same search with "materialize": false (every fold reruns the
    source and hashes its rows again): its wall seconds, and whether it gives
    the same means as the materialized run."""
    again, wall = ecml_tune(db, kind, source, grid, dict(options, materialize=False))
    same = all(abs(a["mean"] - b["mean"]) <= 1e-12 and a["set"] == b["set"] for a, b in zip(rows, again))
    log(f"ecml.tune {kind}, materialize false: {wall:.2f} s, same means: {same}")
    return wall, same


def part_logreg(db, res, k, cs):
    if not SHOPPERS_CSV:
        log("the Online Shoppers data is absent: part 1 skipped")
        res["logreg"] = None
        return
    with open(SHOPPERS_CSV) as f:
        CLUSTER.psql("-f", os.path.join(HERE, "shoppers.sql"), input=f.read())
    data = query_rows(f"SELECT {fold_sql('fa, y', k)}, y::int, array_to_string(fa, ',') "
                      "FROM shop_feat ORDER BY row_no")
    folds = np.array([int(r[0]) for r in data])
    y = np.array([int(r[1]) for r in data])
    X = np.array([[float(v) for v in r[2].split(",")] for r in data], dtype=np.float32)
    n_train = float(np.mean([np.sum(folds != f) for f in range(k)]))
    l2s = [float(f"{1.0 / (c * n_train):.6g}") for c in cs]
    sk_c = [1.0 / (l2 * n_train) for l2 in l2s]
    log(f"logreg: {len(y)} rows, {X.shape[1]} features, fold sizes {np.bincount(folds).tolist()}")

    rows, e_wall = ecml_tune(db, "logreg", "SELECT fa, y FROM shop_feat", {"l2": l2s},
                             {"folds": k, "metric": "auc"})
    log(f"ecml.tune logreg: {e_wall:.2f} s, best {rows[0]['set']}")
    rerun_wall, rerun_same = ecml_tune_rerun(db, "logreg", "SELECT fa, y FROM shop_feat", {"l2": l2s},
                                             {"folds": k, "metric": "auc"}, rows)

    pipe = Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression(max_iter=100))])
    gs = GridSearchCV(pipe, {"lr__C": sk_c}, scoring="roc_auc", cv=PredefinedSplit(folds),
                      refit=False, n_jobs=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        gs.fit(X, y)
        s_wall = time.perf_counter() - t0
    cv = gs.cv_results_
    sk = []
    for i, c in enumerate(sk_c):
        splits = [float(cv[f"split{f}_test_score"][i]) for f in range(k)]
        sk.append({"l2": l2s[i], "C": c, "mean": float(cv["mean_test_score"][i]),
                   "spread": sample_sd(splits), "rank": int(cv["rank_test_score"][i]),
                   "folds": splits, "fit_s": float(cv["mean_fit_time"][i]) * k})
    log(f"GridSearchCV: {s_wall:.2f} s, best C {gs.best_params_['lr__C']:.6g}")
    res["logreg"] = {"rows": len(y), "features": X.shape[1], "fold_sizes": np.bincount(folds).tolist(),
                     "n_train": n_train, "ecml": rows, "ecml_wall": e_wall, "sk": sk,
                     "sk_wall": s_wall, "rerun_wall": rerun_wall, "rerun_same": rerun_same}


# --------------------------------------------------------------------------
# 2. gbdt on the claims


def load_claims(db, X, y):
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False, dir="/var/tmp") as f:
        path = f.name
        for i in range(len(y)):
            f.write(f"{i}\t{{{','.join('%.9g' % v for v in X[i])}}}\t{'t' if y[i] else 'f'}\n")
    os.chmod(path, 0o644)
    try:
        db.run("CREATE TABLE claims (id int, f real[], y boolean)")
        db.run(f"\\copy claims FROM '{path}'")
    finally:
        os.unlink(path)
    db.run("VACUUM ANALYZE claims")


def part_gbdt(db, res, k, n_trees):
    if not os.path.exists(CLAIMS_CSV):
        log(f"{CLAIMS_CSV} is absent: part 2 skipped")
        res["gbdt"] = None
        return
    X, y, _, _, _ = bench_gbdt.load_claims()
    load_claims(db, X, y)
    folds = np.zeros(len(y), dtype=np.int64)
    for i, f in query_rows(f"SELECT id, {fold_sql('f, y', k)} FROM claims"):
        folds[int(i)] = int(f)
    base = dict(GBDT_BASE, n_trees=n_trees)
    log(f"gbdt: {len(y)} rows, {X.shape[1]} columns, fold sizes {np.bincount(folds).tolist()}")

    rows, e_wall = ecml_tune(db, "gbdt", "SELECT f, y FROM claims", GBDT_GRID,
                             {"folds": k, "metric": "auc", "base": base})
    log(f"ecml.tune gbdt: {e_wall:.2f} s, best {rows[0]['set']}")
    rerun_wall, rerun_same = ecml_tune_rerun(db, "gbdt", "SELECT f, y FROM claims", GBDT_GRID,
                                             {"folds": k, "metric": "auc", "base": base}, rows)

    sets = [dict(zip(GBDT_GRID, v)) for v in itertools.product(*GBDT_GRID.values())]
    pairs = [(np.flatnonzero(folds != f), np.flatnonzero(folds == f)) for f in range(k)]
    # xgboost.cv: AUC of every fold after the last round (it evaluates every round)
    cvres = []
    t0 = time.perf_counter()
    d = xgb.DMatrix(X, label=y, nthread=1)
    for s in sets:
        p = dict(bench_gbdt.xgb_params(dict(base, **s)), eval_metric="auc")
        h = xgb.cv(p, d, num_boost_round=n_trees, folds=pairs, metrics=["auc"], as_pandas=False)
        cvres.append({"set": s, "mean": float(h["test-auc-mean"][-1]),
                      # numpy's population sd over the folds, made a sample sd
                      "spread": float(h["test-auc-std"][-1]) * math.sqrt(k / (k - 1))})
    cv_wall = time.perf_counter() - t0
    log(f"xgboost.cv: {cv_wall:.2f} s")
    # the same as one xgboost.train + one AUC a fold, as ecml.tune does it
    loop = []
    t0 = time.perf_counter()
    for s in sets:
        p = bench_gbdt.xgb_params(dict(base, **s))
        aucs = []
        for tr, te in pairs:
            b = xgb.train(p, xgb.DMatrix(X[tr], label=y[tr], nthread=1), num_boost_round=n_trees)
            aucs.append(float(roc_auc_score(y[te], b.inplace_predict(X[te]))))
        loop.append({"set": s, "mean": statistics.mean(aucs), "spread": sample_sd(aucs), "folds": aucs})
    loop_wall = time.perf_counter() - t0
    log(f"xgboost.train loop: {loop_wall:.2f} s")
    res["gbdt"] = {"rows": len(y), "columns": X.shape[1], "fold_sizes": np.bincount(folds).tolist(),
                   "base": base, "ecml": rows, "ecml_wall": e_wall, "cv": cvres, "cv_wall": cv_wall,
                   "loop": loop, "loop_wall": loop_wall, "rerun_wall": rerun_wall, "rerun_same": rerun_same}


# --------------------------------------------------------------------------
# report


def ranked(xs):
    """xs (dicts with mean) ranked best first: {index: rank}."""
    order = sorted(range(len(xs)), key=lambda i: -xs[i]["mean"])
    return {i: r + 1 for r, i in enumerate(order)}


def setkey(s):
    return json.dumps(s, sort_keys=True)


def agreement(e_best, p_best, e_rows, p_mean, p_spread):
    """One sentence: the best sets agree, or how far apart their means are."""
    if setkey(e_best["set"]) == setkey(p_best["set"]):
        return "**agree**"
    e_other = next(r for r in e_rows if setkey(r["set"]) == setkey(p_best["set"]))
    return (f"**differ**: the peer's best scores {e_other['mean']:.4f} in ecml, "
            f"{e_best['mean'] - e_other['mean']:.4f} below ecml's best (spread over the folds "
            f"{e_best['spread']:.4f}); ecml's best scores {p_mean:.4f} with the peer, "
            f"{p_best['mean'] - p_mean:.4f} below its best (spread {p_spread:.4f})")


def rank_note(ranks, label):
    """Which option sets the two rankings place differently ({name: (ecml, peer)})."""
    diff = [f"{n} ({e} vs {p})" for n, (e, p) in ranks.items() if e != p]
    return (f"The rankings of all option sets agree with {label}." if not diff else
            f"Ranked differently by ecml and {label} (ecml's rank vs its): " + ", ".join(diff) + ".")


def rerun_note(part):
    return (f"Work shared across folds: the same search with `\"materialize\": false` (every fold reruns "
            f"the source query and hashes each row for its fold again) took {part['rerun_wall']:.2f} s, "
            f"{part['rerun_wall'] / part['ecml_wall']:.2f}× the default, "
            + ("with the same means." if part["rerun_same"] else "with DIFFERENT means (a bug)."))


def report(res, command, machine, load0, load1):
    L = ["## Tuning: `ecml.tune` vs GridSearchCV and xgboost.cv (`bench-tune`)", "",
         f"Date: {machine['date']}. Command: `{command}`.", "",
         f"Machine: {machine['cpu']}, nproc {machine['nproc']}, load average {load0} at the start and "
         f"{load1} at the end (shared with other work: timings are noisy); PostgreSQL "
         f"{machine['postgres']}, ecml {machine['ecml']} (git {machine['git']}); scikit-learn "
         f"{sklearn.__version__}, XGBoost {xgb.__version__}, numpy {np.__version__}, Python "
         f"{benchlib.python_version()}. One thread on each side (OMP/OpenBLAS threads = 1, "
         "`ecml.blas_threads = 1`, serial plans, `n_jobs=None`, `nthread=1`).", "",
         "Folds: ecml.tune's own. A row's fold is `(hashtext(ROW(features, label)::text) & "
         "2147483647) % 1000 % 5`; the benchmark computes it in SQL for every row and gives it to "
         "`PredefinedSplit` and to `xgboost.cv(folds=...)`, so both sides train and score on the "
         "same rows. Spread: the sample standard deviation of the 5 fold AUCs on every side.", ""]
    lr = res["logreg"]
    lr_worst = None
    if lr:
        e, sk = lr["ecml"], lr["sk"]
        by_l2 = {r["set"]["l2"]: r for r in e}
        sk_rank = ranked(sk)
        sk_best = sk[min(sk_rank, key=sk_rank.get)]
        worst_fold = lr_worst = max(abs(a - b) for s in sk for a, b in zip(by_l2[s["l2"]]["folds"], s["folds"]))
        L += [f"### 1. logreg on Online Shoppers ({lr['rows']:,} rows, feature set A of `shoppers.sql`: "
              f"{lr['features']} features)", "",
              f"Fold sizes {lr['fold_sizes']}; mean training rows {lr['n_train']:.0f}, so "
              f"`l2 = 1/(C·{lr['n_train']:.0f})` (a fold's own training rows differ from the mean by at most "
              f"{max(abs((lr['rows'] - s) - lr['n_train']) / lr['n_train'] for s in lr['fold_sizes']) * 100:.1f}%, "
              "and its effective C with it). ecml: `ecml.tune('logreg', 'SELECT fa, y FROM shop_feat', "
              "'{\"l2\": [...]}', '{\"folds\": 5, \"metric\": \"auc\"}')` (standardize, max_iter 100); "
              "scikit-learn: `GridSearchCV(Pipeline([StandardScaler(), LogisticRegression()]), "
              "{'C': [...]}, scoring='roc_auc', cv=PredefinedSplit(folds), refit=False)` (lbfgs, max_iter 100).", "",
              "| C | `l2` | ecml mean AUC | spread | rank | GridSearchCV mean AUC | spread | rank |",
              "|---|---|---|---|---|---|---|---|"]
        for s in sk:
            r = by_l2[s["l2"]]
            L.append(f"| {s['C']:.4g} | {s['l2']:.6g} | {r['mean']:.5f} | {r['spread']:.5f} | {r['rank']} "
                     f"| {s['mean']:.5f} | {s['spread']:.5f} | {s['rank']} |")
        e_best = e[0]
        sk_best_as = {"set": {"l2": sk_best["l2"]}, "mean": sk_best["mean"], "spread": sk_best["spread"]}
        p_at_e = next(s for s in sk if s["l2"] == e_best["set"]["l2"])["mean"]
        L += ["", f"Best: ecml `l2` = {e_best['set']['l2']:.6g}, GridSearchCV C = {sk_best['C']:.4g} "
              f"(`l2` = {sk_best['l2']:.6g}): " + agreement(e_best, sk_best_as, e, p_at_e, sk_best["spread"]) + ". "
              f"The largest difference of one fold's AUC between the two sides, over every C and fold: "
              f"{worst_fold:.4f} (ecml reports it rounded to 4 decimals in its progress NOTICEs).",
              rank_note({f"C = {x['C']:.4g}": (by_l2[x["l2"]]["rank"], x["rank"]) for x in sk}, "GridSearchCV"),
              f"Wall time of the whole search ({len(sk)} option sets × 5 folds): ecml.tune {lr['ecml_wall']:.2f} s "
              f"(the statement, from psql), GridSearchCV {lr['sk_wall']:.2f} s (`fit` on the in-memory "
              "array; loading it is not counted). " + rerun_note(lr), ""]
    gb = res["gbdt"]
    if gb:
        e = gb["ecml"]
        by = {setkey(r["set"]): r for r in e}
        cv_rank, loop_rank = ranked(gb["cv"]), ranked(gb["loop"])
        cv_best = gb["cv"][min(cv_rank, key=cv_rank.get)]
        loop_best = gb["loop"][min(loop_rank, key=loop_rank.get)]
        worst_fold = max(abs(a - b) for s in gb["loop"] for a, b in zip(by[setkey(s["set"])]["folds"], s["folds"]))
        b = gb["base"]
        L += [f"### 2. gbdt on the claims ({gb['rows']:,} rows, {gb['columns']} columns, one-hot as `bench_gbdt.py`)", "",
              f"Fold sizes {gb['fold_sizes']}. Common options: {b['n_trees']} trees, `l2` (lambda) {b['l2']:g}, "
              f"`min_child_weight` {b['min_child_weight']:g}, `max_bins` {b['max_bins']}; XGBoost "
              "`tree_method=hist`, `nthread=1`. ecml: `ecml.tune('gbdt', 'SELECT f, y FROM claims', "
              f"'{json.dumps(GBDT_GRID)}', '{{\"folds\": 5, \"metric\": \"auc\", \"base\": {{...}}}}')`; "
              f"XGBoost: `xgboost.cv(params, dtrain, {b['n_trees']}, folds=[(train, test), ...], "
              "metrics=['auc'])` per option set (it evaluates train and test AUC after every round), "
              "and a loop of `xgboost.train` + `roc_auc_score` per fold (what ecml.tune does).", "",
              "| max_depth | learning_rate | ecml mean AUC | spread | rank | xgboost.cv mean AUC | spread | rank "
              "| train loop mean AUC | rank |", "|---|---|---|---|---|---|---|---|---|---|"]
        for i, s in enumerate(gb["cv"]):
            r = by[setkey(s["set"])]
            lp = gb["loop"][i]
            L.append(f"| {s['set']['max_depth']} | {s['set']['learning_rate']} | {r['mean']:.5f} | {r['spread']:.5f} "
                     f"| {r['rank']} | {s['mean']:.5f} | {s['spread']:.5f} | {cv_rank[i]} | {lp['mean']:.5f} "
                     f"| {loop_rank[i]} |")
        e_best = e[0]
        p_at_e = next(s for s in gb["cv"] if setkey(s["set"]) == setkey(e_best["set"]))["mean"]
        L += ["", f"Best: ecml {json.dumps(e_best['set'])}, xgboost.cv {json.dumps(cv_best['set'])}, "
              f"train loop {json.dumps(loop_best['set'])}. ecml vs xgboost.cv: "
              + agreement(e_best, cv_best, e, p_at_e, cv_best["spread"]) + ". "
              f"The largest difference of one fold's AUC between ecml and the XGBoost train loop: {worst_fold:.4f}: "
              "the folds are the same" + (f" (in part 1 every fold's AUC agrees to {lr_worst:.4f})" if lr_worst is not None else "")
              + ", the trees are "
              "not (ecml's and XGBoost's bin edges and split finding differ), so a fold's AUC moves by about "
              "as much as the spread over the folds, and option sets whose means are closer than that may "
              "change places. " + rank_note({f"{x['set']['max_depth']}/{x['set']['learning_rate']}":
                                        (by[setkey(x["set"])]["rank"], cv_rank[i])
                                        for i, x in enumerate(gb["cv"])}, "xgboost.cv (max_depth/learning_rate)"),
              f"Wall time of the whole search ({len(gb['cv'])} option sets × 5 folds): ecml.tune "
              f"{gb['ecml_wall']:.2f} s, xgboost.cv {gb['cv_wall']:.2f} s, the xgboost.train loop "
              f"{gb['loop_wall']:.2f} s (DMatrix building counted on the XGBoost side). " + rerun_note(gb), ""]
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--gbdt-trees", type=int, default=GBDT_BASE["n_trees"])
    ap.add_argument("--smoke", action="store_true", help="two C values, 20 trees (a quick check)")
    ap.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--keep", action="store_true", help="leave the cluster running")
    args = ap.parse_args()
    benchlib.require_root()
    command = benchlib.pgroot_prefix() + "/usr/bin/python3 test/bench/bench_tune.py " + " ".join(sys.argv[1:])
    command = command.strip()
    print(f"command: {command}", flush=True)
    if args.smoke:
        args.gbdt_trees = 20
    cs = LOGREG_C[3:5] if args.smoke else LOGREG_C
    load0 = benchlib.loadavg_2f()
    lockf = benchlib.lock("/var/tmp/ecml-bench-tune.lock")
    CLUSTER.create()
    try:
        db = benchlib.Psql(CLUSTER, setup=["SET ecml.blas_threads = 1", "SET ecml.progress = on"])
        machine = {"cpu": benchlib.cpu_model(), "nproc": benchlib.nproc(),
                   "postgres": db.value("SHOW server_version"),
                   "ecml": db.value("SELECT extversion FROM pg_extension WHERE extname = 'ecml'"),
                   "git": benchlib.git_describe(),
                   "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
        res = {}
        try:
            part_logreg(db, res, args.folds, cs)
            part_gbdt(db, res, args.folds, args.gbdt_trees)
        except benchlib.SQLError as e:
            die(f"SQL failed: {e}")
        db.close()
        text = report(res, command, machine, load0, benchlib.loadavg_2f())
        print(text)
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        results_md.write_section(args.output, "tune", text)
        log(f"wrote {args.output}")
    finally:
        if not args.keep:
            CLUSTER.remove()
        lockf.close()


if __name__ == "__main__":
    main()
