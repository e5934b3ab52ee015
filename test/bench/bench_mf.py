#!/usr/bin/python3
"""ecml matrix factorization benchmark (issue 3), one run:

    /usr/bin/python3 test/bench/bench_mf.py [--rows N] [--output PATH] [--keep]

(`make -C test/bench -f mf.mk bench-mf`).  As root.  It starts a private
PostgreSQL 15 cluster in /var/tmp/ecml-bench-mf (port 54363) from
$ECML_PGROOT/usr/lib/postgresql/15/bin (default the system tree), where ecml
must be installed, and measures in the same run:

 1. MovieLens 100K quality (../shared/data/movielens-100k, skipped when
    absent): explicit RMSE on rows whose 0-based file row number % 5 = 0,
    against user+item biases and a biased ALS written in numpy; implicit
    HR@10 / nDCG@10 of each user's last interaction, against popularity and
    a weighted ALS written in numpy.  Hyper-parameters of ecml and of the
    numpy ALS are chosen on a validation split of the training rows only.
 2. Speed on 5M generated interactions (100k users, 50k items, power-law
    popularity), 64 factors, implicit, CG with 3 steps: seconds per
    iteration against a vectorized numpy CG, and the backend's peak memory.
 3. mf_recommend latency for one user (cached model) against faiss
    IndexFlatIP searching one query at a time; mf_recommend_all throughput.

Everything runs with one thread (ecml.blas_threads = 1, OMP/BLIS = 1).
Results go to RESULTS.md between <!-- bench:mf begin --> and
<!-- bench:mf end -->.
"""
import os

import benchlib
from benchlib import PGROOT, Cluster, cpu_seconds, log, status_kb

benchlib.one_thread()  # before numpy and scipy load their BLAS

import argparse  # noqa: E402
import datetime  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse as sp  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DIR = "/var/tmp/ecml-bench-mf"
PORT = 54363
DB = "bench"


def find_movielens():
    """u.data in ../shared/data (from the repository, or from a work tree one
    level deeper), or in $ECML_SHARED_DATA."""
    roots = [os.environ.get("ECML_SHARED_DATA", ""),
             os.path.join(REPO, "..", "shared", "data"),
             os.path.join(REPO, "..", "..", "shared", "data")]
    for r in roots:
        p = os.path.normpath(os.path.join(r, "movielens-100k", "u.data"))
        if r and os.path.exists(p):
            return p
    return os.path.normpath(os.path.join(REPO, "..", "shared", "data", "movielens-100k", "u.data"))


ML_DATA = find_movielens()
BEGIN = "<!-- bench:mf begin -->"
END = "<!-- bench:mf end -->"


# --------------------------------------------------------------------------
# the private cluster


CLUSTER = Cluster(DIR, PORT, db=DB, conf=[
    "shared_buffers = 1GB", "max_parallel_workers_per_gather = 0",
    "max_wal_size = 4GB", "synchronous_commit = off", "work_mem = 256MB"])


class Psql(benchlib.Psql):
    """The session with one BLAS thread; timed() adds up every \\timing line."""

    def __init__(self):
        super().__init__(CLUSTER, setup=["SET ecml.blas_threads = 1"])

    def timed(self, sql):
        _, times, _ = self.run(sql)
        return sum(times) / 1000.0


