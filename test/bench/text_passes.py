#!/usr/bin/python3
"""ecml.train('word2vec') against ecml.word2vec_train on the reviews, with
the same settings (bench_text.py's: skip-gram, dim 100, window 5, negative
5, min_count 5, sample 1e-3, lr 0.025, no subwords; EPOCHS epochs, seed 1):
each set's Spearman over the pairs the vocabulary covers, and the training
time.  ecml.train runs serially, then with two parallel workers (model
averaging).  One short run (a few minutes on the shared 2-core machine):

    ECML_PGROOT=... nice -n 10 /usr/bin/python3 test/bench/text_passes.py [epochs [run ...]]

(run: "word2vec_train", "serial" or "workers"; all three by default.)

Starts bench_text.py's private cluster, loads and tokenizes the reviews as
it does, and removes the cluster.  One JSON line per model; recorded by
hand in RESULTS.md ("ecml.train('word2vec')").
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_text as bt  # noqa: E402


def scores(sets, vecs):
    res = {}
    for name, pairs in sets.items():
        both = [(a, b, s) for a, b, s in pairs if a in vecs and b in vecs]
        res[name] = (len(both), round(bt.spearman([s for *_, s in both],
                                                  [bt.cos(vecs[a], vecs[b]) for a, b, _ in both]), 3))
    return res


def main():
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    opts = json.dumps({"method": "skipgram", "dim": 100, "window": 5, "negative": 5, "min_count": 5,
                       "sample": 1e-3, "learning_rate": 0.025, "epochs": epochs, "maxn": 0, "seed": 1})
    runs = [("word2vec_train", "", f"SELECT ecml.word2vec_train(tokens, '{opts}') AS m FROM docs"),
            ("train serial", "SET max_parallel_workers_per_gather = 0;",
             f"SELECT ecml.train('word2vec', 'SELECT tokens FROM docs', '{opts}') AS m"),
            ("train 2 workers", "SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; "
             "SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;",
             f"SELECT ecml.train('word2vec', 'SELECT tokens FROM docs', '{opts}') AS m")]
    if len(sys.argv) > 2:
        runs = [r for r in runs if any(a in r[0] for a in sys.argv[2:])]
    bt.CLUSTER.create()
    try:
        bt.load_reviews()
        sets = bt.sim_sets()
        words = sorted({w for p in sets.values() for a, b, _ in p for w in (a, b)})
        for name, settings, query in runs:
            bt.psql("DROP TABLE IF EXISTS wv")
            t, _ = bt.timed(f"{settings} CREATE TABLE wv AS {query}")
            info = bt.psql("SELECT (ecml.model_info(m)->>'words'), ecml.model_info(m)->'metrics'->'partitions' FROM wv")[0]
            vecs = bt.ecml_vectors("SELECT m FROM wv", words)
            print(json.dumps({"run": name, "epochs": epochs, "s": round(t, 1), "words": int(info[0]),
                              "partitions": json.loads(info[1]) if info[1] else None,
                              "res": scores(sets, vecs)}), flush=True)
    finally:
        bt.CLUSTER.remove()


if __name__ == "__main__":
    main()
