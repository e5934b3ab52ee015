#!/usr/bin/python3
"""Word-similarity spread across runs: ecml.word2vec_train and gensim 4
Word2Vec on the reviews, with bench_text.py's settings (skip-gram, dim 100,
window 5, negative 5, min_count 5, sample 1e-3, lr 0.025, 5 epochs, no
subwords, one thread), one seed per run, each set's Spearman over the pairs
the vocabulary covers (both vocabularies are the same 5330 words).

Run as root, one side at a time (each run takes about a minute for ecml and
three for gensim on the shared 2-core machine):

    ECML_PGROOT=... nice -n 10 /usr/bin/python3 test/bench/text_seeds.py ecml 1 2 3
    nice -n 10 /usr/bin/python3 test/bench/text_seeds.py gensim 1 2

The ecml side starts bench_text.py's private cluster, loads and tokenizes
the reviews as it does, writes the tokens to /tmp/ecml-text-seeds.tokens
(the gensim side reads them, so it needs an ecml run first), trains once per
seed and removes the cluster.  One JSON line per run.  The results are
recorded by hand in RESULTS.md ("WordSim-353, the gap to gensim").
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_text as bt  # noqa: E402

TOKENS = "/tmp/ecml-text-seeds.tokens"


def scores(sets, has, sim):
    res = {}
    for name, pairs in sets.items():
        both = [(a, b, s) for a, b, s in pairs if has(a) and has(b)]
        res[name] = (len(both), round(bt.spearman([s for *_, s in both], [sim(a, b) for a, b, _ in both]), 3))
    return res


def run_ecml(seeds):
    bt.CLUSTER.create()
    try:
        docs = bt.load_reviews()
        with open(TOKENS, "w") as f:
            for d in docs:
                f.write(" ".join(d[4]) + "\n")
        sets = bt.sim_sets()
        words = sorted({w for p in sets.values() for a, b, _ in p for w in (a, b)})
        for seed in seeds:
            opts = {"method": "skipgram", "dim": 100, "window": 5, "negative": 5, "min_count": 5,
                    "sample": 1e-3, "learning_rate": 0.025, "epochs": 5, "maxn": 0, "seed": int(seed)}
            bt.psql("DROP TABLE IF EXISTS wv")
            t, _ = bt.timed(f"CREATE TABLE wv AS SELECT ecml.word2vec_train(tokens, '{json.dumps(opts)}') AS m FROM docs")
            ev = bt.ecml_vectors("SELECT m FROM wv", words)
            res = scores(sets, lambda w: w in ev, lambda a, b: bt.cos(ev[a], ev[b]))
            print(json.dumps({"ecml_seed": seed, "s": round(t, 1), "res": res}), flush=True)
    finally:
        bt.CLUSTER.remove()


def run_gensim(seeds):
    from gensim.models import Word2Vec
    sents = [line.split() for line in open(TOKENS)]
    sets = bt.sim_sets()
    for seed in seeds:
        t0 = time.perf_counter()
        g = Word2Vec(sentences=sents, vector_size=100, window=5, negative=5, min_count=5, sample=1e-3,
                     alpha=0.025, min_alpha=0.0001, epochs=5, sg=1, hs=0, workers=1, seed=int(seed))
        res = scores(sets, lambda w: w in g.wv, lambda a, b: float(g.wv.similarity(a, b)))
        print(json.dumps({"gensim_seed": seed, "s": round(time.perf_counter() - t0, 1), "res": res}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("ecml", "gensim"):
        sys.exit("usage: text_seeds.py ecml|gensim SEED...")
    (run_ecml if sys.argv[1] == "ecml" else run_gensim)(sys.argv[2:])
