#!/usr/bin/python3
"""ecml training beyond memory: the multi-pass ecml.train against the buffering aggregates.

Run as root from anywhere (the target bench-scale in scale.mk does):

    /usr/bin/python3 test/bench/bench_scale.py [--rows 1000000,2000000,5000000,10000000,20000000]
        [--features 50] [--buffer-rows 1000000,5000000] [--citus-rows 2000000]
        [--output PATH] [--keep]

Environment: ECML_PGROOT, a private PostgreSQL tree with ecml installed
(make install DESTDIR=...); default the system tree.

It creates a private cluster in /var/tmp/ecml-bench-scale (port 54347, run
as the postgres OS user; shared_buffers 128MB so that the table does not
sit in the server's own cache), grows one table of logistic regression rows
(FEATURES float4 features and a label) to each size in --rows in turn and,
at each size, in a new backend with a serial plan, measures:

 - ecml.train('logreg') (Newton passes): total seconds, passes, seconds per
   pass, and the backend's peak private memory (RssAnon of
   /proc/<pid>/status, sampled every 20 ms while the statement runs);
 - ecml.train('iforest') against ecml.anomaly_train (both bounded by their
   samples): seconds and peak memory;
 - at the sizes in --buffer-rows, the buffering ecml.logreg_train (with
   ecml.train_memory_limit raised so that it can run): seconds and memory,
   the crossover;
 - then the first --citus-rows rows on Citus 13.2.2 (built from
   ../shared/vendor; a coordinator and two workers on this machine, ports
   54348-54350) against one node: ecml.train('logreg') and
   ecml.train('iforest').

It draws time and memory against rows (scale.png beside RESULTS.md) and
writes its section of RESULTS.md (between the bench:scale markers).
"""
import os

import benchlib
from benchlib import Cluster, die, log

benchlib.one_thread()

import argparse
import subprocess
import datetime
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DIR = "/var/tmp/ecml-bench-scale"
PORT = 54347
DB = "bench"
BASE_ROWS = 1000000

CLUSTER = Cluster(DIR, PORT, db=DB, conf=[
    "shared_buffers = 128MB", "work_mem = 64MB", "max_wal_size = 8GB",
    "synchronous_commit = off", "fsync = off", "full_page_writes = off",
    "max_parallel_workers_per_gather = 0", "jit = off", "autovacuum = off"])


