#!/usr/bin/python3
"""ecml logistic regression benchmark against scikit-learn.

Run as root from anywhere (`make bench` in the repository root does):

    /usr/bin/python3 test/bench/bench.py [--rows N] [--features F] [--runs R]
                                         [--output PATH] [--keep]

It creates a private PostgreSQL 15 cluster in /var/tmp/ecml-bench (port
54351, run as the postgres OS user from $ECML_PGROOT/usr/lib/postgresql/15/bin,
default the system tree; clients as root over the unix socket), runs four
parts and writes RESULTS.md beside this file:

 1. quality on the UCI Online Shoppers data (skipped with a message when
    ../shared/data/online-shoppers-intention/ is absent),
 2. training speed on ROWS x FEATURES synthetic rows generated in the
    database, against scikit-learn's fit and against COPY out + numpy load
    + fit,
 3. scoring cost against a plain scan,
 4. training memory (the backend's anonymous RSS, sampled).

Only the standard library is used here; psql is the driver, and the
scikit-learn side runs in sk_worker.py with one thread.  The extension must
be installed (make && make install); python3-sklearn is installed with
apt-get if it is missing.
"""
import argparse
import datetime
import json
import math
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results_md import write_section  # noqa: E402
from benchlib import (PG_BIN, PYTHON, PEER_ENV_PREFIX as SK_ENV_PREFIX,  # noqa: E402
                      Cluster, Psql as Session, die, ensure_packages, log,
                      median, peer_env, run, status_kb)
import benchlib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DIR = "/var/tmp/ecml-bench"
PORT = 54351
DB = "bench"
SHOPPERS_CSV = os.path.normpath(os.path.join(
    REPO, "..", "shared", "data", "online-shoppers-intention",
    "online_shoppers_intention.csv"))
HASH_N = 256

# scikit-learn's reference figures quoted in the issue (C=1)
SK_REFERENCE = {"A": 0.886, "B": 0.914}
QUALITY_TOLERANCE = 0.003


def sk_env():
    """One thread everywhere; no OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE."""
    return peer_env(PGHOST=DIR, PGPORT=str(PORT), PGUSER="postgres", PGDATABASE=DB)


