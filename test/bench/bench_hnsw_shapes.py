#!/usr/bin/python3
"""ecml_hnsw at embedding-model shapes, against pgvector 0.8.1 and hnswlib
in the same run (issue 17's benchmark).

Run as root (`make -C test/bench -f hnsw.mk bench-hnsw-shapes`, or directly):

    nice /usr/bin/python3 test/bench/bench_hnsw_shapes.py [--quick] [--shapes 128,768,1536]
        [--metrics cosine,l2] [--workers 2] [--output PATH]

It starts a private PostgreSQL 15 cluster in /var/tmp/ecml-bench-shapes (port
54536) from the tree in $ECML_PGROOT (default: the system tree), with ecml
and pgvector installed there (pgvector: ../shared/vendor/pgvector/build.sh).

Data, per shape N x d: the exact-search benchmark's mixture of Gaussian
clusters (bench_search.mixture, seeded): 100k x 128, 100k x 768 and
50k x 1,536, with 500 queries from the same mixture.  Cosine uses the unit
vectors; L2 scales each vector by a seeded norm in [0.5, 1.5] so that L2
and cosine rank differently.  Exact top 10 in numpy (float64).

For each shape and metric, each engine (ecml float, ecml int8 storage,
ecml int8 over a copy of the table whose vector column is SET STORAGE MAIN
(rows kept in the heap page instead of TOAST, so the int8 scan's re-rank
reads a heap row instead of detoasting it), pgvector vector, hnswlib;
m = 16, ef_construction = 64):
  - build time in one process (max_parallel_maintenance_workers = 0) and,
    for the two PostgreSQL indexes, with --workers parallel workers;
  - index size (pg_relation_size; hnswlib's saved index);
  - recall@10 and queries per second at ef_search 10 ... 320.  PostgreSQL:
    one statement with one correlated index scan per query row
    (`SELECT count(*) FROM q, LATERAL (... ORDER BY v <op> q.q LIMIT 10)`),
    its EXPLAIN ANALYZE (TIMING OFF) execution time, best of three: the
    server-side cost without a round trip per query.  hnswlib: one
    knn_query call per query from Python, one thread.
The headline is q/s at the first ef_search whose recall is >= 0.95.  One
PNG per shape and metric draws the recall-q/s curves of the four engines.
Results: the `hnsw-shapes` section of RESULTS.md beside this file.
"""
import os
import sys

import benchlib
from benchlib import PG_BIN, Cluster, Psql, die, log

benchlib.one_thread()

import argparse  # noqa: E402
import datetime  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import bench_hnsw  # noqa: E402  (hnswlib helpers, machine info)
import bench_search  # noqa: E402  (the mixture and binary COPY)
import results_md  # noqa: E402

DIR = "/var/tmp/ecml-bench-shapes"
PORT = 54536
DB = bench_search.DB
K = 10
EFS = (10, 20, 40, 80, 160, 320)
M = 16
EF_CONSTRUCTION = 64
NQ = 500
SHAPES = {128: 100_000, 768: 100_000, 1536: 50_000}

CLUSTER = Cluster(DIR, PORT, db=DB, conf=[
    "shared_buffers = 4GB",
    "max_parallel_workers_per_gather = 0",
    "max_parallel_maintenance_workers = 0",
    "max_worker_processes = 8",
    "max_parallel_workers = 8",
    "maintenance_work_mem = 4GB",
    "jit = off",
    "max_wal_size = 8GB",
    "checkpoint_timeout = 1h",
    "synchronous_commit = off",
    "fsync = off",
    "full_page_writes = off",
], initdb_args=["--auth-local=trust", "--auth-host=reject", "--encoding=UTF8", "--locale=C"])
bench_search.CLUSTER = CLUSTER


def psql(sql):
    return CLUSTER.psql("-c", sql).stdout.strip()


# --------------------------------------------------------------------------
# data and exact answers


def dataset(n, d, metric, nq):
    """(X, Q) float32: unit vectors for cosine, scaled by a norm in [0.5, 1.5] for L2."""
    X = bench_search.mixture(n, d, seed=bench_search.SEED + 1)
    Q = bench_search.mixture(nq, d, seed=bench_search.SEED + 2)
    if metric == "l2":
        rng = np.random.default_rng(bench_search.SEED + 3)
        X *= rng.uniform(0.5, 1.5, (n, 1)).astype(np.float32)
        Q *= rng.uniform(0.5, 1.5, (nq, 1)).astype(np.float32)
    return X, Q


