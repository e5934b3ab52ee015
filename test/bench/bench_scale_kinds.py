#!/usr/bin/python3
"""ecml training beyond memory for matrix factorization and gradient boosting.

Run as root from anywhere (the target bench-scale-kinds in scale.mk does):

    /usr/bin/python3 test/bench/bench_scale_kinds.py
        [--mf-rows 1000000,5000000,20000000] [--gbdt-rows 1000000,5000000,10000000]
        [--buffer-rows 1000000,5000000] [--output PATH] [--keep]

Environment: ECML_PGROOT, a private PostgreSQL tree with ecml installed.

The companion of bench_scale.py (logistic regression and the isolation
forest): a private cluster in /var/tmp/ecml-bench-scale-kinds (port 54351,
shared_buffers 128MB, serial plans). Two tables grow by copies of a
1,000,000-row base:

 - mf (user_id, item_id, value): 100 interactions a user over 50,000 items,
   each copy of the base adds 10,000 new users; the values follow a
   rank-4 pattern of user and item groups plus noise;
 - gb (features real[30], label): features from a hash, the label drawn from
   a known nonlinear model of four of them.

At each size, in a new backend: ecml.train('mf') (ALS half-steps as grouped
aggregates; 16 factors, 5 iterations, cholesky) and ecml.train('gbdt')
(a sketch pass, then one pass a tree level; 10 trees of depth 4): wall
seconds, the backend's CPU seconds (utime + stime of /proc/<pid>/stat: the
figure a loaded machine distorts least), passes, seconds per pass and the
backend's peak private memory (RssAnon sampled every 20 ms). At the sizes
in --buffer-rows the buffering ecml.mf_train and ecml.fraud_train with the
same options (memory limit raised) give the crossover.

It draws time and memory against rows (scale-kinds.png beside RESULTS.md)
and writes its section of RESULTS.md (between the bench:scale-kinds markers).
"""
import os

import benchlib
from benchlib import Cluster, log

benchlib.one_thread()

import argparse
import datetime
import sys

import bench_scale

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = 1000000
MF_OPTS = '{"factors": 16, "iterations": 5, "solver": "cholesky", "seed": 1}'
GB_OPTS = '{"n_trees": 10, "max_depth": 4, "learning_rate": 0.3, "max_bins": 64, "seed": 1}'
GB_FEATURES = 30

CLUSTER = Cluster("/var/tmp/ecml-bench-scale-kinds", 54351, db="bench", conf=[
    "shared_buffers = 128MB", "max_wal_size = 8GB",
    "synchronous_commit = off", "fsync = off", "full_page_writes = off",
    "max_parallel_workers_per_gather = 0", "jit = off", "autovacuum = off"])


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(sql, setup=()):
    """Run sql in a new backend: (wall s, CPU s, peak RssAnon MB, rows)."""
    db = benchlib.Psql(CLUSTER, setup=["SET ecml.blas_threads = 1"] + list(setup))
    try:
        c0 = cpu_seconds(db.pid)
        with bench_scale.Peak(db.pid) as p:
            rows, times, _ = db.run(sql)
        return times[-1] / 1000.0, cpu_seconds(db.pid) - c0, p.peak / 1024.0, rows
    finally:
        db.close()


def make_bases(base):
    CLUSTER.psql("-c", f"""
        CREATE TABLE mf_base AS
        SELECT u AS user_id, (hashint8(u * 100 + k) & 2147483647) % 50000 AS item_id
        FROM generate_series(1, {base // 100}) u, generate_series(1, 100) k""")
    # a rank-4 pattern: user group g and item group h, plus noise
    CLUSTER.psql("-c", """
        ALTER TABLE mf_base ADD COLUMN value real;
        UPDATE mf_base SET value = 3 + cos(user_id % 4 + 2 * (item_id % 4))
                                     + ((hashint8(user_id * 7 + item_id) & 1023) / 1023.0 - 0.5)""")
    CLUSTER.psql("-c", "CREATE TABLE mf (LIKE mf_base)")
    feats = ", ".join(f"((hashint8(i * {GB_FEATURES} + {j}) & 65535) / 32768.0 - 1)::real"
                      for j in range(GB_FEATURES))
    CLUSTER.psql("-c", f"""
        CREATE TABLE gb_base AS
        SELECT i AS id, f, (hashint8(-i) & 65535) / 65536.0
               < 1 / (1 + exp(-(3 * (f[1] > 0.2)::int - 2 * (f[2] * f[3] > 0)::int + f[4] - 0.5))) AS label
        FROM (SELECT i, ARRAY[{feats}] AS f FROM generate_series(1, {base}) i) s""")
    CLUSTER.psql("-c", "CREATE TABLE gb (LIKE gb_base)")