class PeakSampler(threading.Thread):
    """Peak anonymous RSS of one backend, sampled every 5 ms."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.base = status_kb(pid, "RssAnon") or 0
        self.peak = self.base
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            v = status_kb(self.pid, "RssAnon")
            if v:
                self.peak = max(self.peak, v)
            time.sleep(0.005)

    def stop(self):
        self.done.set()
        self.join()
        return (self.peak - self.base) * 1024


# --------------------------------------------------------------------------
# numpy references


def als_explicit_numpy(users, items, r, nu, ni, f, lam, iters, seed=0):
    """Biased ALS-WR (the same objective as ecml's explicit mode)."""
    rng = np.random.default_rng(seed)
    mu = r.mean()
    X = rng.normal(0, 0.1 / np.sqrt(f), (nu, f))
    Y = rng.normal(0, 0.1 / np.sqrt(f), (ni, f))
    bu = np.zeros(nu)
    bi = np.zeros(ni)
    R_u = sp.csr_matrix((r, (users, items)), shape=(nu, ni))
    R_i = R_u.T.tocsr()

    def side(R, other, ob, out, outb):
        for row in range(R.shape[0]):
            s, e = R.indptr[row], R.indptr[row + 1]
            if s == e:
                continue
            idx = R.indices[s:e]
            Yt = np.hstack([other[idx], np.ones((e - s, 1))])
            t = R.data[s:e] - mu - ob[idx]
            A = Yt.T @ Yt + lam * (e - s) * np.eye(f + 1)
            sol = np.linalg.solve(A, Yt.T @ t)
            out[row] = sol[:f]
            outb[row] = sol[f]

    for _ in range(iters):
        side(R_i, X, bu, Y, bi)
        side(R_u, Y, bi, X, bu)
    return lambda u, i: mu + bu[u] + bi[i] + np.sum(X[u] * Y[i], axis=1)


def biases_numpy(users, items, r, nu, ni, lam, iters=20):
    """User + item biases only: r = mu + b_u + b_i, ridge lam, alternating."""
    mu = r.mean()
    bu = np.zeros(nu)
    bi = np.zeros(ni)
    cu = np.bincount(users, minlength=nu)
    ci = np.bincount(items, minlength=ni)
    for _ in range(iters):
        bi = np.bincount(items, r - mu - bu[users], minlength=ni) / (lam + ci)
        bu = np.bincount(users, r - mu - bi[items], minlength=nu) / (lam + cu)
    return lambda u, i: mu + bu[u] + bi[i]


def wals_numpy(R, f, lam, alpha, iters, seed=0):
    """Implicit weighted ALS (Hu et al. 2008), exact solve per row."""
    rng = np.random.default_rng(seed)
    nu, ni = R.shape
    X = rng.normal(0, 0.01, (nu, f))
    Y = rng.normal(0, 0.01, (ni, f))
    Rt = R.T.tocsr()

    def side(C, other, out):
        G = other.T @ other + lam * np.eye(f)
        for row in range(C.shape[0]):
            s, e = C.indptr[row], C.indptr[row + 1]
            idx = C.indices[s:e]
            c = 1 + alpha * C.data[s:e]
            Yi = other[idx]
            A = G + (Yi.T * (c - 1)) @ Yi
            out[row] = np.linalg.solve(A, Yi.T @ c)

    for _ in range(iters):
        side(Rt, X, Y)
        side(R, Y, X)
    return X, Y


def cg_numpy_sweep(C, X, Y, lam, alpha, steps, chunk_nnz=1_000_000):
    """One half-sweep of implicit ALS with CG, vectorized over all rows of C
    (Takacs et al. 2011): X[r] warm-started, steps CG steps, rows in chunks
    so the gathered other-side rows stay below chunk_nnz x f."""
    f = X.shape[1]
    YtY = Y.T @ Y
    n = C.shape[0]
    start = 0
    while start < n:
        end = int(np.searchsorted(C.indptr, C.indptr[start] + chunk_nnz, side="right")) - 1
        end = min(max(end, start + 1), n)
        Cc = C[start:end]
        rows = np.repeat(np.arange(end - start), np.diff(Cc.indptr))
        Yg = Y[Cc.indices]
        w = (alpha * Cc.data).astype(Y.dtype)
        B = sp.csr_matrix(((1 + alpha * Cc.data).astype(Y.dtype), Cc.indices, Cc.indptr),
                          shape=Cc.shape) @ Y
        x = X[start:end]

        def apply(p):
            s = np.einsum("ij,ij->i", Yg, p[rows]) * w
            return p @ YtY + lam * p + sp.csr_matrix((s, Cc.indices, Cc.indptr), shape=Cc.shape) @ Y

        r = B - apply(x)
        p = r.copy()
        rs = np.einsum("ij,ij->i", r, r)
        for _ in range(steps):
            Ap = apply(p)
            a = rs / np.maximum(np.einsum("ij,ij->i", p, Ap), 1e-30)
            x += a[:, None] * p
            r -= a[:, None] * Ap
            rsn = np.einsum("ij,ij->i", r, r)
            p = r + (rsn / np.maximum(rs, 1e-30))[:, None] * p
            rs = rsn
        X[start:end] = x
        start = end


# --------------------------------------------------------------------------
# parts


def metrics_hr_ndcg(recs, truth):
    hr = ndcg = 0.0
    for u, t in truth.items():
        rec = recs.get(u, [])[:10]
        if t in rec:
            hr += 1
            ndcg += 1.0 / np.log2(rec.index(t) + 2)
    return hr / len(truth), ndcg / len(truth)


def part_movielens(db, res):
    if not os.path.exists(ML_DATA):
        log(f"{ML_DATA} not found: skipping MovieLens")
        res["ml"] = None
        return
    log("MovieLens 100K: loading")
    raw = np.loadtxt(ML_DATA, dtype=np.int64)
    nrow = raw.shape[0]
    db.run("CREATE TABLE ml (rn bigint, user_id bigint, item_id bigint, rating real, ts bigint)")
    path = f"{DIR}/ml.tsv"
    np.savetxt(path, np.column_stack([np.arange(nrow), raw]), fmt="%d", delimiter="\t")
    db.run(f"\\copy ml FROM '{path}'")
    db.run("ANALYZE ml")
    ml = {}

    # ---- explicit: test = rn % 5 = 0; validation for choosing = rn % 5 = 1
    users, items, rating, rn = raw[:, 0], raw[:, 1], raw[:, 2].astype(float), np.arange(nrow)
    nu, ni = users.max() + 1, items.max() + 1
    test = rn % 5 == 0
    train = ~test
    val = rn % 5 == 1
    sub = train & ~val
    grid = [(f, lam) for f in (32, 64) for lam in (0.06, 0.08, 0.1, 0.12, 0.15)]
    log("MovieLens explicit: ecml validation grid")
    best = None
    for f, lam in grid:
        opts = f'{{"implicit": false, "factors": {f}, "regularization": {lam}, "iterations": 15}}'
        v = float(db.value(
            f"SELECT ecml.rmse(ecml.mf_predict(m, user_id, item_id), rating) FROM ml, "
            f"(SELECT ecml.mf_train(user_id, item_id, rating, '{opts}') AS m FROM ml WHERE rn % 5 NOT IN (0, 1)) s "
            f"WHERE rn % 5 = 1"))
        if best is None or v < best[0]:
            best = (v, f, lam)
    _, f_e, lam_e = best
    opts = f'{{"implicit": false, "factors": {f_e}, "regularization": {lam_e}, "iterations": 15}}'
    t = db.timed(f"CREATE TABLE ml_model AS SELECT ecml.mf_train(user_id, item_id, rating, '{opts}') AS m "
                 f"FROM ml WHERE rn % 5 <> 0")
    ml["ecml_rmse"] = float(db.value(
        "SELECT ecml.rmse(ecml.mf_predict(m, user_id, item_id), rating) FROM ml, ml_model WHERE rn % 5 = 0"))
    ml["ecml_explicit"] = {"factors": f_e, "regularization": lam_e, "train_s": t}

    log("MovieLens explicit: numpy references")
    bestb = None
    for lam in (1, 3, 5, 10, 25):
        pred = biases_numpy(users[sub], items[sub], rating[sub], nu, ni, lam)
        v = np.sqrt(np.mean((pred(users[val], items[val]) - rating[val]) ** 2))
        if bestb is None or v < bestb[0]:
            bestb = (v, lam)
    pred = biases_numpy(users[train], items[train], rating[train], nu, ni, bestb[1])
    ml["bias_rmse"] = float(np.sqrt(np.mean((pred(users[test], items[test]) - rating[test]) ** 2)))
    ml["bias_lambda"] = bestb[1]
    bestn = None
    for f, lam in [(32, 0.06), (32, 0.1), (32, 0.15), (64, 0.1), (64, 0.15)]:
        pred = als_explicit_numpy(users[sub], items[sub], rating[sub], nu, ni, f, lam, 10)
        v = np.sqrt(np.mean((pred(users[val], items[val]) - rating[val]) ** 2))
        if bestn is None or v < bestn[0]:
            bestn = (v, f, lam)
    t0 = time.perf_counter()
    pred = als_explicit_numpy(users[train], items[train], rating[train], nu, ni, bestn[1], bestn[2], 15)
    ml["numpy_als_s"] = time.perf_counter() - t0
    ml["numpy_rmse"] = float(np.sqrt(np.mean((pred(users[test], items[test]) - rating[test]) ** 2)))
    ml["numpy_als"] = {"factors": bestn[1], "regularization": bestn[2]}

    # ---- implicit: hold out each user's last interaction by (ts, item id);
    # validation: the last of the remaining ones
    log("MovieLens implicit: ecml validation grid")
    order = np.lexsort((items, raw[:, 3], users))
    last = np.zeros(nrow, bool)
    second = np.zeros(nrow, bool)
    u_sorted = users[order]
    is_last = np.r_[u_sorted[1:] != u_sorted[:-1], True]
    last[order[is_last]] = True
    is_second = np.r_[is_last[1:], False] & ~is_last
    second[order[is_second]] = True
    kind = np.where(last, 2, np.where(second, 1, 0))
    kpath = f"{DIR}/ml_kind.tsv"
    np.savetxt(kpath, np.column_stack([np.arange(nrow), kind]), fmt="%d", delimiter="\t")
    db.run("CREATE TABLE ml_kind (rn bigint, kind int)")
    db.run(f"\\copy ml_kind FROM '{kpath}'")
    db.run("CREATE TABLE mli AS SELECT user_id, item_id, kind FROM ml JOIN ml_kind USING (rn)")

    def ecml_eval(opts, train_kinds, test_kind):
        r = db.run(
            f"WITH m AS (SELECT ecml.mf_train(user_id, item_id, 1, '{opts}') AS m FROM mli WHERE kind IN ({train_kinds})), "
            f"r AS (SELECT user_id, array_agg(item_id ORDER BY rank) AS rec "
            f"      FROM ecml.mf_recommend_all((SELECT m FROM m), 10) GROUP BY user_id) "
            f"SELECT avg(ecml.hit_rate_at_k(r.rec, ARRAY[t.item_id], 10)), avg(ecml.ndcg_at_k(r.rec, ARRAY[t.item_id], 10)) "
            f"FROM mli t JOIN r USING (user_id) WHERE t.kind = {test_kind}")[0][0].split("\t")
        return float(r[0]), float(r[1])

    besti = None
    for f in (32, 64):
        for alpha in (1, 5, 20):
            for lam in (0.1, 1.0):
                opts = f'{{"factors": {f}, "alpha": {alpha}, "regularization": {lam}, "iterations": 15}}'
                hr, nd = ecml_eval(opts, "0", 1)
                if besti is None or nd > besti[0]:
                    besti = (nd, f, alpha, lam)
    _, f_i, a_i, l_i = besti
    opts = f'{{"factors": {f_i}, "alpha": {a_i}, "regularization": {l_i}, "iterations": 15}}'
    ml["ecml_hr"], ml["ecml_ndcg"] = ecml_eval(opts, "0, 1", 2)
    ml["ecml_implicit"] = {"factors": f_i, "alpha": a_i, "regularization": l_i}

    log("MovieLens implicit: numpy weighted ALS and popularity")
    tr = kind < 2
    R = sp.csr_matrix((np.ones(tr.sum()), (users[tr], items[tr])), shape=(nu, ni))
    R.data[:] = 1.0     # repeated (user, item) rows: seen once
    X, Y = wals_numpy(R, f_i, l_i, a_i, 15)
    truth = {int(u): int(i) for u, i in zip(users[last], items[last])}
    recs = {}
    pop_recs = {}
    counts = np.asarray(R.sum(axis=0)).ravel()
    pop_order = np.lexsort((np.arange(ni), -counts))
    for u in truth:
        seen = set(R.indices[R.indptr[u]:R.indptr[u + 1]])
        s = Y @ X[u]
        s[list(seen)] = -np.inf
        s[0] = -np.inf      # ids start at 1
        top = np.argsort(-s, kind="stable")[:10]
        recs[u] = [int(i) for i in top]
        pop_recs[u] = [int(i) for i in pop_order if i not in seen and i != 0][:10]
    ml["numpy_hr"], ml["numpy_ndcg"] = metrics_hr_ndcg(recs, truth)
    ml["pop_hr"], ml["pop_ndcg"] = metrics_hr_ndcg(pop_recs, truth)
    res["ml"] = ml


def gen_5m(rows, nusers, nitems, seed=20260401):
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, nitems + 1) ** 0.8
    p /= p.sum()
    items = rng.permutation(nitems)[rng.choice(nitems, rows, p=p)]
    q = 1.0 / np.arange(1, nusers + 1) ** 0.5
    q /= q.sum()
    users = rng.permutation(nusers)[rng.choice(nusers, rows, p=q)]
    return users.astype(np.int64), items.astype(np.int64)


