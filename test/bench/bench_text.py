#!/usr/bin/python3
"""ecml text benchmark: word vectors against gensim, pretrained vectors
against numpy, the text classifier against the fastText command line (one
thread each).

Run as root (`make -C test/bench bench-text` does, under nice):

    /usr/bin/python3 test/bench/bench_text.py [--epochs N] [--output PATH] [--keep]

It starts a private PostgreSQL 15 cluster in /var/tmp/ecml-bench-text (port
54461) from $ECML_PGROOT (default: the system tree), loads
../shared/data/reviews with COPY and tokenizes every review's title and text
with ecml.tokenize(..., 'simple') (lower-cased words, no stemming, so the
word-similarity sets match).  gensim and fastText get exactly these tokens.

 1. word vectors: ecml.word2vec_train against gensim 4 Word2Vec, skip-gram,
    dim 100, window 5, negative 5, min_count 5, sample 1e-3, learning rate
    0.025, the same epochs, no subwords (maxn 0), one worker: training
    words per second (raw tokens x epochs / wall time of the call; ecml's
    includes buffering the rows), Spearman correlation on WordSim-353,
    SimLex-999 and MEN over the pairs both vocabularies cover, and the
    nearest neighbours of a few shop words;
 2. pretrained vectors: the two GloVe 6B 50d slices loaded with
    ecml.word_vectors_load; similar_words top-10 of 50 words against a numpy
    cosine ranking of the same vectors, and the similarity sets' Spearman
    from ecml's word_vector against numpy;
 3. the classifier: ecml.text_classifier_train against `fasttext
    supervised` (its defaults: dim 100, lr 0.1, epoch 5, wordNgrams 1,
    minCount 1, bucket 2000000, -thread 1) on "recommends" (2 labels), stars
    (5) and class (20 named classes), test = review index % 5 = 0: test
    accuracy, training time, and scoring rows per second (ecml.text_label
    over the test table; `fasttext predict` over the test file).

`--part init` runs only a fourth measurement, in a minute or two:

 4. the classifier started from word vectors: ecml.word2vec_train on the
    training reviews (skip-gram, dim 100, min_count 5, no subwords, the
    --epochs given), then every task's classifier with and without those
    vectors (`ecml.text_classifier_train(tokens, label, options, vectors)`)
    at 1 and 5 epochs: test accuracy and training time.

The results go to RESULTS.md beside this file, between the markers
<!-- bench:text begin --> and <!-- bench:text end --> (<!-- bench:text-init
begin --> and its end for --part init).  The data sets are
read from ../shared/data (never copied into the repository).
"""
import os

import benchlib
from benchlib import Cluster, die, log

benchlib.one_thread()

import argparse  # noqa: E402
import csv  # noqa: E402
import datetime  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import results_md  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DIR = "/var/tmp/ecml-bench-text"
PORT = 54461
DB = "bench"
DATA = os.environ.get("ECML_DATA") or next(
    (d for d in (os.path.normpath(os.path.join(REPO, "..", "shared", "data")),
                 os.path.normpath(os.path.join(REPO, "..", "..", "shared", "data")))
     if os.path.isdir(d)), os.path.normpath(os.path.join(REPO, "..", "shared", "data")))
REVIEWS = os.path.join(DATA, "reviews", "womens_clothing_ecommerce_reviews.csv")
SIM = os.path.join(DATA, "word-similarity")
GLOVE = [os.path.join(DATA, "glove-6b-50d-slices", d, "glove.6B.50d.txt")
         for d in ("PymatFlow_project2", "javid202226_query-reformstion-system")]
SHOP_WORDS = ["dress", "jeans", "soft", "small", "blue", "comfortable"]

CLUSTER = Cluster(DIR, PORT, db=DB, conf=["shared_buffers = 256MB", "work_mem = 256MB",
                                          "max_parallel_workers_per_gather = 0",
                                          "fsync = off", "synchronous_commit = off"])


