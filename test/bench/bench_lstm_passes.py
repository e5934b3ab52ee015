#!/usr/bin/python3
"""ecml.train('lstm') (model averaging, lstm_passes.c) against
ecml.lstm_train on the same prefixes (issue 14): the quality cost of
training in passes whose partitions average their weights.

Run as root (`make -C test/bench -f lstm.mk bench-lstm-passes` does, under nice):

    /usr/bin/python3 test/bench/bench_lstm_passes.py [--only ml|tb] [--options JSON] [--no-write]

Data and split as bench_sessions.py (bench_lstm.py): the last event of each
sequence is held out and ranked from its prefix; both trainers learn from the
prefixes only, with the same options.  Three models:
  ecml.lstm_train (one statement, buffers the rows);
  ecml.train('lstm') with a serial plan (one partition: plain mini-batch
  Adam in scan order);
  ecml.train('lstm') with 2 parallel workers forced and the leader not
  scanning, so every epoch averages two partitions' weights.
HR@10/MRR@10 and HR@20/MRR@20 of each; training seconds.  A private cluster
in /var/tmp/ecml-bench-lstm-passes (port 55146); the section of RESULTS.md
between <!-- bench:lstm-passes-ONLY begin/end -->.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import Cluster, log  # noqa: E402

benchlib.one_thread()

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import bench_lstm as bl  # noqa: E402
import bench_sessions as bs  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
bs.CLUSTER = Cluster("/var/tmp/ecml-bench-lstm-passes", 55146, db=bs.DB,
                     conf=["shared_buffers = 256MB", "max_worker_processes = 8",
                           "max_parallel_workers = 4"])
KMAX = bs.KMAX

SERIAL = "SET max_parallel_workers_per_gather = 0;"
PARALLEL = ("SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; "
            "SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; "
            "SET parallel_leader_participation = off;")


def rank(table, model):
    rows = bs.psql(f"SELECT id, ARRAY(SELECT token FROM ecml.lstm_top(ecml.model('{model}'), "
                   f"prefix, {KMAX})) FROM {table} ORDER BY id")
    got = {}
    for line in rows:
        i, arr = line.split("\t")
        body = arr[1:-1]
        got[int(i)] = [] if body == "" else [int(t) for t in body.split(",")]
    return got


def train(table, how, optj):
    model = f"{table}_{how}"
    if how == "aggregate":
        sql = f"{SERIAL} SELECT ecml.save_model('{model}', ecml.lstm_train(prefix, '{optj}')) FROM {table}"
    else:
        sql = (f"{SERIAL if how == 'serial' else PARALLEL} SELECT ecml.save_model('{model}', "
               f"ecml.train('lstm', 'SELECT prefix FROM {table}', '{optj}'))")
    t0 = time.perf_counter()
    bs.psql(sql)
    secs = time.perf_counter() - t0
    info = json.loads(bs.psql(f"SELECT ecml.model_info(ecml.model('{model}'))")[0])
    return model, secs, info


def evaluate(name, data, table, opts, hows):
    targets = [t for _i, _p, t in data]
    optj = json.dumps(opts)
    rows = []
    for how in hows:
        model, secs, info = train(table, how, optj)
        got = rank(table, model)
        m = bs.metrics([got[i] for i, _p, _t in data], targets)
        met = info.get("metrics", {})
        hist = met.get("history", [])
        parts = sorted({h.get("partitions") for h in hist if "partitions" in h})
        note = f"{met.get('epochs_run')} epochs, best {met.get('best_epoch')}"
        if parts:
            note += f"; partitions per epoch {parts}; {met.get('passes')} passes"
        log(f"{name} {how}: {m} ({secs:.1f} s) {note}")
        rows.append((how, m, secs, note))
    return rows


LABELS = {"aggregate": "ecml.lstm_train (one statement)",
          "serial": "ecml.train('lstm'), serial plan (1 partition)",
          "parallel": "ecml.train('lstm'), 2 parallel workers (weights averaged)"}


def section(name, rows, opts, started, finished, command, machine):
    L = [f"## LSTM in passes: ecml.train('lstm') (model averaging) against ecml.lstm_train (issue 14)\n",
         f"- date: {started:%Y-%m-%d %H:%M} UTC (run took {(finished - started).total_seconds() / 60:.1f} min)",
         f"- command: `{command}`",
         f"- machine: {machine}",
         f"- options (all three): `{json.dumps(opts)}`; split as bench_sessions.py (last event held out, "
         "ranked from its prefix; the models learn from the prefixes only); seconds are training time on a "
         "shared, loaded 2-core machine (the parallel run's two workers share it)\n",
         f"### {name}\n",
         "| model | HR@10 | MRR@10 | HR@20 | MRR@20 | seconds | notes |",
         "|---|---|---|---|---|---|---|"]
    base = rows[0][1]
    for how, m, secs, note in rows:
        L.append(f"| {LABELS[how]} | {m['hr10']:.3f} | {m['mrr10']:.3f} | {m['hr20']:.3f} | "
                 f"{m['mrr20']:.3f} | {secs:.1f} | {note} |")
    for how, m, _s, _n in rows[1:]:
        L.append(f"\n- {LABELS[how]}: HR@10 {m['hr10'] - base['hr10']:+.3f}, MRR@10 "
                 f"{m['mrr10'] - base['mrr10']:+.3f} against ecml.lstm_train")
    return "\n".join(L) + "\n"


def write_results(path, sec, tag):
    begin, end = f"<!-- bench:{tag} begin -->", f"<!-- bench:{tag} end -->"
    text = open(path).read()
    block = f"{begin}\n{sec.rstrip()}\n{end}\n"
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end) + 1:]
    else:
        text = text.rstrip("\n") + "\n\n" + block
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="ml", choices=["ml", "tb"])
    ap.add_argument("--options", default='{"epochs": 5}')
    ap.add_argument("--models", default="aggregate,serial,parallel")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"))
    args = ap.parse_args()
    benchlib.require_root()
    command = benchlib.pgroot_prefix() + "nice -n 10 /usr/bin/python3 test/bench/bench_lstm_passes.py " \
        + " ".join(sys.argv[1:])
    opts = json.loads(args.options)
    started = datetime.datetime.now(datetime.timezone.utc)
    bs.CLUSTER.create()
    try:
        if args.only == "ml":
            data = bl.split(bl.movielens())
            name = f"MovieLens 100K next item ({len(data)} users)"
        else:
            data = bl.split(bl.taobao(3)[0])
            name = f"Taobao next item ({len(data)} users with 3+ events)"
        bs.load_table(args.only, data)
        bs.psql(f"ANALYZE {args.only}")
        rows = evaluate(name, data, args.only, opts, args.models.split(","))
        ev = bs.psql("SELECT ecml.version()")[0]
    finally:
        bs.CLUSTER.stop()
    finished = datetime.datetime.now(datetime.timezone.utc)
    machine = (f"{benchlib.cpu_model('unknown')}, nproc {os.cpu_count()}, load average "
               f"{benchlib.loadavg_2f()}; ecml {ev}, commit {benchlib.git_describe()}; "
               f"Python {benchlib.python_version()}")
    sec = section(name, rows, opts, started, finished, command, machine)
    print(sec)
    if not args.no_write:
        write_results(args.output, sec, f"lstm-passes-{args.only}")


if __name__ == "__main__":
    main()