def part_speed(db, res, rows):
    nusers, nitems, f = 100_000, 50_000, 64
    if rows < 5_000_000:
        nusers, nitems = max(1000, rows // 50), max(500, rows // 100)
    log(f"speed: generating {rows} interactions ({nusers} users, {nitems} items)")
    users, items = gen_5m(rows, nusers, nitems)
    path = f"{DIR}/gen.tsv"
    np.savetxt(path, np.column_stack([users, items]), fmt="%d", delimiter="\t")
    db.run("CREATE TABLE gen (user_id bigint, item_id bigint)")
    db.run(f"\\copy gen FROM '{path}'")
    db.run("VACUUM ANALYZE gen")
    os.unlink(path)
    sp_ = {"rows": rows, "users": nusers, "items": nitems, "factors": f}

    log("speed: ecml, 1 and 5 iterations")
    opts1 = '{"factors": 64, "iterations": 1, "solver": "cg", "cg_steps": 3, "alpha": 1, "regularization": 0.1}'
    opts5 = opts1.replace('"iterations": 1', '"iterations": 5')
    db.run("SELECT count(*) FROM gen")         # warm the cache
    # the peak memory of training alone: no result tuple to store
    sampler = PeakSampler(db.pid)
    sampler.start()
    c0 = cpu_seconds(db.pid)
    t1 = db.timed(f"SELECT length(ecml.mf_train(user_id, item_id, 1, '{opts1}')) FROM gen")
    c1 = cpu_seconds(db.pid)
    peak = sampler.stop()
    db.run("SET ecml.progress = on")
    _, tms, notes = db.run(f"CREATE TABLE gen_model AS SELECT ecml.mf_train(user_id, item_id, 1, '{opts5}') AS m FROM gen")
    db.run("RESET ecml.progress")
    t5 = sum(tms) / 1000.0
    c5 = cpu_seconds(db.pid)
    # wall clock of iterations 2..5 from the progress notices of this one run
    el = {int(m.group(1)): float(m.group(2)) for m in
          (re.search(r"iteration (\d+) of \d+, loss \S+, ([0-9.]+) s elapsed", n) for n in notes) if m}
    sp_["ecml_notice_per_iter"] = (el[5] - el[1]) / 4 if 1 in el and 5 in el else None
    sp_["ecml_t1"], sp_["ecml_t5"] = t1, t5
    sp_["ecml_per_iter"] = sp_["ecml_notice_per_iter"] or (t5 - t1) / 4
    sp_["ecml_cpu_per_iter"] = ((c5 - c1) - (c1 - c0)) / 4
    sp_["ecml_peak"] = peak
    info = db.value("SELECT ecml.model_info(m)->>'interactions' FROM gen_model")
    sp_["nnz"] = int(info)
    sp_["mem_ref"] = rows * 8 + (nusers + nitems) * f * 4

    log("speed: numpy vectorized CG, 2 iterations")
    t0 = time.perf_counter()
    C = sp.csr_matrix((np.ones(rows, dtype=np.float32), (users, items)), shape=(nusers, nitems))
    C.sum_duplicates()
    Ct = C.T.tocsr()
    t_csr = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    X = (rng.normal(0, 0.01, (nusers, f))).astype(np.float32)
    Y = (rng.normal(0, 0.01, (nitems, f))).astype(np.float32)
    times = []
    cpu = []
    for _ in range(2):
        t0 = time.perf_counter()
        p0 = time.process_time()
        cg_numpy_sweep(Ct, Y, X, 0.1, 1.0, 3)
        cg_numpy_sweep(C, X, Y, 0.1, 1.0, 3)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - p0)
    sp_["numpy_iters"] = times
    sp_["numpy_cpu_per_iter"] = statistics.mean(cpu)
    sp_["numpy_per_iter"] = statistics.mean(times)
    sp_["numpy_csr"] = t_csr
    res["speed"] = sp_