def psql(sql, stdin=None):
    r = subprocess.run(CLUSTER.psql_argv() + ["-F", "\t", "-c", sql], input=stdin, text=True,
                       capture_output=True, env=CLUSTER.client_env())
    if r.returncode:
        die(f"psql failed: {sql[:300]}\n{r.stderr}")
    return [line.split("\t") for line in r.stdout.splitlines() if line]


def timed(sql):
    t = time.perf_counter()
    rows = psql(sql)
    return time.perf_counter() - t, rows


def load_reviews():
    psql("CREATE TABLE raw (idx int, clothing_id int, age int, title text, body text, rating int, "
         "recommended int, feedback int, division text, department text, class text)")
    with open(REVIEWS, newline="") as f:
        data = f.read()
    psql("COPY raw FROM STDIN WITH (FORMAT csv, HEADER true)", stdin=data)
    psql("CREATE TABLE docs AS SELECT idx, rating, recommended, class, "
         "ecml.tokenize(coalesce(title, '') || ' ' || coalesce(body, ''), 'simple') AS tokens "
         "FROM raw WHERE coalesce(body, '') <> ''")
    psql("ANALYZE docs")
    rows = psql("COPY (SELECT idx, rating, recommended, coalesce(class, ''), array_to_string(tokens, ' ') "
                "FROM docs ORDER BY idx) TO STDOUT")
    return [(int(i), r, rec, c, t.split(" ") if t else []) for i, r, rec, c, t in rows]


def sim_sets():
    sets = {}

    def read(name, path, sep, skip_header=False):
        pairs = []
        with open(path) as f:
            for n, line in enumerate(f):
                if line.startswith("#") or (skip_header and n == 0) or not line.strip():
                    continue
                p = line.rstrip("\n").split(sep)
                try:
                    pairs.append((p[0].lower(), p[1].lower(), float(p[2])))
                except (ValueError, IndexError):
                    continue
        sets[name] = pairs
    read("WordSim-353", os.path.join(SIM, "wordsim353.tsv"), "\t")
    read("SimLex-999", os.path.join(SIM, "simlex999.txt"), "\t")
    read("MEN", os.path.join(SIM, "EN-MEN-TR-3k.txt"), "\t")
    return sets


def spearman(a, b):
    from scipy.stats import spearmanr
    return float(spearmanr(a, b).correlation)


def ecml_vectors(model_sql, words):
    """word -> numpy vector from ecml.word_vector for the words the model knows"""
    import numpy as np
    psql("DROP TABLE IF EXISTS q; CREATE TABLE q(w text)")
    psql("COPY q FROM STDIN", stdin="".join(w.replace("\\", "\\\\") + "\n" for w in words))
    rows = psql(f"SELECT w, ecml.word_vector(m, w)::text FROM ({model_sql}) s(m), q "
                "WHERE ecml.word_vector(m, w) IS NOT NULL")
    return {w: np.array([float(x) for x in v.strip("{}").split(",")], dtype=np.float32) for w, v in rows}


def cos(a, b):
    import numpy as np
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