def exact(X, Q, metric):
    """{qid: top-k ids (1-based)} in float64; cosine on unit vectors = inner product."""
    Xd = X.astype(np.float64)
    xx = (Xd * Xd).sum(axis=1)
    out = {}
    for j0 in range(0, len(Q), 100):
        Qd = Q[j0:j0 + 100].astype(np.float64)
        s = Qd @ Xd.T
        dist = -s if metric == "cosine" else xx[None, :] - 2 * s
        top = np.argpartition(dist, K, axis=1)[:, :K]
        for r in range(len(Qd)):
            order = top[r][np.argsort(dist[r, top[r]], kind="stable")]
            out[j0 + r + 1] = [int(i) + 1 for i in order]
    return out


def load(X, Q, d):
    bench_search.load("sx", X)
    bench_search.load_queries("sq", Q)
    # the same rows with the vector kept in the heap page (no TOAST): what an
    # int8 index's re-rank reads then is one heap row, not a detoast
    psql("DROP TABLE IF EXISTS sxm; CREATE TABLE sxm (id bigint PRIMARY KEY, embedding real[]); "
         "ALTER TABLE sxm ALTER COLUMN embedding SET STORAGE MAIN; INSERT INTO sxm SELECT * FROM sx")
    psql("VACUUM ANALYZE sxm")
    psql(f"DROP TABLE IF EXISTS px, pq; "
         f"CREATE TABLE px AS SELECT id, embedding::vector({d}) AS v FROM sx; "
         f"CREATE TABLE pq AS SELECT qid, q::vector({d}) AS q FROM sq")
    psql("VACUUM ANALYZE px")
    psql("VACUUM ANALYZE pq")


# --------------------------------------------------------------------------
# PostgreSQL indexes

def engines(metric):
    """name -> (table, query table, column, CREATE INDEX tail, ef setting, operator)."""
    eop = "OPERATOR(ecml.<=>)" if metric == "cosine" else "OPERATOR(ecml.<->)"
    pop = "OPERATOR(public.<=>)" if metric == "cosine" else "OPERATOR(public.<->)"
    eops = "ecml.real_cosine_ops" if metric == "cosine" else "ecml.real_l2_ops"
    pops = "vector_cosine_ops" if metric == "cosine" else "vector_l2_ops"
    w = f"m = {M}, ef_construction = {EF_CONSTRUCTION}"
    return {
        "ecml float": ("sx", "sq", "embedding", f"USING ecml_hnsw (embedding {eops}) WITH ({w})",
                       "ecml.hnsw_ef_search", eop),
        "ecml int8": ("sx", "sq", "embedding",
                      f"USING ecml_hnsw (embedding {eops}) WITH ({w}, storage = 'int8')",
                      "ecml.hnsw_ef_search", eop),
        "ecml int8, STORAGE MAIN": ("sxm", "sq", "embedding",
                                    f"USING ecml_hnsw (embedding {eops}) WITH ({w}, storage = 'int8')",
                                    "ecml.hnsw_ef_search", eop),
        "pgvector": ("px", "pq", "v", f"USING hnsw (v {pops}) WITH ({w})", "hnsw.ef_search", pop),
    }


def build(sess, eng, workers):
    """CREATE INDEX shp_idx: wall seconds."""
    table, _, _, tail, _, _ = eng
    sess.run("DROP INDEX IF EXISTS shp_idx")
    sess.run(f"SET max_parallel_maintenance_workers = {workers}")
    # parallel builds need the planner to want workers on a small table too
    sess.run("SET min_parallel_table_scan_size = 0" if workers else "RESET min_parallel_table_scan_size")
    t = sess.timed(f"CREATE INDEX shp_idx ON {table} {tail}")
    sess.run("RESET max_parallel_maintenance_workers")
    return t