def grow(table, n, base):
    have = int(CLUSTER.psql("-c", f"SELECT count(*) FROM {table}").stdout.strip())
    while have < n:
        k = min(base, n - have)
        if table == "mf":
            # new users, the same items
            off = have // 100
            CLUSTER.psql("-c", f"INSERT INTO mf SELECT user_id + {off}, item_id, value FROM mf_base "
                               f"WHERE user_id <= {k // 100}")
        else:
            CLUSTER.psql("-c", f"INSERT INTO gb SELECT id + {have}, f, label FROM gb_base WHERE id <= {k}")
        have += k
    CLUSTER.psql("-c", f"VACUUM ANALYZE {table}")
    size = CLUSTER.psql("-c", f"SELECT pg_size_pretty(pg_table_size('{table}'))").stdout.strip()
    log(f"{table}: {have} rows, {size}")
    return size


def passes_sql(train):
    return ("SELECT (ecml.model_info(m)->'metrics'->>'passes') || ' ' || "
            "(SELECT string_agg(p->>'seconds', ',') FROM jsonb_array_elements(ecml.model_info(m)->'metrics'->'pass_history') p) "
            f"FROM (SELECT {train} AS m) s")


def bench_kind(kind, n, base, buffer_rows, res):
    table = "mf" if kind == "mf" else "gb"
    size = grow(table, n, base)
    if kind == "mf":
        src, opts, agg = "SELECT user_id, item_id, value FROM mf", MF_OPTS, \
            f"ecml.mf_train(user_id, item_id, value, '{MF_OPTS}')"
    else:
        src, opts, agg = "SELECT f, label FROM gb", GB_OPTS, \
            f"ecml.fraud_train(f, label, '{GB_OPTS}')"
    row = {"rows": n, "size": size}
    t, cpu, mem, out = measured(passes_sql(f"ecml.train('{kind}', '{src}', '{opts}')"))
    passes, secs = out[0].split(" ", 1)
    per_pass = sorted(float(x) for x in secs.split(","))
    row.update(train_s=t, train_cpu=cpu, train_mb=mem, passes=int(passes),
               pass_median=per_pass[len(per_pass) // 2])
    log(f"{kind} {n}: ecml.train {t:.1f} s ({cpu:.1f} s CPU), {mem:.0f} MB, {passes} passes")
    if n in buffer_rows:
        t, cpu, mem, _ = measured(f"SELECT length({agg}) FROM {table}",
                                  setup=["SET ecml.train_memory_limit = '16GB'"])
        row.update(buf_s=t, buf_cpu=cpu, buf_mb=mem)
        log(f"{kind} {n}: buffering aggregate {t:.1f} s ({cpu:.1f} s CPU), {mem:.0f} MB")
    res[kind].append(row)


def plot(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for kind, agg, mark in (("mf", "ecml.mf_train", "o"), ("gbdt", "ecml.fraud_train", "s")):
        sz = res[kind]
        if not sz:
            continue
        x = [r["rows"] / 1e6 for r in sz]
        xb = [r["rows"] / 1e6 for r in sz if "buf_s" in r]
        axes[0].plot(x, [r["train_cpu"] for r in sz], mark + "-", label=f"ecml.train('{kind}')")
        axes[0].plot(xb, [r["buf_cpu"] for r in sz if "buf_s" in r], mark + "--", label=f"{agg} (buffering)")
        axes[1].plot(x, [r["train_mb"] for r in sz], mark + "-", label=f"ecml.train('{kind}')")
        axes[1].plot(xb, [r["buf_mb"] for r in sz if "buf_s" in r], mark + "--", label=f"{agg} (buffering)")
    axes[0].set_ylabel("backend CPU seconds")
    axes[0].set_title("training time")
    axes[1].set_ylabel("peak private memory of the backend (MB)")
    axes[1].set_yscale("log")
    axes[1].set_title("backend memory")
    for a in axes:
        a.set_xlabel("rows (millions)")
        a.legend(fontsize=7)
    fig.suptitle(res["machine"], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def report(res, command):
    L = ["## Training beyond memory: matrix factorization and gradient boosting (`bench-scale-kinds`)", "",
         f"Date: {res['date']}. Command: `{command}`.", "",
         f"Machine: {res['machine']}; load average {res['load_start']} at the start, "
         f"{res['load_end']} at the end (shared with other work: wall times are noisy, the backend's "
         f"CPU seconds less so). PostgreSQL {res['postgres']}, serial plans, shared_buffers 128MB, "
         "one BLIS thread, work_mem at PostgreSQL's default (4MB). Memory: the backend's peak RssAnon "
         "(private memory, not the shared buffers), sampled every 20 ms. MF's half-steps are "
         "grouped aggregates (GROUP BY item, then user, over the (user, item) pairs summed by a "
         "GROUP BY of their own): their hash tables hold up to work_mem × hash_mem_multiplier each "
         "and spill to disk beyond, so a larger work_mem buys speed with memory (at 500,000 "
         "interactions: 72 MB at 4MB, 241 MB at 64MB).", "",
         f"MF: 100 interactions a user over 50,000 items (rank-4 values plus noise), options `{MF_OPTS}`. "
         f"GBDT: {GB_FEATURES} float4 features and a label, options `{GB_OPTS}`. "
         f"Each table grows by copies of a {res['base']:,}-row base (MF: new users).", "",
         "![time and memory against rows](scale-kinds.png)", ""]
    for kind, agg in (("mf", "ecml.mf_train"), ("gbdt", "ecml.fraud_train")):
        sz = res[kind]
        if not sz:
            continue
        L += [f"### `ecml.train('{kind}')`", "",
              f"| rows | table | wall s | CPU s | passes | s per pass (median) | memory MB | "
              f"`{agg}` wall s | CPU s | memory MB |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in sz:
            buf = (f"{r['buf_s']:.1f} | {r['buf_cpu']:.1f} | {r['buf_mb']:.0f}" if "buf_s" in r else "– | – | –")
            L.append(f"| {r['rows']:,} | {r['size']} | {r['train_s']:.1f} | {r['train_cpu']:.1f} | "
                     f"{r['passes']} | {r['pass_median']:.2f} | {r['train_mb']:.0f} | {buf} |")
        if len(sz) >= 2:
            a, b = sz[0], sz[-1]
            L += ["", f"Growth from {a['rows']:,} to {b['rows']:,} rows ({b['rows'] / a['rows']:.3g}×): CPU "
                  f"×{b['train_cpu'] / a['train_cpu']:.1f}, wall ×{b['train_s'] / a['train_s']:.1f}, per pass "
                  f"×{b['pass_median'] / a['pass_median']:.1f}; memory {a['train_mb']:.0f} → {b['train_mb']:.0f} MB."]
        for r in sz:
            if "buf_s" in r:
                L += ["", f"At {r['rows']:,} rows the buffering `{agg}` takes {r['buf_cpu']:.1f} s CPU "
                      f"({r['buf_s']:.1f} s wall) and {r['buf_mb']:.0f} MB; `ecml.train('{kind}')` "
                      f"{r['train_cpu']:.1f} s CPU ({r['train_cpu'] / max(r['buf_cpu'], 1e-9):.1f}×, "
                      f"{r['passes']} passes over the table) and {r['train_mb']:.0f} MB."]
        big = max(sz, key=lambda r: r["rows"])
        L += ["", f"Goal: {big['rows']:,} rows with the backend under 256 MB: "
              f"{'met' if big['train_mb'] < 256 else 'NOT met'} ({big['train_mb']:.0f} MB).", ""]
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mf-rows", default="1000000,5000000,20000000")
    ap.add_argument("--gbdt-rows", default="1000000,5000000,10000000")
    ap.add_argument("--buffer-rows", default="1000000,5000000")
    ap.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--keep", action="store_true", help="leave the cluster running")
    args = ap.parse_args()
    benchlib.require_root()
    benchlib.ensure_packages(["python3-matplotlib"])
    buffer_rows = {int(x) for x in args.buffer_rows.split(",") if x}
    command = benchlib.pgroot_prefix() + "/usr/bin/python3 test/bench/bench_scale_kinds.py " + " ".join(sys.argv[1:])
    print(f"command: {command.strip()}", flush=True)
    CLUSTER.create()
    try:
        res = {"mf": [], "gbdt": [],
               "machine": f"{benchlib.cpu_model()}, {os.cpu_count()} cores, {benchlib.memory_gib()}",
               "load_start": " ".join(benchlib.loadavg()),
               "postgres": CLUSTER.psql("-c", "SHOW server_version").stdout.strip(),
               "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
        sizes = {k: sorted(int(x) for x in v.split(",") if x)
                 for k, v in (("mf", args.mf_rows), ("gbdt", args.gbdt_rows))}
        base = min(BASE, max(max(v) for v in sizes.values()))
        res["base"] = base
        make_bases(base)
        for kind in ("mf", "gbdt"):
            for n in sizes[kind]:
                bench_kind(kind, n, base, buffer_rows, res)
        res["load_end"] = " ".join(benchlib.loadavg())
        png = os.path.join(os.path.dirname(os.path.abspath(args.output)), "scale-kinds.png")
        plot(res, png)
        text = report(res, command.strip())
        print(text)
        from results_md import write_section
        write_section(args.output, "scale-kinds", text)
        log(f"wrote {args.output} and {png}")
    finally:
        if not args.keep:
            CLUSTER.remove()


if __name__ == "__main__":
    main()