def word_vectors(docs, epochs, res):
    from gensim.models import Word2Vec
    import numpy as np
    sents = [t for _, _, _, _, t in docs]
    ntok = sum(len(s) for s in sents)
    res["tokens"] = ntok
    res["docs"] = len(sents)
    opts = ('{"method": "skipgram", "dim": 100, "window": 5, "negative": 5, "min_count": 5, '
            f'"sample": 1e-3, "learning_rate": 0.025, "epochs": {epochs}, "maxn": 0, "seed": 1}}')
    psql("DROP TABLE IF EXISTS wv")
    log("ecml word2vec_train")
    t, _ = timed(f"CREATE TABLE wv AS SELECT ecml.word2vec_train(tokens, '{opts}') AS m FROM docs")
    res["ecml_w2v_s"] = t
    res["ecml_vocab"] = int(psql("SELECT ecml.model_info(m)->>'words' FROM wv")[0][0])
    log("gensim Word2Vec")
    t0 = time.perf_counter()
    g = Word2Vec(sentences=sents, vector_size=100, window=5, negative=5, min_count=5, sample=1e-3,
                 alpha=0.025, min_alpha=0.0001, epochs=epochs, sg=1, hs=0, workers=1, seed=1)
    res["gensim_w2v_s"] = time.perf_counter() - t0
    res["gensim_vocab"] = len(g.wv)
    sets = sim_sets()
    words = sorted({w for pairs in sets.values() for a, b, _ in pairs for w in (a, b)} | set(SHOP_WORDS))
    ev = ecml_vectors("SELECT m FROM wv", words)
    res["sim"] = {}
    for name, pairs in sets.items():
        both = [(a, b, s) for a, b, s in pairs if a in ev and b in ev and a in g.wv and b in g.wv]
        if len(both) < 10:
            res["sim"][name] = (len(both), float("nan"), float("nan"))
            continue
        human = [s for _, _, s in both]
        e = spearman(human, [cos(ev[a], ev[b]) for a, b, _ in both])
        gs = spearman(human, [float(g.wv.similarity(a, b)) for a, b, _ in both])
        res["sim"][name] = (len(both), e, gs)
    res["neighbours"] = {}
    for w in SHOP_WORDS:
        en = [r[0] for r in psql(f"SELECT s.word FROM wv, ecml.similar_words(m, '{w}', 5) s")]
        gn = [x for x, _ in g.wv.most_similar(w, topn=5)] if w in g.wv else []
        res["neighbours"][w] = (en, gn)


def glove(res):
    import numpy as np
    words, vecs = [], []
    for path in GLOVE:
        with open(path, "rb") as f:
            for raw in f:
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    continue  # a few cut lines are not UTF-8: skipped on both sides
                p = line.rstrip("\n").split(" ")
                if len(p) != 51:
                    continue
                words.append(p[0])
                vecs.append([float(x) for x in p[1:]])
    X = np.array(vecs, dtype=np.float32)
    psql("DROP TABLE IF EXISTS glove; CREATE TABLE glove(word text, vector real[])")
    data = "".join(w.replace("\\", "\\\\") + "\t{" + ",".join(repr(float(x)) for x in v) + "}\n"
                   for w, v in zip(words, X))
    psql("COPY glove FROM STDIN", stdin=data)
    t, _ = timed("CREATE TABLE gm AS SELECT ecml.word_vectors_load(word, vector) AS m FROM glove")
    res["glove_words"] = len(words)
    res["glove_load_s"] = t
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    index = {w: i for i, w in enumerate(words)}
    probe = [w for w in words[100:2500:48]][:50]
    same = 0
    maxdiff = 0.0
    for w in probe:
        rows = psql(f"SELECT s.word, s.similarity FROM gm, ecml.similar_words(m, $${w}$$, 10) s")
        i = index[w]
        sims = U @ U[i]
        sims[i] = -np.inf
        top = np.argsort(-sims, kind="stable")[:10]
        if [r[0] for r in rows] == [words[j] for j in top]:
            same += 1
        maxdiff = max(maxdiff, max(abs(float(r[1]) - float(sims[index[r[0]]])) for r in rows))
    res["glove_same"] = (same, len(probe))
    res["glove_maxdiff"] = maxdiff
    sets = sim_sets()
    ev = ecml_vectors("SELECT m FROM gm", sorted({w for p in sets.values() for a, b, _ in p for w in (a, b)}))
    res["glove_sim"] = {}
    for name, pairs in sets.items():
        both = [(a, b, s) for a, b, s in pairs if a in index and b in index]
        human = [s for _, _, s in both]
        e = spearman(human, [cos(ev[a], ev[b]) for a, b, _ in both])
        n = spearman(human, [cos(X[index[a]], X[index[b]]) for a, b, _ in both])
        res["glove_sim"][name] = (len(both), e, n)