def curve(sess, eng, truth):
    """[(ef, recall, q/s)] of the index shp_idx."""
    table, qtable, col, _, guc, op = eng
    nq = len(truth)
    inner = f"SELECT id FROM {table} ORDER BY {col} {op} q.q LIMIT {K}"
    sess.run("SET enable_seqscan = off")
    out = []
    for ef in EFS:
        sess.run(f"SET {guc} = {ef}")
        rows, _, _ = sess.run(f"SELECT q.qid, (SELECT string_agg(id::text, ',') FROM ({inner}) s) "
                              f"FROM {qtable} q ORDER BY q.qid")
        got = {}
        for line in rows:
            qid, ids = line.split("\t")
            got[int(qid)] = [int(x) for x in ids.split(",")] if ids else []
        rec = bench_hnsw.recall(got, truth)[0]
        best = None
        for _ in range(3):
            rows, _, _ = sess.run(f"EXPLAIN (ANALYZE, TIMING OFF) SELECT count(*) FROM {qtable} q, "
                                  f"LATERAL ({inner}) s")
            ms = float(next(r for r in rows if "Execution Time" in r).split()[2])
            best = ms if best is None else min(best, ms)
        out.append((ef, rec, nq / (best / 1000.0)))
    sess.run(f"RESET {guc}; RESET enable_seqscan")
    return out


# --------------------------------------------------------------------------
# hnswlib


def hnswlib_run(X, Q, metric, truth):
    import hnswlib
    idx = hnswlib.Index(space="cosine" if metric == "cosine" else "l2", dim=X.shape[1])
    idx.set_num_threads(1)
    t0 = time.perf_counter()
    idx.init_index(max_elements=len(X), M=M, ef_construction=EF_CONSTRUCTION, random_seed=100)
    idx.add_items(X, np.arange(1, len(X) + 1), num_threads=1)
    build_s = time.perf_counter() - t0
    pts = []
    for ef in EFS:
        rec = bench_hnsw.recall(bench_hnsw.hnswlib_results(idx, Q, ef), truth)[0]
        qps = max(bench_hnsw.hnswlib_qps(idx, Q, ef, max(len(Q), 3000)) for _ in range(2))
        pts.append((ef, rec, qps))
    return build_s, bench_hnsw.hnswlib_size(idx), pts


# --------------------------------------------------------------------------
# report


def headline(pts, target=0.95):
    for ef, rec, qps in pts:
        if rec >= target:
            return ef, rec, qps
    return None


def plot(path, title, curves):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    for name, pts in curves.items():
        ax.plot([p[1] for p in pts], [p[2] for p in pts], marker="o", label=name)
        for ef, rec, qps in pts:
            ax.annotate(str(ef), (rec, qps), fontsize=6, xytext=(2, 2), textcoords="offset points")
    ax.set_yscale("log")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries per second (one process)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run_shape(sess, n, d, metric, nq, workers, png_dir, tag):
    log(f"{n} x {d}, {metric}: data")
    X, Q = dataset(n, d, metric, nq)
    truth = exact(X, Q, metric)
    load(X, Q, d)
    res = {}
    for name, eng in engines(metric).items():
        log(f"{n} x {d}, {metric}: {name} build")
        par = build(sess, eng, workers) if workers else None
        serial = build(sess, eng, 0)
        size = int(sess.value("SELECT pg_relation_size('shp_idx')"))
        log(f"{n} x {d}, {metric}: {name} search")
        res[name] = {"build": serial, "build_par": par, "size": size, "pts": curve(sess, eng, truth)}
        sess.run("DROP INDEX shp_idx")
    log(f"{n} x {d}, {metric}: hnswlib")
    b, size, pts = hnswlib_run(X, Q, metric, truth)
    res["hnswlib"] = {"build": b, "build_par": None, "size": size, "pts": pts}
    png = f"hnsw-shapes{tag}-{n // 1000}k-{d}-{metric}.png"
    plot(os.path.join(png_dir, png), f"{n:,} x {d}, {metric}, m = {M}, ef_construction = {EF_CONSTRUCTION}",
         {k: v["pts"] for k, v in res.items()})
    return res, png