def part_latency(db, res):
    log("latency: mf_recommend (cached model) vs faiss IndexFlatIP")
    import faiss
    faiss.omp_set_num_threads(1)
    lat = {}
    db.run("SELECT ecml.save_model('bench_mf', m) FROM gen_model")
    nitems = int(db.value("SELECT ecml.model_info(model)->>'items' FROM ecml.models WHERE name = 'bench_mf'"))
    nusers = int(db.value("SELECT ecml.model_info(model)->>'users' FROM ecml.models WHERE name = 'bench_mf'"))
    rng = np.random.default_rng(7)
    ids = [int(x) for x in db.run("SELECT id FROM ecml.mf_user_factors((SELECT model FROM ecml.models WHERE name = 'bench_mf'))")[0]]
    sample = [ids[i] for i in rng.choice(len(ids), 300, replace=False)]
    q = "SELECT item_id FROM ecml.mf_recommend((SELECT model FROM ecml.models WHERE name = 'bench_mf'), {}, 10)"
    for u in sample[:20]:          # parse and cache the model, warm up
        db.run(q.format(u))
    times = []
    for u in sample[20:]:
        times.append(db.timed(q.format(u)))
    lat["ecml_ms"] = statistics.median(times) * 1000
    lat["ecml_p90_ms"] = float(np.percentile(times, 90)) * 1000
    lat["n"] = len(times)
    # an empty statement: the client round trip included above
    base = [db.timed("SELECT 1") for _ in range(100)]
    lat["roundtrip_ms"] = statistics.median(base) * 1000

    def fetch_factors(fn):
        path = f"{DIR}/{fn}.tsv"
        db.run(f"\\copy (SELECT id, array_to_string(factors, ',') FROM ecml.{fn}((SELECT model FROM ecml.models WHERE name = 'bench_mf'))) TO '{path}'")
        out = {}
        with open(path) as fh:
            for line in fh:
                i, v = line.rstrip("\n").split("\t")
                out[int(i)] = np.array(v.split(","), dtype=np.float32)
        os.unlink(path)
        return out
    items = fetch_factors("mf_item_factors")
    users = fetch_factors("mf_user_factors")
    item_ids = np.array(sorted(items))
    Y = np.stack([items[i] for i in item_ids])
    index = faiss.IndexFlatIP(Y.shape[1])
    index.add(Y)
    ft = []
    agree = 0
    for u in sample[20:]:
        xq = users[u][None, :]
        t0 = time.perf_counter()
        _, I = index.search(xq, 10)
        ft.append(time.perf_counter() - t0)
    for u in sample[20:40]:
        # the same top 10 when seen items are not excluded
        _, I = index.search(users[u][None, :], 10)
        mine = [int(x) for x in db.run(
            f"SELECT item_id FROM ecml.mf_recommend((SELECT model FROM ecml.models WHERE name = 'bench_mf'), {u}, 10, false)")[0]]
        agree += len(set(mine) & set(int(item_ids[j]) for j in I[0]))
    lat["faiss_ms"] = statistics.median(ft) * 1000
    lat["faiss_p90_ms"] = float(np.percentile(ft, 90)) * 1000
    lat["agree"] = agree / 200.0
    lat["nitems"] = nitems

    log("throughput: mf_recommend_all")
    t = db.timed("SELECT count(*) FROM ecml.mf_recommend_all((SELECT model FROM ecml.models WHERE name = 'bench_mf'), 10)")
    lat["all_s"] = t
    lat["all_users"] = nusers
    lat["all_ups"] = nusers / t
    res["latency"] = lat