def classifier(docs, res, tmp):
    tasks = {"recommends": lambda d: "rec" + d[2], "stars": lambda d: "s" + d[1],
             "class": lambda d: d[3].replace(" ", "_")}
    res["clf"] = {}
    for name, label in tasks.items():
        rows = [d for d in docs if d[4] and (name != "class" or d[3])]
        train = [d for d in rows if d[0] % 5 != 0]
        test = [d for d in rows if d[0] % 5 == 0]
        col = {"recommends": "'rec' || recommended", "stars": "'s' || rating",
               "class": "replace(class, ' ', '_')"}[name]
        where = "AND coalesce(class, '') <> ''" if name == "class" else ""
        psql(f"DROP TABLE IF EXISTS tr, te; "
             f"CREATE TABLE tr AS SELECT tokens, {col} AS label FROM docs WHERE idx % 5 <> 0 {where}; "
             f"CREATE TABLE te AS SELECT tokens, {col} AS label FROM docs WHERE idx % 5 = 0 {where}; "
             "ANALYZE tr; ANALYZE te")
        log(f"classifier {name}: ecml")
        t_e, _ = timed("DROP TABLE IF EXISTS cm; CREATE TABLE cm AS SELECT ecml.text_classifier_train(tokens, label) AS m FROM tr")
        ts, rows_acc = timed("SELECT avg((ecml.text_label(m, tokens) = label)::int) FROM cm, te")
        acc_e = float(rows_acc[0][0])
        ntest = int(psql("SELECT count(*) FROM te")[0][0])
        # fastText
        trf, tef, mdl = (os.path.join(tmp, f"{name}.{x}") for x in ("train", "test", "model"))
        with open(trf, "w") as f:
            for d in train:
                f.write(f"__label__{label(d)} {' '.join(d[4])}\n")
        with open(tef, "w") as f:
            for d in test:
                f.write(f"__label__{label(d)} {' '.join(d[4])}\n")
        log(f"classifier {name}: fastText")
        t0 = time.perf_counter()
        subprocess.run(["fasttext", "supervised", "-input", trf, "-output", mdl, "-thread", "1",
                        "-verbose", "0"], check=True, env=benchlib.peer_env())
        t_f = time.perf_counter() - t0
        out = subprocess.run(["fasttext", "test", mdl + ".bin", tef], check=True, text=True,
                             capture_output=True).stdout
        acc_f = float([line for line in out.splitlines() if line.startswith("P@1")][0].split()[1])
        t0 = time.perf_counter()
        subprocess.run(["fasttext", "predict", mdl + ".bin", tef], check=True, stdout=subprocess.DEVNULL)
        ts_f = time.perf_counter() - t0
        res["clf"][name] = dict(train=len(train), test=ntest, acc_e=acc_e, acc_f=acc_f, t_e=t_e, t_f=t_f,
                                rps_e=ntest / ts, rps_f=len(test) / ts_f)


TASKS = {"recommends": "'rec' || recommended", "stars": "'s' || rating",
         "class": "replace(class, ' ', '_')"}


def classifier_init(epochs, res):
    """the classifier from a random start and from word2vec vectors of the training reviews"""
    opts = ('{"method": "skipgram", "dim": 100, "window": 5, "negative": 5, "min_count": 5, '
            f'"sample": 1e-3, "learning_rate": 0.025, "epochs": {epochs}, "maxn": 0, "seed": 1}}')
    log("word vectors of the training reviews")
    t, _ = timed(f"DROP TABLE IF EXISTS wvt; CREATE TABLE wvt AS SELECT ecml.word2vec_train(tokens, '{opts}') AS m "
                 "FROM docs WHERE idx % 5 <> 0")
    res["init_w2v_s"] = t
    res["init_vocab"] = int(psql("SELECT ecml.model_info(m)->>'words' FROM wvt")[0][0])
    res["init"] = {}
    for name, col in TASKS.items():
        where = "AND coalesce(class, '') <> ''" if name == "class" else ""
        psql(f"DROP TABLE IF EXISTS tr, te; "
             f"CREATE TABLE tr AS SELECT tokens, {col} AS label FROM docs WHERE idx % 5 <> 0 {where}; "
             f"CREATE TABLE te AS SELECT tokens, {col} AS label FROM docs WHERE idx % 5 = 0 {where}; "
             "ANALYZE tr; ANALYZE te")
        rows = {}
        for ep in (1, 5):
            for start in ("random", "word2vec"):
                log(f"classifier {name}, {ep} epochs, {start} start")
                extra = ", (SELECT m FROM wvt)" if start == "word2vec" else ""
                t, _ = timed(f"DROP TABLE IF EXISTS cm; CREATE TABLE cm AS SELECT "
                             f"ecml.text_classifier_train(tokens, label, '{{\"epochs\": {ep}}}'{extra}) AS m FROM tr")
                acc = float(psql("SELECT avg((ecml.text_label(m, tokens) = label)::int) FROM cm, te")[0][0])
                known = psql("SELECT ecml.model_info(m)->>'words', ecml.model_info(m)->>'words_from_word_vectors' FROM cm")[0]
                rows[(ep, start)] = (acc, t, known)
        res["init"][name] = rows