def sk_worker(*args):
    argv = [PYTHON, os.path.join(HERE, "sk_worker.py")] + [str(a) for a in args]
    log(f"{SK_ENV_PREFIX} {' '.join(argv)}")
    r = subprocess.run(argv, env=sk_env(), capture_output=True, text=True)
    if r.returncode != 0:
        die(f"sk_worker {args[0]} failed:\n{r.stderr[-4000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


CLUSTER = Cluster(DIR, PORT, db=DB, conf=[
    "shared_buffers = 1GB",
    "max_worker_processes = 8",
    "max_parallel_workers = 8",
    "max_parallel_workers_per_gather = 2",
    # setup speed only (bulk generation of the synthetic table); the
    # measured queries read, they do not write
    "max_wal_size = 4GB",
    "synchronous_commit = off",
])


def Psql():
    """A session on the benchmark's database."""
    return Session(CLUSTER)


# --------------------------------------------------------------------------
# helpers


def auc_from_pairs(pairs):
    """ROC AUC (Mann-Whitney with midranks for ties) of (score, label) pairs."""
    pairs = sorted(pairs)
    npos = sum(1 for _, y in pairs if y)
    nneg = len(pairs) - npos
    rank_sum = 0.0
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mid = (i + 1 + j) / 2.0          # ranks i+1 .. j
        rank_sum += mid * sum(1 for k in range(i, j) if pairs[k][1])
        i = j
    return (rank_sum - npos * (npos + 1) / 2.0) / (npos * nneg)


def ap_from_pairs(pairs):
    """Average precision as scikit-learn defines it: sum over distinct
    thresholds (high to low) of (R_k - R_k-1) P_k."""
    pairs = sorted(pairs, key=lambda p: -p[0])
    npos = sum(1 for _, y in pairs if y)
    tp = fp = 0
    ap = 0.0
    prev_recall = 0.0
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            tp += pairs[j][1]
            fp += not pairs[j][1]
            j += 1
        recall = tp / npos
        ap += (recall - prev_recall) * tp / (tp + fp)
        prev_recall = recall
        i = j
    return ap


def log_loss_from_pairs(pairs, eps=2.220446049250313e-16):
    total = 0.0
    for p, y in pairs:
        p = min(max(p, eps), 1 - eps)
        total -= math.log(p if y else 1 - p)
    return total / len(pairs)


def have_function(db, name):
    return db.value(
        "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        f"WHERE n.nspname = 'ecml' AND p.proname = '{name}'") != "0"


class RssSampler(threading.Thread):
    """Samples RssAnon of the backend and of its parallel workers every 5 ms."""

    def __init__(self, leader):
        super().__init__(daemon=True)
        self.leader = leader
        self.stop_flag = threading.Event()
        self.peak_leader = 0
        self.peak_total = 0
        self.peak_workers = 0
        self.samples = 0
        self.worker_pids = set()
        self.tag = f"parallel worker for PID {leader}"

    def workers(self):
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == self.leader:
                continue
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if self.tag.encode() in f.read():
                        pids.append(int(d))
            except OSError:
                pass
        return pids

    def run(self):
        while not self.stop_flag.is_set():
            lead = status_kb(self.leader, "RssAnon") or 0
            wsum = 0
            for pid in self.workers():
                self.worker_pids.add(pid)
                wsum += status_kb(pid, "RssAnon") or 0
            self.samples += 1
            self.peak_leader = max(self.peak_leader, lead)
            self.peak_workers = max(self.peak_workers, wsum)
            self.peak_total = max(self.peak_total, lead + wsum)
            time.sleep(0.005)

    def stop(self):
        self.stop_flag.set()
        self.join()


def mib(kb_or_bytes, unit="kb"):
    b = kb_or_bytes * 1024 if unit == "kb" else kb_or_bytes
    return b / (1024 * 1024)


def verdict(met, gap):
    return ("met" if met else "**NOT met**") + (f" ({gap})" if gap else "")


# --------------------------------------------------------------------------
# the parts


def part_quality(res):
    if not os.path.exists(SHOPPERS_CSV):
        msg = (f"SKIPPED: {SHOPPERS_CSV} is absent (the quality test needs the UCI "
               "Online Shoppers data in ../shared/data next to the repository)")
        log(msg)
        res["quality"] = {"skipped": msg}
        return
    log("part 1: quality on the Online Shoppers data")
    db = Psql()
    try:
        with open(SHOPPERS_CSV) as csv_in:
            run(["psql", "-X", "-q", "-d", DB, "-f", os.path.join(HERE, "shoppers.sql")],
                stdin=csv_in, stdout=subprocess.DEVNULL)
        hashing = have_function(db, "hash_features")
        sql_auc = have_function(db, "roc_auc")
        sql_ap = have_function(db, "average_precision")
        sql_ll = have_function(db, "log_loss")
        n_train = int(db.value("SELECT count(*) FROM shop_feat WHERE NOT is_test"))
        n_test = int(db.value("SELECT count(*) FROM shop_feat WHERE is_test"))
        l2 = 1.0 / (1.0 * n_train)          # C = 1
        sets = {"A": "fa", "B": "fb"}
        if hashing:
            db.run(f"ALTER TABLE shop_feat ADD COLUMN fh real[];"
                   f"UPDATE shop_feat SET fh = fa || ecml.hash_features(tokens, {HASH_N});")
            sets["B_hashed"] = "fh"
        q = {"n_train": n_train, "n_test": n_test, "l2": l2,
             "sql_metrics": sql_auc, "sql_ap": sql_ap, "sql_log_loss": sql_ll,
             "hash_features": hashing, "sets": {}}
        for name, col in sets.items():
            opts = json.dumps({"l2": l2})
            train_sql = (f"INSERT INTO shop_models SELECT '{name}', "
                         f"ecml.logreg_train({col}, y, '{opts}') FROM shop_feat WHERE NOT is_test")
            db.run(train_sql)
            info = json.loads(db.value(
                f"SELECT ecml.model_info(model) FROM shop_models WHERE name = '{name}'"))
            score = (f"ecml.logreg_predict((SELECT model FROM shop_models WHERE name = '{name}'), {col})")
            rows, _, _ = db.run(f"SELECT {score}, y FROM shop_feat WHERE is_test ORDER BY row_no")
            pairs = [(float(s), y == "t") for s, y in (r.split("\t") for r in rows)]
            entry = {"features": len(json.loads(db.value(
                        f"SELECT array_to_json({col}) FROM shop_feat LIMIT 1"))),
                     "auc_python": auc_from_pairs(pairs),
                     "ap": ap_from_pairs(pairs),
                     "log_loss": log_loss_from_pairs(pairs),
                     "iterations": info["metrics"]["iterations"],
                     "converged": info["metrics"]["converged"],
                     "solver": info.get("solver"),
                     "train_sql": train_sql}
            if sql_auc:
                entry["auc_sql"] = float(db.value(
                    f"SELECT ecml.roc_auc({score}, y) FROM shop_feat WHERE is_test"))
            entry["auc"] = entry.get("auc_sql", entry["auc_python"])
            if sql_ap:
                entry["ap"] = float(db.value(
                    f"SELECT ecml.average_precision({score}, y) FROM shop_feat WHERE is_test"))
            if sql_ll:
                entry["log_loss"] = float(db.value(
                    f"SELECT ecml.log_loss({score}, y) FROM shop_feat WHERE is_test"))
            q["sets"][name] = entry
    finally:
        db.close()
    sk = sk_worker("quality", SHOPPERS_CSV, *( [HASH_N] if "B_hashed" in q["sets"] else []))
    q["sklearn"] = sk
    for name, entry in q["sets"].items():
        s = sk["sets"][name]
        entry["sk_auc"] = s["auc"]
        entry["sk_features"] = s["features"]
        entry["sk_iter"] = s["n_iter"]
        entry["sk_ap"] = s["average_precision"]
        entry["sk_log_loss"] = s["log_loss"]
        entry["sk_converged"] = s["converged"]
        entry["diff"] = entry["auc"] - s["auc"]
        entry["met"] = abs(entry["diff"]) <= QUALITY_TOLERANCE
    res["quality"] = q


def part_speed(res, rows, nfeat, runs):
    log(f"part 2: generating {rows} x {nfeat} rows in the database")
    t0 = time.perf_counter()
    run(["psql", "-X", "-q", "-d", DB, "-v", f"rows={rows}", "-v", f"features={nfeat}",
         "-f", os.path.join(HERE, "synthetic.sql")], stdout=subprocess.DEVNULL)
    gen_s = time.perf_counter() - t0
    l2 = 1.0 / (1.0 * rows)                 # C = 1
    opts = json.dumps({"l2": l2})
    sp = {"rows": rows, "features": nfeat, "runs": runs, "generate_s": gen_s, "l2": l2,
          "C": 1.0, "settings": {}}
    db = Psql()
    try:
        sp["table_size"] = db.value("SELECT pg_size_pretty(pg_table_size('t'))")
        sp["positive_rate"] = float(db.value("SELECT avg(y::int) FROM t"))
        # check the generator: z recomputed from f gives the same label model
        sp["fingerprint"] = db.value("SELECT round(sum(f[1] + f[50 % array_length(f,1) + 1])::numeric, 3) || '/' || sum(y::int) FROM t")
        db.run("SELECT count(*) FROM t")     # warm the caches once
        variants = [("default", opts)]
        variants_lbfgs = json.dumps({"l2": l2, "solver": "lbfgs"})
        for workers in (0, 2):
            db.run(f"SET max_parallel_workers_per_gather = {workers}")
            for vname, o in variants + ([("lbfgs", variants_lbfgs)] if workers == 2 else []):
                train = f"SELECT ecml.logreg_train(f, y, '{o}') FROM t"
                explain, _, _ = db.run(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {train}")
                plan = "\n".join(explain)
                launched = re.search(r"Workers Launched: (\d+)", plan)
                partial = "Partial Aggregate" in plan
                walls, opt_s, iters, conv, final = [], [], [], [], []
                for _ in range(runs):
                    db.run("\\unset m")
                    walls.append(db.timed(train.replace(") FROM t", ") AS m FROM t") + " \\gset"))
                    info = json.loads(db.value("SELECT ecml.model_info(:'m'::bytea)"))
                    met = info["metrics"]
                    opt_s.append(met["training_seconds"])
                    iters.append(met["iterations"])
                    conv.append(met["converged"])
                    final.append(met)
                key = f"{vname}/{workers}"
                sp["settings"][key] = {
                    "workers_per_gather": workers, "options": o, "sql": train,
                    "plan": plan, "partial_aggregate": partial,
                    "workers_launched": int(launched.group(1)) if launched else 0,
                    "wall_s": walls, "optimizer_s": opt_s, "iterations": iters,
                    "converged": conv, "solver": info.get("solver"),
                    "final_loss": final[-1].get("final_loss"),
                    "train_log_loss": final[-1].get("train_log_loss"),
                    "wall_median": median(walls), "optimizer_median": median(opt_s),
                }
                if vname == "default" and workers == 2:
                    db.run("INSERT INTO models VALUES ('bench', :'m'::bytea)")
                    db.run("SELECT ecml.save_model('bench', :'m'::bytea)")
                log(f"  ecml {key}: wall {median(walls):.3f}s, optimizer {median(opt_s):.3f}s")
        db.run("RESET max_parallel_workers_per_gather")
    finally:
        db.close()
    log("  scikit-learn: COPY out + np.loadtxt + fit")
    sk = sk_worker("speed", rows, nfeat, runs, 1.0)
    sp["sklearn"] = sk
    sp["sk_fit_median"] = median([r["fit_s"] for r in sk["runs"]])
    sp["sk_total_median"] = median([r["total_s"] for r in sk["runs"]])
    sp["sk_copy_load_median"] = median([r["copy_load_s"] for r in sk["runs"]])
    res["speed"] = sp


def part_scoring(res, runs):
    log("part 3: scoring")
    db = Psql()
    sc = {"settings": {}}
    try:
        db.run("SELECT model AS m FROM models WHERE name = 'bench' \\gset")
        queries = [
            ("baseline: sum(f[1])", "SELECT sum(f[1]) FROM t"),
            ("literal model", "SELECT sum(ecml.logreg_predict(:'m'::bytea, f)) FROM t"),
            ("scalar subquery on table models",
             "SELECT sum(ecml.logreg_predict((SELECT model FROM models WHERE name = 'bench'), f)) FROM t"),
            ("(SELECT ecml.model('bench'))",
             "SELECT sum(ecml.logreg_predict((SELECT ecml.model('bench')), f)) FROM t"),
            ("ecml.model('bench') inline",
             "SELECT sum(ecml.logreg_predict(ecml.model('bench'), f)) FROM t"),
        ]
        db.run("SET statement_timeout = '300s'")
        for workers in (0, 2):
            db.run(f"SET max_parallel_workers_per_gather = {workers}")
            for _, sql in queries:
                db.run(sql)                  # warm-up (also caches the parsed model)
            # round-robin, so a busy spell of the machine hits every query alike
            times = [[] for _ in queries]
            for _ in range(runs):
                for i, (_, sql) in enumerate(queries):
                    times[i].append(db.timed(sql))
            out = []
            for (name, sql), ts in zip(queries, times):
                plan = "\n".join(db.run(f"EXPLAIN (COSTS OFF) {sql}")[0])
                m = re.search(r"Workers Planned: (\d+)", plan)
                out.append({"name": name, "sql": sql.replace(":'m'::bytea", "'\\x…'::bytea"),
                            "times": ts, "median": median(ts),
                            "workers_planned": int(m.group(1)) if m else 0})
            base = out[0]["median"]
            for o in out:
                o["ratio"] = o["median"] / base
            sc["settings"][workers] = out
        db.run("RESET max_parallel_workers_per_gather")
    finally:
        db.close()
    res["scoring"] = sc


def part_memory(res, rows, nfeat, opts):
    log("part 4: training memory")
    me = {"buffer_bytes": rows * (nfeat + 1) * 4, "settings": {}}
    me["limit_bytes"] = 1.2 * me["buffer_bytes"]
    for workers in (0, 2):
        db = Psql()                          # a fresh backend for each
        try:
            db.run(f"SET max_parallel_workers_per_gather = {workers}")
            # load the library and touch the table's pages before the baseline
            db.run("SELECT ecml.version()")
            db.run("SELECT count(*) FROM t")
            pid = db.pid
            reset = True
            try:
                with open(f"/proc/{pid}/clear_refs", "w") as f:
                    f.write("5")             # resets VmHWM to the current RSS
            except OSError:
                reset = False
            base_anon = status_kb(pid, "RssAnon")
            base_hwm = status_kb(pid, "VmHWM")
            sampler = RssSampler(pid)
            sampler.start()
            wall = db.timed(f"SELECT ecml.logreg_train(f, y, '{opts}') FROM t")
            sampler.stop()
            after_hwm = status_kb(pid, "VmHWM")
            me["settings"][workers] = {
                "wall_s": wall,
                "base_rss_anon_kb": base_anon,
                "peak_rss_anon_kb": sampler.peak_leader,
                "leader_delta_bytes": (sampler.peak_leader - base_anon) * 1024,
                "workers_seen": len(sampler.worker_pids),
                "workers_peak_bytes": sampler.peak_workers * 1024,
                "total_delta_bytes": (sampler.peak_total - base_anon) * 1024,
                "hwm_reset": reset,
                "vmhwm_delta_bytes": (after_hwm - base_hwm) * 1024,
                "samples": sampler.samples,
            }
        finally:
            db.close()
    res["memory"] = me


# --------------------------------------------------------------------------
# report


def machine_info():
    libdir = run([os.path.join(PG_BIN, "pg_config"), "--pkglibdir"],
                 capture_output=True).stdout.strip()
    so = os.path.join(libdir, "ecml.so")
    try:
        so_info = (f"{so}, installed {datetime.datetime.utcfromtimestamp(os.path.getmtime(so)):%Y-%m-%d %H:%M:%S} UTC, "
                   f"sha256 {run(['sha256sum', so], capture_output=True).stdout.split()[0][:16]}…")
    except (OSError, subprocess.CalledProcessError):
        so_info = so
    return {"nproc": benchlib.nproc(),
            "ecml_so": so_info,
            "loadavg_start": benchlib.loadavg(),
            "git": benchlib.git_describe(),
            "cpu": benchlib.cpu_model(), "memory": benchlib.memory_gib(),
            "kernel": benchlib.kernel(),
            "date": run(["date", "-u"], capture_output=True).stdout.strip()}


def join3(xs):
    return ", ".join("%.3f" % x for x in xs)


def fmt_s(x):
    return f"{x:.3f} s"


def write_report(res, path):
    m = res["machine"]
    L = []
    a = L.append
    a("# ecml logistic regression benchmark")
    a("")
    a(f"Written by `test/bench/bench.py` on {m['date']}.")
    a("")
    a(f"Command: `{res['command']}` (from `make bench` in the repository root: "
      "`$(MAKE) -C test/bench` → `/usr/bin/python3 bench.py`).")
    a("")
    a("## Machine")
    a("")
    a("| | |")
    a("|---|---|")
    a(f"| CPU | {m['cpu']} |")
    a(f"| nproc | {m['nproc']} |")
    a(f"| memory | {m['memory']} |")
    a(f"| kernel | {m['kernel']} |")
    a(f"| load average (1, 5, 15 min) | at start {' '.join(m['loadavg_start'])}, at end "
      f"{' '.join(m.get('loadavg_end', ['?']))} (the machine may be shared with other work) |")
    a(f"| PostgreSQL | {res['pg_version']} |")
    a(f"| ecml | {res['ecml_version']}; {m['ecml_so']}; source tree {m['git']} |")
    a(f"| ecml.blas_info() | `{res['blas_info']}` |")
    sk = res["sk_info"]
    a(f"| Python / numpy / scipy / scikit-learn | {sk['python']} / {sk['numpy']} / {sk['scipy']} / {sk['sklearn']} |")
    a(f"| numpy's BLAS | {', '.join(sk['blas']['blas_libraries']) or '?'} |")
    a(f"| scikit-learn environment | `{SK_ENV_PREFIX}` |")
    a(f"| cluster | private, {DIR}, port {PORT}: `{'; '.join(CLUSTER.conf)}` |")
    a("")
    a("Each timing is the median of "
      f"{res['runs']} runs in this one run of the script; the individual runs are listed "
      "under each table. Timings of SQL are psql's `\\timing` (client wall time of the "
      "statement, connection already open); the table fits in the OS page cache.")
    a("")

    # ---- summary of goals
    goals = []
    a("## Goals")
    a("")
    a("| # | goal | ecml | reference | verdict |")
    a("|---|---|---|---|---|")
    q = res.get("quality", {})
    if "skipped" in q:
        a(f"| 1 | held-out ROC AUC within {QUALITY_TOLERANCE} of scikit-learn | – | – | {q['skipped']} |")
    elif q:
        for name, e in q["sets"].items():
            gap = f"difference {e['diff']:+.4f}"
            if not e["met"]:
                gap += f", {abs(e['diff']) - QUALITY_TOLERANCE:.4f} beyond the tolerance"
            a(f"| 1{name} | set {name}: ROC AUC within {QUALITY_TOLERANCE} of scikit-learn | "
              f"{e['auc']:.4f} | {e['sk_auc']:.4f} | {verdict(e['met'], gap)} |")
            goals.append(e["met"])
    sp = res.get("speed")
    if sp:
        for key in ("default/0", "default/2"):
            s = sp["settings"][key]
            w = s["wall_median"]
            fit = sp["sk_fit_median"]
            tot = sp["sk_total_median"]
            met = w <= fit
            gap = f"ecml/sklearn = {w / fit:.2f}"
            a(f"| 2 | training ≤ scikit-learn fit time, max_parallel_workers_per_gather={s['workers_per_gather']} | "
              f"{fmt_s(w)} | {fmt_s(fit)} | {verdict(met, gap)} |")
            goals.append(met)
            met = tot / w >= 3
            a(f"| 2 | training ≥ 3× faster than COPY + load + fit, workers={s['workers_per_gather']} | "
              f"{fmt_s(w)} | {fmt_s(tot)} | {verdict(met, f'{tot / w:.2f}× faster')} |")
            goals.append(met)
    sc = res.get("scoring")
    if sc:
        for workers, out in sc["settings"].items():
            for o in out[1:]:
                met = o["ratio"] <= 1.5
                a(f"| 3 | scoring ≤ 1.5× `sum(f[1])`, {o['name']}, workers={workers} | "
                  f"{fmt_s(o['median'])} | {fmt_s(out[0]['median'])} | "
                  f"{verdict(met, 'ratio %.2f' % o['ratio'])} |")
                goals.append(met)
    me = res.get("memory")
    if me:
        for workers, s in me["settings"].items():
            d = s["leader_delta_bytes"]
            met = d <= me["limit_bytes"]
            a(f"| 4 | training memory ≤ 1.2 × rows × (features+1) × 4 B, leader backend, workers={workers} | "
              f"{mib(d, 'b'):.1f} MiB | {mib(me['limit_bytes'], 'b'):.1f} MiB | "
              f"{verdict(met, '%.2f × the raw buffer' % (d / me['buffer_bytes']))} |")
            goals.append(met)
    a("")

    # ---- details: quality
    a("## 1. Quality: UCI Online Shoppers, test rows = row number % 5 = 0")
    a("")
    if "skipped" in q:
        a(q["skipped"])
    elif q:
        a(f"Training rows {q['n_train']}, test rows {q['n_test']}; C = 1 ↔ `l2` = 1/{q['n_train']} = {q['l2']:.6g}. "
          "Both sides standardize every feature with the training mean and standard deviation "
          "(ecml: its default `standardize`; scikit-learn: `StandardScaler` fitted on the training rows), "
          "then `LogisticRegression(C=1)` (lbfgs, defaults) vs `ecml.logreg_train(..., '{\"l2\": 1/n_train}')`. "
          "A = log1p of the 10 numeric columns + Weekend + returning visitor; B = A + one-hot columns of "
          "Month, VisitorType, OperatingSystems, Browser, Region, TrafficType for every value seen in "
          "the training rows" + (f"; B_hashed = A + `ecml.hash_features` / `FeatureHasher(n_features={HASH_N}, "
                                 "alternate_sign=True)` of the tokens `column=value`" if q["hash_features"] else
                                 "; `ecml.hash_features` was not installed, so no hashed set") + ".")
        a("")
        a("| set | features | ecml AUC | scikit-learn AUC | difference | issue's sklearn figure | AP ecml / sklearn | log loss ecml / sklearn | ecml iterations (solver) | sklearn iterations |")
        a("|---|---|---|---|---|---|---|---|---|---|")
        for name, e in q["sets"].items():
            ref = SK_REFERENCE.get(name)
            a(f"| {name} | {e['features']} (sklearn {e['sk_features']}) | {e['auc']:.4f} | {e['sk_auc']:.4f} | "
              f"{e['diff']:+.4f} | {ref if ref else '–'} | {e['ap']:.4f} / {e['sk_ap']:.4f} | "
              f"{e['log_loss']:.4f} / {e['sk_log_loss']:.4f} | {e['iterations']} ({e['solver']}, "
              f"converged={e['converged']}) | {e['sk_iter']} (converged={e['sk_converged']}) |")
        a("")
        a("ecml's AUC is " + ("`ecml.roc_auc(ecml.logreg_predict(model, features), label)` in SQL; "
                              "the same AUC from the scores exported to Python: " +
                              ", ".join(f"{n} {e['auc_python']:.4f}" for n, e in q["sets"].items())
                              if q["sql_metrics"] else
                              "computed in Python (Mann-Whitney with midranks) from the scores "
                              "`ecml.logreg_predict` gave in SQL: `ecml.roc_auc` was not installed") + ". "
          "Average precision and log loss: " +
          ("`ecml.average_precision`" if q["sql_ap"] else "Python from the exported scores") + ", " +
          ("`ecml.log_loss`" if q["sql_log_loss"] else "Python from the exported scores") +
          "; scikit-learn's with `average_precision_score` and `log_loss`.")
        a("")
        for name, e in q["sets"].items():
            a(f"- {name}: `{e['train_sql']}`")
        a("")

    # ---- details: speed
    if sp:
        a(f"## 2. Training speed: {sp['rows']:,} rows × {sp['features']} features")
        a("")
        a(f"Table `t(id, f real[], y bool)` generated by `synthetic.sql` (setseed, uniform features with "
          f"mean 0 and std 1, labels from a logistic model) in {sp['generate_s']:.1f} s; {sp['table_size']}, "
          f"positive rate {sp['positive_rate']:.4f}, fingerprint {sp['fingerprint']}. "
          f"Same penalty on both sides: C = 1 ↔ `l2` = 1/{sp['rows']} = {sp['l2']:.3g}; "
          "other options at their defaults on both sides (ecml: tol 1e-6 on the max gradient of the "
          "mean objective, max_iter 100, standardize; scikit-learn: lbfgs, tol 1e-4, max_iter 100).")
        a("")
        a("| what | median | runs | ecml optimizer (training_seconds) | scan + buffer (wall − optimizer) | iterations | parallel |")
        a("|---|---|---|---|---|---|---|")
        for key, s in sp["settings"].items():
            scan = s["wall_median"] - s["optimizer_median"]
            par = (f"Partial Aggregate, {s['workers_launched']} workers launched" if s["partial_aggregate"]
                   else "no (plain Aggregate)")
            a(f"| ecml `{s['options']}`, max_parallel_workers_per_gather={s['workers_per_gather']} "
              f"(solver {s['solver']}) | **{fmt_s(s['wall_median'])}** | "
              f"{join3(s['wall_s'])} | {fmt_s(s['optimizer_median'])} | "
              f"{fmt_s(scan)} | {s['iterations']} converged={s['converged']} | {par} |")
        runs = sp["sklearn"]["runs"]
        a(f"| scikit-learn fit alone (data in memory, 1 thread) | **{fmt_s(sp['sk_fit_median'])}** | "
          f"{join3(r['fit_s'] for r in runs)} | – | – | "
          f"{[r['n_iter'] for r in runs]} converged={[r['converged'] for r in runs]} | – |")
        a(f"| COPY out via psql + np.loadtxt | {fmt_s(sp['sk_copy_load_median'])} | "
          f"{join3(r['copy_load_s'] for r in runs)} | – | – | – | – |")
        a(f"| COPY + load + fit (the path without ecml) | **{fmt_s(sp['sk_total_median'])}** | "
          f"{join3(r['total_s'] for r in runs)} | – | – | – | – |")
        a("")
        d = sp["settings"]["default/2"]
        a(f"Objective reached (mean log loss + l2/2·|β|²): ecml {d['final_loss']:.8f} "
          f"(standardized coordinates; train log loss {d['train_log_loss']:.8f}), scikit-learn "
          f"{runs[0]['objective']:.8f} (train log loss {runs[0]['train_log_loss']:.8f}).")
        a("")
        s0, s2 = sp["settings"]["default/0"], sp["settings"]["default/2"]
        a(f"Where ecml's time goes (medians): serial, {fmt_s(s0['wall_median'] - s0['optimizer_median'])} "
          f"in the scan and the transition function (wall − training_seconds), {fmt_s(s0['optimizer_median'])} in "
          f"the final function (standardization, {s0['iterations'][0]} {s0['solver']} iterations, model); with "
          f"parallel aggregation, {fmt_s(s2['wall_median'] - s2['optimizer_median'])} outside the final function "
          "(parallel scan, serialize, Gather, deserialize, combine) and "
          f"{fmt_s(s2['optimizer_median'])} in it. scikit-learn's fit: {fmt_s(sp['sk_fit_median'])}.")
        a("")
        for key, s in sp["settings"].items():
            bad = [i for i, c in enumerate(s["converged"]) if not c]
            if bad:
                a(f"**Anomaly** `{key}`: run(s) {', '.join(str(i + 1) for i in bad)} stopped at max_iter without "
                  f"converging: {', '.join('%d iterations, %.3f s wall, %.3f s optimizer' % (s['iterations'][i], s['wall_s'][i], s['optimizer_s'][i]) for i in bad)}.")
                a("")
        a(f"The without-ecml path: `psql -c \"{sp['sklearn']['copy_command'][:90]}…\" | np.loadtxt`, "
          "then `np.ascontiguousarray` and `LogisticRegression(C=1).fit` (sk_worker.py).")
        a("")
        for key, s in sp["settings"].items():
            a(f"EXPLAIN ANALYZE, `{key}`:")
            a("")
            a("```")
            a(s["plan"])
            a("```")
            a("")

    # ---- details: scoring
    if sc:
        a("## 3. Scoring cost over the same table")
        a("")
        a("Each query is run once to warm up, then the queries are timed in turns (one run of each, "
          "then the next round), so a busy spell of the machine falls on all of them alike; "
          "ratio = median / median of `SELECT sum(f[1]) FROM t` at the same setting.")
        a("")
        a("| query | workers/gather | workers planned | median | runs | ratio |")
        a("|---|---|---|---|---|---|")
        for workers, out in sc["settings"].items():
            for o in out:
                a(f"| `{o['sql']}` | {workers} | {o['workers_planned']} | {fmt_s(o['median'])} | "
                  f"{join3(o['times'])} | {o['ratio']:.2f} |")
        a("")

    # ---- details: memory
    if me:
        a("## 4. Training memory")
        a("")
        a(f"Raw buffer = rows × (features + 1) × 4 B = {mib(me['buffer_bytes'], 'b'):.1f} MiB; goal ≤ 1.2× = "
          f"{mib(me['limit_bytes'], 'b'):.1f} MiB.")
        a("")
        a("Method: a fresh psql session per setting; it loads ecml and scans `t` once, so the library "
          "and the scan's own memory are in the baseline. Then a thread in bench.py reads `RssAnon` "
          "(private anonymous memory, where palloc'd memory lives; shared buffers are not in it) from "
          "`/proc/<pg_backend_pid()>/status` every 5 ms while `SELECT ecml.logreg_train(f, y, ...) FROM t` "
          "runs, and the same for every process titled `parallel worker for PID <pid>`. Reported: "
          "leader peak − baseline (the goal's figure), the parallel workers' peak (sum), and the peak of "
          "leader + workers − baseline. As a cross-check, `VmHWM` (peak RSS, reset with "
          "`echo 5 > /proc/<pid>/clear_refs` after the baseline) before and after; it also counts "
          "shared-buffer pages the backend touches for the first time.")
        a("")
        a("| workers/gather | leader peak − baseline | × raw buffer | workers' peak (sum, seen) | leader + workers − baseline | VmHWM growth | samples |")
        a("|---|---|---|---|---|---|---|")
        for workers, s in me["settings"].items():
            a(f"| {workers} | {mib(s['leader_delta_bytes'], 'b'):.1f} MiB | "
              f"{s['leader_delta_bytes'] / me['buffer_bytes']:.2f} | "
              f"{mib(s['workers_peak_bytes'], 'b'):.1f} MiB ({s['workers_seen']}) | "
              f"{mib(s['total_delta_bytes'], 'b'):.1f} MiB | "
              f"{mib(s['vmhwm_delta_bytes'], 'b'):.1f} MiB{'' if s['hwm_reset'] else ' (no reset)'} | "
              f"{s['samples']} |")
        a("")
    a(f"Goals met: {sum(goals)} of {len(goals)}.")
    a("")
    write_section(path, "logreg", "\n".join(L))
    return goals


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=50)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--json", default=None, help="also write the raw figures here")
    ap.add_argument("--keep", action="store_true",
                    help="leave the cluster running in /var/tmp/ecml-bench")
    args = ap.parse_args()
    benchlib.require_root("the server runs as the postgres OS user")
    command = " ".join([PYTHON, os.path.relpath(os.path.abspath(sys.argv[0]), REPO)] + sys.argv[1:])
    lock = benchlib.lock(DIR + ".lock")  # noqa: F841 (held until exit)

    ensure_packages(("python3-sklearn",))
    res = {"command": command, "runs": args.runs, "machine": machine_info()}
    log(f"machine: {res['machine']}")
    res["sk_info"] = sk_worker("info")
    CLUSTER.create()
    try:
        db = Psql()
        res["pg_version"] = db.value("SELECT version()")
        res["ecml_version"] = db.value("SELECT ecml.version()")
        res["blas_info"] = db.value("SELECT ecml.blas_info()")
        db.close()
        part_quality(res)
        part_speed(res, args.rows, args.features, args.runs)
        part_scoring(res, args.runs)
        part_memory(res, args.rows, args.features, json.dumps({"l2": 1.0 / args.rows}))
    finally:
        if not args.keep:
            CLUSTER.remove()
    res["machine"]["loadavg_end"] = benchlib.loadavg()
    goals = write_report(res, args.output)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1, default=str)
    log(f"wrote {args.output}: {sum(goals)} of {len(goals)} goals met")


if __name__ == "__main__":
    main()