# --------------------------------------------------------------------------
# report


def machine_info(db):
    import faiss
    return {"cpu": benchlib.cpu_model(), "memory": benchlib.memory_gib(),
            "nproc": os.cpu_count(), "kernel": benchlib.kernel(),
            "pg": db.value("SELECT version()"), "blas": db.value("SELECT ecml.blas_info()"),
            "ecml": db.value("SELECT ecml.version()"),
            "git": benchlib.git_describe(),
            "python": benchlib.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "faiss": faiss.__version__}


def verdict(met, gap):
    return "met" + (f" ({gap})" if gap else "") if met else f"**NOT met** ({gap})"


def write_report(res, path):
    m = res["machine"]
    L = []
    a = L.append
    a(BEGIN)
    a("# ecml matrix factorization benchmark")
    a("")
    a(f"Written by `test/bench/bench_mf.py` on {res['date']}.")
    a("")
    a(f"Command: `{res['command']}` (or `make -C test/bench -f mf.mk bench-mf`), "
      f"ECML_PGROOT={PGROOT or '(unset: system tree)'}; total run {res['total_s']:.0f} s.")
    a("")
    a("| machine | |")
    a("|---|---|")
    a(f"| CPU | {m['cpu']}, nproc {m['nproc']}, {m['memory']}, kernel {m['kernel']} |")
    a(f"| load average (1, 5, 15 min) | at start {res['load_start']}, at end {res['load_end']} — the machine is shared with other work running at the same time, so absolute timings are noisy; ratios come from the same run |")
    a(f"| PostgreSQL | {m['pg']} |")
    a(f"| ecml | {m['ecml']}, source tree {m['git']}; `ecml.blas_info()` = `{m['blas']}` |")
    a(f"| Python / numpy / scipy / faiss | {m['python']} / {m['numpy']} / {m['scipy']} / {m['faiss']}; one thread each (OMP/BLIS/OPENBLAS_NUM_THREADS=1, faiss.omp_set_num_threads(1)) |")
    a(f"| cluster | private, {DIR}, port {PORT}: `{'; '.join(CLUSTER.conf[3:])}` |")
    a("")
    a("## Goals")
    a("")
    a("| # | goal | ecml | reference | verdict |")
    a("|---|---|---|---|---|")
    ml = res.get("ml")
    if ml:
        a(f"| 1 | MovieLens 100K explicit, test RMSE ≤ 0.915 | {ml['ecml_rmse']:.4f} | 0.915 (numpy biased ALS here: {ml['numpy_rmse']:.4f}; biases only: {ml['bias_rmse']:.4f}) | "
          + verdict(ml['ecml_rmse'] <= 0.915, f"{ml['ecml_rmse'] - 0.915:+.4f}") + " |")
        a(f"| 1 | MovieLens 100K implicit, HR@10 ≥ 0.085 | {ml['ecml_hr']:.4f} | 0.085 (numpy WALS: {ml['numpy_hr']:.4f}; popularity: {ml['pop_hr']:.4f}) | "
          + verdict(ml['ecml_hr'] >= 0.085, f"{ml['ecml_hr'] - 0.085:+.4f}") + " |")
        a(f"| 1 | MovieLens 100K implicit, nDCG@10 ≥ 0.038 | {ml['ecml_ndcg']:.4f} | 0.038 (numpy WALS: {ml['numpy_ndcg']:.4f}; popularity: {ml['pop_ndcg']:.4f}) | "
          + verdict(ml['ecml_ndcg'] >= 0.038, f"{ml['ecml_ndcg'] - 0.038:+.4f}") + " |")
    else:
        a("| 1 | MovieLens 100K | skipped: data set not found | | not measured |")
    s = res["speed"]
    ratio = s["numpy_per_iter"] / s["ecml_per_iter"]
    a(f"| 2 | {s['rows']:,} interactions, 64 factors, CG 3 steps: s/iteration ≥ 5× faster than numpy CG | {s['ecml_per_iter']:.2f} s (CPU {s['ecml_cpu_per_iter']:.2f} s) | {s['numpy_per_iter']:.2f} s (CPU {s['numpy_cpu_per_iter']:.2f} s) | "
      + verdict(ratio >= 5, f"{ratio:.1f}× faster") + " |")
    a(f"| 2 | peak memory (report) against interactions × 8 + (users + items) × factors × 4 | {s['ecml_peak'] / 2**20:.0f} MiB | {s['mem_ref'] / 2**20:.0f} MiB | reported: {s['ecml_peak'] / s['mem_ref']:.2f}× the reference |")
    lt = res["latency"]
    a(f"| 3 | mf_recommend top-10 over {lt['nitems']:,} items, median latency faster than faiss IndexFlatIP (one query at a time) | {lt['ecml_ms']:.3f} ms | {lt['faiss_ms']:.3f} ms | "
      + verdict(lt['ecml_ms'] < lt['faiss_ms'], f"ecml/faiss = {lt['ecml_ms'] / lt['faiss_ms']:.2f}") + " |")
    a(f"| 3 | mf_recommend_all throughput (report) | {lt['all_ups']:,.0f} users/s ({lt['all_users']:,} users in {lt['all_s']:.1f} s) | | reported |")
    a("")
    if ml:
        a("## 1. MovieLens 100K")
        a("")
        a("Explicit: test rows are those whose 0-based row number in `u.data` (file order) % 5 = 0; every model is fitted on the other 80%. "
          "Hyper-parameters are chosen on a validation split of the training rows only (row number % 5 = 1, models fitted on % 5 ∈ {2, 3, 4}), then refitted on all training rows.")
        a("")
        a("| model | test RMSE | chosen on validation |")
        a("|---|---|---|")
        e = ml["ecml_explicit"]
        a(f"| ecml `mf_train` explicit (biased ALS-WR, CG 3 steps, 15 iterations) | {ml['ecml_rmse']:.4f} | factors {e['factors']}, regularization {e['regularization']} (trained in {e['train_s']:.2f} s) |")
        n = ml["numpy_als"]
        a(f"| numpy biased ALS-WR (same objective, exact solves, 15 iterations) | {ml['numpy_rmse']:.4f} | factors {n['factors']}, regularization {n['regularization']} ({ml['numpy_als_s']:.1f} s) |")
        a(f"| user + item biases only (numpy) | {ml['bias_rmse']:.4f} | ridge {ml['bias_lambda']} |")
        a("")
        a("Implicit: every rating is an interaction (value 1). Each user's last interaction by (timestamp, item id) is the test item; "
          "the ranking is over all items not in the user's training history. The validation item is each user's last remaining interaction "
          "(models for choosing fitted without it).")
        a("")
        a("| model | HR@10 | nDCG@10 | settings |")
        a("|---|---|---|---|")
        i = ml["ecml_implicit"]
        a(f"| ecml `mf_train` implicit (CG 3 steps, 15 iterations), `mf_recommend_all`, `hit_rate_at_k` / `ndcg_at_k` | {ml['ecml_hr']:.4f} | {ml['ecml_ndcg']:.4f} | factors {i['factors']}, alpha {i['alpha']}, regularization {i['regularization']} (chosen on validation) |")
        a(f"| numpy weighted ALS (Hu et al., exact solves, 15 iterations) | {ml['numpy_hr']:.4f} | {ml['numpy_ndcg']:.4f} | the same settings |")
        a(f"| popularity (most frequent unseen items) | {ml['pop_hr']:.4f} | {ml['pop_ndcg']:.4f} | |")
        a("")
        a("With 943 test users one hit is 0.0011 of HR@10, so differences of 0.01 are within noise.")
        a("")
    a("## 2. Training speed and memory")
    a("")
    a(f"{s['rows']:,} generated interactions: {s['users']:,} users (activity ∝ rank^-0.5), {s['items']:,} items (popularity ∝ rank^-0.8), value 1; "
      f"{s['nnz']:,} distinct pairs after duplicates are summed. Implicit, 64 factors, alpha 1, regularization 0.1, CG with 3 steps, "
      "`max_parallel_workers_per_gather = 0`, `ecml.blas_threads = 1`.")
    a("")
    a(f"- ecml: `mf_train` with 1 iteration took {s['ecml_t1']:.2f} s and with 5 iterations {s['ecml_t5']:.2f} s (psql `\\timing`, table in the page cache); "
      f"seconds per iteration, from the progress notices of the 5-iteration run (elapsed at iteration 5 − at iteration 1) / 4 = **{s['ecml_per_iter']:.2f} s** "
      f"((t5 − t1) / 4 = {(s['ecml_t5'] - s['ecml_t1']) / 4:.2f} s). An iteration solves the 50k items, then the 100k users, and computes the full implicit loss for `model_info`. "
      f"The rest of t1 is the scan and aggregate, sorting ids and building the CSR matrices.")
    a(f"- numpy: vectorized CG over all rows at once (row chunks of ≤ 1M interactions; YᵀY·P as one matrix product, the sparse part by gathering the rows, an `einsum` and a sparse product), "
      f"float32, the same algorithm and settings: iterations of {', '.join(f'{x:.2f}' for x in s['numpy_iters'])} s, **{s['numpy_per_iter']:.2f} s** per iteration (building the CSR matrices: {s['numpy_csr']:.2f} s, not counted).")
    a(f"- ecml/numpy: {ratio:.1f}× faster per iteration (wall clock). In CPU seconds (the backend's utime + stime from /proc, numpy's process time), "
      f"which the other work on the machine disturbs less: ecml {s['ecml_cpu_per_iter']:.2f} s, numpy {s['numpy_cpu_per_iter']:.2f} s per iteration, "
      f"{s['numpy_cpu_per_iter'] / s['ecml_cpu_per_iter']:.1f}×.")
    a(f"- Peak memory: the backend's anonymous RSS (`RssAnon`, sampled every 5 ms, minus its value before) during the 1-iteration training "
      "(`SELECT length(ecml.mf_train(...))`: memory does not grow with iterations, and no result row is stored): "
      f"**{s['ecml_peak'] / 2**20:.0f} MiB** against the reference interactions × 8 + (users + items) × 64 × 4 = {s['mem_ref'] / 2**20:.0f} MiB "
      f"({s['ecml_peak'] / s['mem_ref']:.2f}×). The aggregate buffers 20 bytes per row (two bigint ids and a real); the final function then holds, for a while, "
      "dense indices for both sides, the values, the CSR matrices by user and by item (16 bytes per interaction together) and the model being written.")
    a("")
    a("## 3. Recommendation latency and batch throughput")
    a("")
    a(f"The model of part 2 ({lt['all_users']:,} users × {lt['nitems']:,} items × 64 factors) saved with `ecml.save_model` and passed as "
      "`(SELECT model FROM ecml.models WHERE name = 'bench_mf')`, so the parsed model is found in the backend cache from the TOAST header alone.")
    a("")
    a(f"- `SELECT item_id FROM ecml.mf_recommend(model, user, 10)` for {lt['n']} random users (after 20 warm-up calls), one statement each, psql `\\timing`: "
      f"median **{lt['ecml_ms']:.3f} ms**, p90 {lt['ecml_p90_ms']:.3f} ms. This includes the client round trip (median of `SELECT 1`: {lt['roundtrip_ms']:.3f} ms) "
      "and leaving out the user's seen items.")
    a(f"- faiss `IndexFlatIP` over the same item factors (exported with `mf_item_factors`), `index.search` of one user vector at a time, k = 10, one thread, "
      f"`time.perf_counter` around the call: median **{lt['faiss_ms']:.3f} ms**, p90 {lt['faiss_p90_ms']:.3f} ms. "
      f"Check: without seen-item exclusion ecml's top 10 and faiss's share {lt['agree'] * 10:.1f} of 10 items on average over 20 users.")
    a(f"- `SELECT count(*) FROM ecml.mf_recommend_all(model, 10)`: {lt['all_users']:,} users in {lt['all_s']:.1f} s, **{lt['all_ups']:,.0f} users/s** (sgemm blocks of 256 users × 2048 items, a heap per user, seen items left out). "
      "Most of this time is BLIS's sgemm, running its generic kernels here (see `ecml.blas_info()` above: BLIS 0.9.0 does not recognise this CPU model and does not use its AVX2/AVX-512 kernels).")
    a("")
    a(END)
    text = "\n".join(L) + "\n"
    old = open(path).read() if os.path.exists(path) else ""
    if BEGIN in old and END in old:
        pre = old[:old.index(BEGIN)]
        post = old[old.index(END) + len(END):].lstrip("\n")
        new = pre + text + ("\n" + post if post else "")
    else:
        new = old + ("\n" if old and not old.endswith("\n\n") else "") + text
    with open(path, "w") as f:
        f.write(new)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--keep", action="store_true", help="leave the cluster running")
    ap.add_argument("--skip-movielens", action="store_true")
    args = ap.parse_args()
    benchlib.require_root()
    t_start = time.time()
    res = {"date": datetime.datetime.utcnow().strftime("%a %b %d %H:%M:%S UTC %Y"),
           "command": "/usr/bin/python3 test/bench/bench_mf.py" + "".join(f" {a}" for a in sys.argv[1:]),
           "load_start": " ".join(benchlib.loadavg())}
    CLUSTER.create()
    db = Psql()
    try:
        res["machine"] = machine_info(db)
        if not args.skip_movielens:
            part_movielens(db, res)
        part_speed(db, res, args.rows)
        part_latency(db, res)
    finally:
        db.close()
        if not args.keep:
            CLUSTER.remove()
    res["load_end"] = " ".join(benchlib.loadavg())
    res["total_s"] = time.time() - t_start
    write_report(res, args.output)
    log(f"wrote {args.output}")


if __name__ == "__main__":
    main()