def init_section(res, command, started, mach, epochs):
    L = [f"## Text: the classifier started from word vectors ({started:%Y-%m-%d})", "",
         f"Command: `{benchlib.pgroot_prefix()}{command}` ({started:%Y-%m-%d %H:%M} UTC).  ",
         f"Machine: {mach}.", "",
         f"Word vectors: `ecml.word2vec_train` on the training reviews only (index % 5 <> 0; skip-gram, dim 100, "
         f"window 5, min_count 5, {epochs} epochs, no subwords): {res['init_vocab']} words in "
         f"{res['init_w2v_s']:.1f} s. Classifier: `ecml.text_classifier_train` at fastText's defaults "
         "(dim 100, lr 0.1, word unigrams) with the epochs shown, from its random start and from those "
         "vectors (the four-argument form); the same split as above, test = review index % 5 = 0.", "",
         "| task | epochs | accuracy, random start | accuracy, from word2vec | difference | "
         "words from the vectors | training s (random / word2vec) |",
         "|---|---|---|---|---|---|---|"]
    for name, rows in res["init"].items():
        for ep in (1, 5):
            a, ta, _ = rows[(ep, "random")]
            b, tb, known = rows[(ep, "word2vec")]
            L.append(f"| {name} | {ep} | {f3(a)} | {f3(b)} | {b - a:+.3f} | {known[1]} of {known[0]} | "
                     f"{ta:.2f} / {tb:.2f} |")
    return "\n".join(L) + "\n"


def machine():
    import gensim
    import numpy
    cpu = benchlib.cpu_model("unknown")
    pgv = psql("SELECT version()")[0][0]
    ft = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "fasttext"], text=True,
                        capture_output=True).stdout
    return (f"{cpu}, nproc {os.cpu_count()}, load average {benchlib.loadavg_2f()}; "
            f"{pgv.split(' on ')[0]}; gensim {gensim.__version__}, fastText {ft}, numpy {numpy.__version__}, "
            f"Python {benchlib.python_version()}")


