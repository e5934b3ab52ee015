"""scikit-learn side of the ecml benchmark; bench.py runs it as a subprocess.

It runs with one BLAS/OpenMP thread and without OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE (bench.py sets that environment), and prints one JSON
object on its last line of stdout.

  sk_worker.py info
      versions, and which BLAS numpy runs on
  sk_worker.py quality CSV [HASH_N]
      the Online Shoppers quality test: feature sets A and B (and B with
      FeatureHasher(HASH_N) tokens when HASH_N is given), C=1
  sk_worker.py speed ROWS FEATURES RUNS C
      the "user without ecml" path, RUNS times: COPY the table t out through
      psql (connection from PG* variables), np.loadtxt, then
      LogisticRegression(C, lbfgs).fit on the in-memory arrays; fit time and
      total time are taken separately
"""
import csv
import json
import math
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import scipy
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction import FeatureHasher
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score
from sklearn.preprocessing import OneHotEncoder, StandardScaler

NUMERIC = ["Administrative", "Administrative_Duration", "Informational",
           "Informational_Duration", "ProductRelated", "ProductRelated_Duration",
           "BounceRates", "ExitRates", "PageValues", "SpecialDay"]
CATEGORICAL = ["Month", "VisitorType", "OperatingSystems", "Browser", "Region",
               "TrafficType"]


def out(obj):
    print(json.dumps(obj))


def blas_info():
    info = {}
    try:
        import threadpoolctl
        info["threadpoolctl"] = threadpoolctl.threadpool_info()
    except ImportError:
        info["threadpoolctl"] = None
    # Debian's numpy links libblas.so.3, which update-alternatives points at
    # OpenBLAS, BLIS or the reference BLAS; threadpoolctl may not name it.
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                name = os.path.basename(p)
                if p.startswith("/") and "-packages/" not in p and (
                        "blas" in name or "blis" in name or "lapack" in name or "mkl" in name):
                    libs.add(os.path.realpath(p))
    except OSError:
        pass
    info["blas_libraries"] = sorted(libs)
    return info


def cmd_info():
    out({"python": sys.version.split()[0], "numpy": np.__version__,
         "scipy": scipy.__version__, "sklearn": sklearn.__version__,
         "blas": blas_info(),
         "env": {k: os.environ.get(k) for k in
                 ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                  "BLIS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}})


def fit_logreg(X, y, C):
    """LogisticRegression(C) with its defaults (lbfgs, max_iter 100, tol 1e-4)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        clf = LogisticRegression(C=C, solver="lbfgs").fit(X, y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return clf, converged


def cmd_quality(path, hash_n=None):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    # data row number (0-based, file order) % 5 == 0 is the test set
    test = np.array([i % 5 == 0 for i in range(len(rows))])
    y = np.array([r["Revenue"] == "TRUE" for r in rows])
    fa = np.array([[math.log1p(float(r[c])) for c in NUMERIC] +
                   [float(r["Weekend"] == "TRUE"),
                    float(r["VisitorType"] == "Returning_Visitor")] for r in rows])
    cats = np.array([[r[c] for c in CATEGORICAL] for r in rows], dtype=object)
    enc = OneHotEncoder(handle_unknown="ignore").fit(cats[~test])
    fb = np.hstack([fa, enc.transform(cats).toarray()])
    sets = {"A": fa, "B": fb}
    if hash_n:
        tokens = [[f"{c}={r[c]}" for c in sorted(CATEGORICAL)] for r in rows]
        hashed = FeatureHasher(n_features=hash_n, input_type="string",
                               alternate_sign=True).transform(tokens).toarray()
        sets["B_hashed"] = np.hstack([fa, hashed])
    result = {"n_rows": len(rows), "n_train": int((~test).sum()),
              "n_test": int(test.sum()), "sets": {}}
    for name, X in sets.items():
        scaler = StandardScaler().fit(X[~test])
        Xs = scaler.transform(X)
        clf, converged = fit_logreg(Xs[~test], y[~test], 1.0)
        p = clf.predict_proba(Xs[test])[:, 1]
        result["sets"][name] = {
            "features": X.shape[1],
            "auc": roc_auc_score(y[test], p),
            "log_loss": log_loss(y[test], p),
            "average_precision": average_precision_score(y[test], p),
            "n_iter": int(clf.n_iter_[0]),
            "converged": converged,
        }
    out(result)


def cmd_speed(rows, nfeat, runs, C):
    cols = ", ".join(f"f[{j}]" for j in range(1, nfeat + 1))
    copy = f"COPY (SELECT y::int, {cols} FROM t) TO STDOUT (FORMAT csv)"
    argv = ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-c", copy]
    result = {"copy_command": copy, "runs": []}
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        data = np.loadtxt(proc.stdout, delimiter=",", dtype=np.float64)
        if proc.wait() != 0:
            raise SystemExit("psql COPY failed")
        y = data[:, 0]
        # lbfgs wants C-contiguous float64: make it so before the fit clock
        X = np.ascontiguousarray(data[:, 1:])
        del data
        t1 = time.perf_counter()
        clf, converged = fit_logreg(X, y, C)
        t2 = time.perf_counter()
        if X.shape != (rows, nfeat):
            raise SystemExit(f"expected {rows}x{nfeat}, got {X.shape}")
        p = clf.predict_proba(X)[:, 1]
        ll = log_loss(y, p)
        w = clf.coef_.ravel()
        result["runs"].append({
            "copy_load_s": t1 - t0, "fit_s": t2 - t1, "total_s": t2 - t0,
            "n_iter": int(clf.n_iter_[0]), "converged": converged,
            "train_log_loss": ll,
            "objective": ll + float(w @ w) / (2 * C * rows),
        })
        del X, y
    out(result)


def main():
    cmd = sys.argv[1]
    if cmd == "info":
        cmd_info()
    elif cmd == "quality":
        cmd_quality(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else None)
    elif cmd == "speed":
        cmd_speed(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