def table_md(n, d, metric, res, png, workers):
    pgv = res["pgvector"]
    lines = [f"### {n:,} x {d}, {metric} ([curves]({png}))", "",
             f"| engine | build s, 1 process | build s, {workers} workers | index MB | size / pgvector | "
             "first ef with recall >= 0.95: ef, recall, q/s | q/s / pgvector's |",
             "|---|---|---|---|---|---|---|"]
    ph = headline(pgv["pts"])
    for name, r in res.items():
        h = headline(r["pts"])
        ratio = f"{h[2] / ph[2]:.2f}" if h and ph else "n/a"
        par = f"{r['build_par']:.1f}" if r["build_par"] is not None else "-"
        hs = f"{h[0]}, {h[1]:.3f}, {h[2]:,.0f}" if h else "not reached at ef 320"
        lines.append(f"| {name} | {r['build']:.1f} | {par} | {r['size'] / 1048576:.1f} | "
                     f"{r['size'] / pgv['size']:.2f} | {hs} | {ratio} |")
    lines += ["", "| ef_search | " + " | ".join(res) + " |", "|---" * (len(res) + 1) + "|"]
    for i, ef in enumerate(EFS):
        cells = [f"{res[name]['pts'][i][1]:.3f} / {res[name]['pts'][i][2]:,.0f}" for name in res]
        lines.append(f"| {ef} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="sizes / 10, 100 queries")
    ap.add_argument("--shapes", default="128,768,1536")
    ap.add_argument("--metrics", default="cosine,l2")
    ap.add_argument("--workers", type=int, default=2, help="parallel build workers (0: none)")
    ap.add_argument("--output")
    args = ap.parse_args()
    benchlib.require_root()
    benchlib.ensure_packages(["python3-hnswlib", "python3-matplotlib"])
    scale = 10 if args.quick else 1
    nq = 100 if args.quick else NQ
    tag = "-quick" if args.quick else ""
    out = args.output or os.path.join(HERE, "RESULTS-quick.md" if args.quick else "RESULTS.md")
    if not os.path.exists(os.path.join(benchlib.PG_SHARE, "extension/vector.control")):
        die(f"pgvector is not installed in {benchlib.PG_SHARE}: run ../shared/vendor/pgvector/build.sh")
    started = datetime.datetime.utcnow()
    CLUSTER.remove()
    CLUSTER.create()
    psql("CREATE EXTENSION IF NOT EXISTS vector")
    pgv = psql("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    sess = Psql(CLUSTER, setup=["SET client_min_messages = warning"])
    sections = []
    try:
        for d in (int(x) for x in args.shapes.split(",")):
            for metric in args.metrics.split(","):
                res, png = run_shape(sess, SHAPES[d] // scale, d, metric, nq, args.workers, HERE, tag)
                sections += table_md(SHAPES[d] // scale, d, metric, res, png, args.workers)
    finally:
        sess.close()
        CLUSTER.stop()
    mi = bench_hnsw.machine_info()
    head = [f"## ecml_hnsw at embedding-model shapes against pgvector {pgv} and hnswlib (`bench-hnsw-shapes`)", "",
            f"{started:%Y-%m-%d %H:%M} UTC, {(datetime.datetime.utcnow() - started).seconds // 60} min. "
            f"Command: `{benchlib.pgroot_prefix()}make -C test/bench -f hnsw.mk bench-hnsw-shapes"
            f"{' HNSW_SHAPES_ARGS=' + repr(' '.join(sys.argv[1:])) if len(sys.argv) > 1 else ''}` "
            f"(ecml {benchlib.git_describe()}). Machine: {mi['cpu']} ({mi['simd']}), {mi['nproc']} cores, "
            f"{mi['mem']}, load {benchlib.loadavg_2f()} at the end; hnswlib {mi['hnswlib']}, numpy {mi['numpy']}.",
            "",
            f"Every engine: m = {M}, ef_construction = {EF_CONSTRUCTION}, {nq} queries, recall@{K} against exact "
            "float64 search; q/s is one process (server-side execution time of one statement with one "
            "correlated index scan per query; hnswlib one knn_query call per query from Python). "
            "Goals (issue 17): q/s at the first ef_search reaching recall >= 0.95 at least 2x pgvector's; "
            "single-process build at most 0.5x pgvector's; float index size at most pgvector's; int8 index "
            "at most 0.3x pgvector's float index at recall within 0.01.",
            ""]
    results_md.write_section(out, "hnsw-shapes" + tag, "\n".join(head + sections))
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