def f3(x):
    return f"{x:.3f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--part", choices=("all", "init"), default="all")
    args = ap.parse_args()
    benchlib.require_root()
    if not os.path.exists(REVIEWS):
        die(f"{REVIEWS} is missing: the benchmark needs ../shared/data")
    for pkg, mod in (("python3-gensim", "gensim"), ("fasttext", None)):
        if mod:
            try:
                __import__(mod)
            except ImportError:
                die(f"install {pkg} (apt-get install {pkg})")
    command = "nice -n 10 /usr/bin/python3 test/bench/bench_text.py " + " ".join(sys.argv[1:])
    started = datetime.datetime.now(datetime.timezone.utc)
    CLUSTER.create()
    res = {}
    try:
        docs = load_reviews()
        mach = machine()
        if args.part == "init":
            classifier_init(args.epochs, res)
            section = init_section(res, command, started, mach, args.epochs)
            results_md.write_section(args.output, "text-init", section)
            print(section)
            return
        word_vectors(docs, args.epochs, res)
        glove(res)
        with tempfile.TemporaryDirectory() as tmp:
            classifier(docs, res, tmp)
    finally:
        if not args.keep:
            CLUSTER.remove()
    E = args.epochs
    wps_e = res["tokens"] * E / res["ecml_w2v_s"]
    wps_g = res["tokens"] * E / res["gensim_w2v_s"]
    L = [f"## Text: word vectors and the review classifier ({started:%Y-%m-%d})", "",
         f"Command: `{benchlib.pgroot_prefix()}{command}` ({started:%Y-%m-%d %H:%M} UTC).  ",
         f"Machine: {mach}.", "",
         f"Data: ../shared/data/reviews, {res['docs']} reviews with text, title and text tokenized by "
         f"`ecml.tokenize(..., 'simple')`: {res['tokens']} tokens; gensim and fastText read the same tokens.",
         "", "### Word vectors: ecml.word2vec_train against gensim Word2Vec (one thread)", "",
         f"Skip-gram, dim 100, window 5, negative 5, min_count 5, sample 1e-3, lr 0.025, {E} epochs, no subwords.",
         "", "| | ecml | gensim | goal |", "|---|---|---|---|",
         f"| training time (s) | {res['ecml_w2v_s']:.2f} | {res['gensim_w2v_s']:.2f} | |",
         f"| words/s (tokens × epochs / time) | {wps_e:,.0f} | {wps_g:,.0f} | ≥ gensim's: "
         f"{'met' if wps_e >= wps_g else '**not met** (' + f'{wps_e / wps_g:.2f}×' + ')'} |",
         f"| vocabulary | {res['ecml_vocab']} | {res['gensim_vocab']} | |"]
    for name, (n, e, g) in res["sim"].items():
        ok = abs(e - g) <= 0.02 or e > g
        L.append(f"| {name} Spearman ({n} pairs both cover) | {f3(e)} | {f3(g)} | within 0.02 of gensim's: "
                 f"{'met' if ok else '**not met** (gap ' + f3(g - e) + ')'} |")
    L += ["", "Nearest neighbours (ecml / gensim):", ""]
    for w, (en, gn) in res["neighbours"].items():
        L.append(f"- `{w}`: {', '.join(en)} / {', '.join(gn)}")
    s, n = res["glove_same"]
    L += ["", "### Pretrained vectors: GloVe 6B 50d slices through ecml.word_vectors_load", "",
          f"{res['glove_words']} vectors loaded in {res['glove_load_s']:.2f} s. `similar_words` top-10 of {n} "
          f"words identical to a numpy cosine ranking for {s}/{n} (largest similarity difference "
          f"{res['glove_maxdiff']:.2e}).", "",
          "| set | pairs | ecml Spearman | numpy Spearman |", "|---|---|---|---|"]
    for name, (n2, e, g) in res["glove_sim"].items():
        L.append(f"| {name} | {n2} | {f3(e)} | {f3(g)} |")
    L += ["", "### Classifier: ecml.text_classifier_train against fastText 0.9 `supervised` (one thread)", "",
          "Both at fastText's defaults (dim 100, lr 0.1, 5 epochs, word unigrams, min count 1); "
          "test = review index % 5 = 0.", "",
          "| task | train / test | accuracy ecml | accuracy fastText | goal ≥ fastText − 0.005 | "
          "training s ecml | training s fastText | goal ≤ fastText | scoring rows/s ecml (SQL) | fastText predict |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for name, c in res["clf"].items():
        ok_a = c["acc_e"] >= c["acc_f"] - 0.005
        ok_t = c["t_e"] <= c["t_f"]
        L.append(f"| {name} | {c['train']} / {c['test']} | {f3(c['acc_e'])} | {f3(c['acc_f'])} | "
                 f"{'met' if ok_a else '**not met** (gap ' + f3(c['acc_f'] - c['acc_e']) + ')'} | "
                 f"{c['t_e']:.2f} | {c['t_f']:.2f} | {'met' if ok_t else '**not met**'} | "
                 f"{c['rps_e']:,.0f} | {c['rps_f']:,.0f} |")
    L += ["", "ecml's training time is the aggregate over the table (buffering the rows included); "
          "fastText's is the process's wall time (reading the file included). fastText's predict "
          "rows/s include starting the process and loading the model."]
    section = "\n".join(L) + "\n"
    results_md.write_section(args.output, "text", section)
    print(section)


if __name__ == "__main__":
    main()