class Peak:
    """The peak of a process's RssAnon while a statement runs."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, 0, False
        self.t = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        while not self.stop:
            kb = benchlib.status_kb(self.pid, "RssAnon")
            if kb:
                self.peak = max(self.peak, kb)
            time.sleep(0.02)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.t.join()


def measured(sql, setup=()):
    """Run sql in a new backend: (seconds, peak RssAnon MB, rows)."""
    db = benchlib.Psql(CLUSTER, setup=["SET ecml.blas_threads = 1"] + list(setup))
    try:
        with Peak(db.pid) as p:
            rows, times, _ = db.run(sql)
        return times[-1] / 1000.0, p.peak / 1024.0, rows
    finally:
        db.close()


def grow_to(n, base):
    """Grow table lr to n rows: copies of the base rows with new ids."""
    have = int(CLUSTER.psql("-c", "SELECT count(*) FROM lr").stdout.strip())
    while have < n:
        k = min(base, n - have)
        CLUSTER.psql("-c", f"INSERT INTO lr SELECT id + {have}, f, y FROM lr_base WHERE id <= {k}")
        have += k
    CLUSTER.psql("-c", "VACUUM ANALYZE lr")
    size = CLUSTER.psql("-c", "SELECT pg_size_pretty(pg_table_size('lr'))").stdout.strip()
    log(f"lr: {have} rows, {size}")
    return size


def make_base(features, base):
    """base rows (at most 1M): features from a hash of (row, feature), a label drawn from a
    known logistic model of the first five features."""
    feats = ", ".join(f"((hashint8(i * {features} + {j}) & 65535) / 32768.0 - 1)::real"
                      for j in range(features))
    CLUSTER.psql("-c", f"""
        CREATE TABLE lr_base AS
        SELECT i AS id, f, (hashint8(-i) & 65535) / 65536.0 < 1 / (1 + exp(-(f[1] - 2 * f[2] + f[3] - 0.5 * f[4] + 0.3))) AS y
        FROM (SELECT i, ARRAY[{feats}] AS f FROM generate_series(1, {base}) i) s""")
    CLUSTER.psql("-c", "CREATE TABLE lr (LIKE lr_base)")


def bench_size(n, base, buffer_rows, res):
    size = grow_to(n, base)
    row = {"rows": n, "size": size}
    t, mem, out = measured(
        "SELECT (ecml.model_info(m)->'metrics'->>'passes') || ' ' || "
        "(SELECT string_agg(p->>'seconds', ',') FROM jsonb_array_elements(ecml.model_info(m)->'metrics'->'pass_history') p) "
        "FROM (SELECT ecml.train('logreg', 'SELECT f, y FROM lr') AS m) s")
    passes, secs = out[0].split(" ", 1)
    per_pass = [float(x) for x in secs.split(",")]
    row.update(train_s=t, train_mb=mem, passes=int(passes),
               pass_median=sorted(per_pass)[len(per_pass) // 2])
    log(f"{n}: ecml.train(logreg) {t:.1f} s, {mem:.0f} MB, {passes} passes")
    t, mem, _ = measured("SELECT length(ecml.train('iforest', 'SELECT f FROM lr'))")
    row.update(if_pass_s=t, if_pass_mb=mem)
    t, mem, _ = measured("SELECT length(ecml.anomaly_train(f)) FROM lr")
    row.update(if_agg_s=t, if_agg_mb=mem)
    if n in buffer_rows:
        t, mem, out = measured("SELECT length(ecml.logreg_train(f, y)) FROM lr",
                               setup=["SET ecml.train_memory_limit = '16GB'"])
        row.update(buf_s=t, buf_mb=mem)
        log(f"{n}: ecml.logreg_train {t:.1f} s, {mem:.0f} MB")
    res["sizes"].append(row)


def citus_part(rows, base, res):
    """The same rows on one node and on Citus (a coordinator and two
    workers on this machine): ecml.train('logreg') and ecml.train('iforest')
    on each, with coordinator aggregation disabled so every pass must run on
    the workers."""
    vendor = os.path.join(benchlib.REPO, "..", "shared", "vendor", "citus", "build.sh")
    benchlib.run(["bash", vendor])
    if benchlib.PGROOT:
        import glob
        import shutil
        for f in glob.glob("/usr/lib/postgresql/15/lib/citus*.so"):
            shutil.copy(f, benchlib.PG_LIB)
        for f in glob.glob("/usr/share/postgresql/15/extension/citus*"):
            shutil.copy(f, os.path.join(benchlib.PG_SHARE, "extension"))
    nodes = [Cluster(f"{DIR}-citus{k}", PORT + 1 + k, db=DB, tag="bench_scale.py", conf=[
        "shared_preload_libraries = 'citus'", "listen_addresses = '127.0.0.1'",
        "shared_buffers = 128MB", "max_wal_size = 8GB", "fsync = off", "synchronous_commit = off",
        "full_page_writes = off", "max_parallel_workers_per_gather = 0", "jit = off",
        "autovacuum = off"], initdb_args=("--auth=trust", "--encoding=UTF8", "--locale=C"))
        for k in range(3)]
    try:
        for n in nodes:
            n.create(extension=False)
            n.psql("-c", "CREATE EXTENSION citus")
        co = nodes[0]
        co.psql("-c", f"SELECT citus_set_coordinator_host('127.0.0.1', {co.port})")
        for n in nodes[1:]:
            co.psql("-c", f"SELECT citus_add_node('127.0.0.1', {n.port})")
        co.psql("-c", "CREATE EXTENSION ecml")
        out = CLUSTER.psql("-c", f"COPY (SELECT id::bigint, f, y FROM lr WHERE id <= {rows}) TO STDOUT (FORMAT binary)",
                           text=False).stdout
        co.psql("-c", "CREATE TABLE lr (id bigint, f real[], y boolean)")
        co.psql("-c", "SELECT create_distributed_table('lr', 'id', shard_count => 4)")
        r = subprocess.run(co.psql_argv() + ["-c", "COPY lr FROM STDIN (FORMAT binary)"], input=out,
                           capture_output=True, env=co.client_env())
        if r.returncode:
            die(f"loading the distributed table failed: {r.stderr.decode()}")
        co.psql("-c", "VACUUM ANALYZE lr")
        CLUSTER.psql("-c", f"CREATE TABLE lr_citus_rows AS SELECT * FROM lr WHERE id <= {rows}")
        CLUSTER.psql("-c", "VACUUM ANALYZE lr_citus_rows")
        out = {}
        for what, sql in (("logreg", "SELECT length(ecml.train('logreg', 'SELECT f, y FROM lr'))"),
                          ("iforest", "SELECT length(ecml.train('iforest', 'SELECT f FROM lr'))")):
            db = benchlib.Psql(co, setup=["SET citus.coordinator_aggregation_strategy = 'disabled'",
                                          "SET ecml.blas_threads = 1"])
            try:
                with Peak(db.pid) as p:
                    _, times, _ = db.run(sql)
                out[what] = (times[-1] / 1000.0, p.peak / 1024.0)
            finally:
                db.close()
            # the same statement on one node over a table of the same rows
            t, mem, _ = measured(sql.replace("FROM lr", "FROM lr_citus_rows"))
            out[what + "_local"] = (t, mem)
            log(f"citus {what}: {out[what][0]:.1f} s, one node {t:.1f} s")
        res["citus"] = {"rows": rows, **out}
    finally:
        for n in nodes:
            n.remove()


def plot(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sz = res["sizes"]
    x = [r["rows"] / 1e6 for r in sz]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(x, [r["train_s"] for r in sz], "o-", label="ecml.train('logreg')")
    xb = [r["rows"] / 1e6 for r in sz if "buf_s" in r]
    a.plot(xb, [r["buf_s"] for r in sz if "buf_s" in r], "s--", label="ecml.logreg_train (buffering)")
    a.plot(x, [r["if_pass_s"] for r in sz], "^-", label="ecml.train('iforest')")
    a.set_xlabel("rows (millions)")
    a.set_ylabel("seconds")
    a.set_title("training time")
    a.legend()
    b.plot(x, [r["train_mb"] for r in sz], "o-", label="ecml.train('logreg')")
    b.plot(xb, [r["buf_mb"] for r in sz if "buf_mb" in r], "s--", label="ecml.logreg_train (buffering)")
    b.plot(x, [r["if_pass_mb"] for r in sz], "^-", label="ecml.train('iforest')")
    b.set_xlabel("rows (millions)")
    b.set_ylabel("peak private memory of the backend (MB)")
    b.set_yscale("log")
    b.set_title("backend memory")
    b.legend()
    fig.suptitle(f"{res['features']} float4 features; {res['machine']}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def report(res, command):
    L = ["## Training beyond memory (`bench-scale`)", "",
         f"Date: {res['date']}. Command: `{command}`.", "",
         f"Machine: {res['machine']}; load average {res['load_start']} at the start, "
         f"{res['load_end']} at the end (shared with other work: timings are noisy). "
         f"PostgreSQL {res['postgres']}, serial plans, shared_buffers 128MB, one BLIS thread. "
         f"Rows: {res['features']} float4 features and a label; the table grows by copies of "
         f"a {res['base']:,}-row base. Memory: the backend's peak RssAnon (private memory, not the shared "
         "buffers), sampled every 20 ms.", "",
         "![time and memory against rows](scale.png)", "",
         "| rows | table | `ecml.train('logreg')` s | passes | s per pass (median) | memory MB | "
         "`ecml.logreg_train` s | memory MB | `ecml.train('iforest')` s | memory MB | "
         "`ecml.anomaly_train` s | memory MB |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["sizes"]:
        buf = (f"{r['buf_s']:.1f} | {r['buf_mb']:.0f}" if "buf_s" in r else "– | –")
        L.append(f"| {r['rows']:,} | {r['size']} | {r['train_s']:.1f} | {r['passes']} | "
                 f"{r['pass_median']:.2f} | {r['train_mb']:.0f} | {buf} | {r['if_pass_s']:.1f} | "
                 f"{r['if_pass_mb']:.0f} | {r['if_agg_s']:.1f} | {r['if_agg_mb']:.0f} |")
    sz = res["sizes"]
    if len(sz) >= 2:
        a, b = sz[0], sz[-1]
        L += ["", f"Growth from {a['rows']:,} to {b['rows']:,} rows ({b['rows'] / a['rows']:.0f}×): "
              f"`ecml.train('logreg')` time ×{b['train_s'] / a['train_s']:.1f}, per pass "
              f"×{b['pass_median'] / a['pass_median']:.1f}; memory {a['train_mb']:.0f} → {b['train_mb']:.0f} MB."]
    for r in sz:
        if "buf_s" in r:
            L += ["", f"At {r['rows']:,} rows the buffering `ecml.logreg_train` takes {r['buf_s']:.1f} s and "
                  f"{r['buf_mb']:.0f} MB, `ecml.train('logreg')` {r['train_s']:.1f} s "
                  f"({r['train_s'] / r['buf_s']:.1f}× the time: it reads the table {r['passes']} times "
                  f"where the aggregate reads it once) and {r['train_mb']:.0f} MB."]
    L += ["", "Where the buffering aggregate fits in ecml.train_memory_limit it is the faster path; "
          "`ecml.train` is the path past the limit and onto Citus, not a faster one on one node."]
    c = res.get("citus")
    if c:
        L += ["", f"### One node and Citus ({c['rows']:,} rows)", "",
              "Citus 13.2.2, a coordinator and two workers on this same 2-core machine, the table "
              "distributed by id in 4 shards, `citus.coordinator_aggregation_strategy = 'disabled'` "
              "(every pass runs as `worker_partial_agg` on the shards). One node: a table of the same "
              "rows in the single-node cluster above. On 2 cores no speed-up is expected: the "
              "shards' scans share the cores, and each pass adds a round of connections and the "
              "partial states' trip to the coordinator.", "",
              "| | one node s | Citus s | Citus / one node | coordinator backend MB |", "|---|---|---|---|---|"]
        for what in ("logreg", "iforest"):
            t1, _ = c[what + "_local"]
            t2, m2 = c[what]
            L.append(f"| `ecml.train('{what}')` | {t1:.1f} | {t2:.1f} | {t2 / t1:.2f} | {m2:.0f} |")
    big = max(sz, key=lambda r: r["rows"])
    met = big["train_mb"] < 256
    L += ["", f"Goal: logistic regression on {big['rows']:,} rows × {res['features']} features "
          f"with the backend under 256 MB: {'met' if met else 'NOT met'} "
          f"({big['train_mb']:.0f} MB)."]
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", default="1000000,2000000,5000000,10000000,20000000")
    ap.add_argument("--features", type=int, default=50)
    ap.add_argument("--buffer-rows", default="1000000,5000000")
    ap.add_argument("--citus-rows", type=int, default=2000000,
                    help="rows for the one node / Citus comparison (0: skip)")
    ap.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--keep", action="store_true", help="leave the cluster running")
    args = ap.parse_args()
    benchlib.require_root()
    benchlib.ensure_packages(["python3-matplotlib"])
    sizes = sorted(int(x) for x in args.rows.split(","))
    buffer_rows = {int(x) for x in args.buffer_rows.split(",") if x}
    command = benchlib.pgroot_prefix() + "/usr/bin/python3 test/bench/bench_scale.py " + " ".join(sys.argv[1:])
    print(f"command: {command.strip()}", flush=True)
    CLUSTER.create()
    try:
        res = {"features": args.features, "sizes": [],
               "machine": f"{benchlib.cpu_model()}, {os.cpu_count()} cores, {benchlib.memory_gib()}",
               "load_start": " ".join(benchlib.loadavg()),
               "postgres": CLUSTER.psql("-c", "SHOW server_version").stdout.strip(),
               "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
        base = min(BASE_ROWS, sizes[-1])
        res["base"] = base
        make_base(args.features, base)
        for n in sizes:
            bench_size(n, base, buffer_rows, res)
        if args.citus_rows:
            citus_part(min(args.citus_rows, sizes[-1]), base, res)
        res["load_end"] = " ".join(benchlib.loadavg())
        png = os.path.join(os.path.dirname(os.path.abspath(args.output)), "scale.png")
        plot(res, png)
        text = report(res, command.strip())
        print(text)
        from results_md import write_section
        write_section(args.output, "scale", text)
        log(f"wrote {args.output} and {png}")
    finally:
        if not args.keep:
            CLUSTER.remove()


if __name__ == "__main__":
    main()
