#!/usr/bin/python3
"""ecml.lstm_train as a session recommender against the baselines a shop
would try first (issue 18).

Run as root (`make -C test/bench -f lstm.mk bench-sessions` does, under nice):

    /usr/bin/python3 test/bench/bench_sessions.py [--only ml,tb] [--torch-epochs N]
                                                  [--ecml-options JSON] [--no-write]

Same data and split as bench_lstm.py: MovieLens 100K users' rating sequences
ordered by (timestamp, item) and the Taobao UserBehavior slice (users with 3
or more events, next item); the last event of each sequence is held out and
ranked from its prefix; every model learns from the prefixes only.

Models, all over the same prefixes:
  popularity, first-order Markov (most frequent successor of the last item),
  sequential rules (Ludewig & Jannach 2018: pairs up to 10 steps apart,
  weight 1/gap), session-kNN VSKNN (Ludewig & Jannach 2018: neighbours
  share items with the prefix, similarity = sum of the linearly decaying
  position weights of the shared items, 100 neighbours, no self-match),
  repeat-the-prefix (most recent distinct items), a PyTorch GRU4Rec-style
  model (GRU 100 over item embeddings, dropout 0.25, full softmax, Adam) and
  ecml.lstm_train with its default options.  Lists shorter than 20 are
  filled with popular items.  HR@10/20, MRR@10/20; training seconds.

It starts a private cluster in /var/tmp/ecml-bench-sessions (port 55144)
from $ECML_PGROOT and writes its section of RESULTS.md between
<!-- bench:sessions-ONLY begin --> and <!-- bench:sessions-ONLY end -->
(ONLY: the --only argument), so each data set is its own run of under
about 3 minutes.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import Cluster, die, log  # noqa: E402

benchlib.one_thread()

import argparse  # noqa: E402
import collections  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402

import bench_lstm as bl  # noqa: E402  (data loading and the split)

HERE = os.path.dirname(os.path.abspath(__file__))
DIR = "/var/tmp/ecml-bench-sessions"
PORT = 55144
DB = "bench"
KMAX = 20
CLUSTER = Cluster(DIR, PORT, db=DB, conf=["shared_buffers = 256MB",
                                          "max_parallel_workers_per_gather = 0"])


def psql(sql):
    r = CLUSTER.psql("-A", "-t", "-F", "\t", db=DB, check=False,
                     input="SET ecml.blas_threads = 1;\n" + sql + "\n")
    if r.returncode:
        die(f"psql failed: {sql[:300]}\n{r.stderr[-3000:]}")
    return [ln for ln in r.stdout.splitlines() if ln and ln != "SET"]


def load_table(name, rows):
    tsv = "".join(f"{i}\t{bl.pg_array(p, False)}\t{t}\n" for i, p, t in rows)
    psql(f"DROP TABLE IF EXISTS {name}; CREATE TABLE {name}(id int, prefix bigint[], target bigint);")
    r = CLUSTER.psql("-c", f"COPY {name} FROM STDIN", input=tsv, check=False)
    if r.returncode:
        die(f"COPY {name} failed: {r.stderr}")


# --------------------------------------------------------------------------
# metrics


def metrics(ranked, targets, prefixes=None):
    """HR@k and MRR@k; with prefixes also new20: the share of all rows whose
    target is not in its prefix and is in the top 20 (explore hits)"""
    out = {}
    n = max(len(targets), 1)
    if prefixes is not None:
        out["new20"] = sum(1 for lst, t, p in zip(ranked, targets, prefixes)
                           if t in list(lst)[:20] and t not in p) / n
    for k in (10, 20):
        hits, rr = 0, 0.0
        for lst, t in zip(ranked, targets):
            lst = list(lst)[:k]
            if t in lst:
                hits += 1
                rr += 1.0 / (lst.index(t) + 1)
        out[f"hr{k}"], out[f"mrr{k}"] = hits / n, rr / n
    return out


def popular(data):
    counts = collections.Counter()
    for _i, p, _t in data:
        counts.update(p)
    return counts, [t for t, _c in sorted(counts.items(), key=lambda x: (-x[1], x[0]))[:KMAX]]


def top_of(scores, counts, pop):
    """the KMAX best of a {item: score} dict (ties: popular first), filled with pop"""
    lst = [t for t, _s in sorted(scores.items(), key=lambda x: (-x[1], -counts[x[0]], x[0]))[:KMAX]]
    for t in pop:
        if len(lst) >= KMAX:
            break
        if t not in lst:
            lst.append(t)
    return lst


# --------------------------------------------------------------------------
# baselines (trained on the prefixes)


def run_popularity(data, counts, pop):
    return [list(pop) for _ in data]


def run_markov(data, counts, pop):
    succ = collections.defaultdict(collections.Counter)
    for _i, p, _t in data:
        for a, b in zip(p, p[1:]):
            succ[a][b] += 1
    return [top_of(dict(succ.get(p[-1], {})), counts, pop) for _i, p, _t in data]


def run_sr(data, counts, pop, steps=10):
    """sequential rules: a -> b for b up to `steps` after a, weight 1/gap"""
    rules = collections.defaultdict(lambda: collections.defaultdict(float))
    for _i, p, _t in data:
        for i, a in enumerate(p):
            for j in range(i + 1, min(len(p), i + 1 + steps)):
                rules[a][p[j]] += 1.0 / (j - i)
    return [top_of(dict(rules.get(p[-1], {})), counts, pop) for _i, p, _t in data]


def run_vsknn(data, counts, pop, k=100, sample=1000):
    """VSKNN: neighbours are the (most recent `sample`) sessions sharing an
    item; similarity sums the shared items' position weights (linear decay
    from the last item); items scored by the neighbours' similarities."""
    sess = {i: set(p) for i, p, _t in data}
    by_item = collections.defaultdict(list)
    for i, p, _t in data:
        for it in set(p):
            by_item[it].append(i)
    out = []
    for i, p, _t in data:
        n = len(p)
        w = {}
        for pos, it in enumerate(p):
            w[it] = max(w.get(it, 0.0), (pos + 1) / n)   # linear decay, last item 1
        cands = set()
        for it in w:
            cands.update(by_item[it])
        cands.discard(i)
        if len(cands) > sample:
            cands = sorted(cands, reverse=True)[:sample]
        sims = []
        for c in cands:
            s = sum(w[it] for it in sess[c] if it in w)
            sims.append((s, c))
        sims.sort(key=lambda x: (-x[0], x[1]))
        scores = collections.defaultdict(float)
        for s, c in sims[:k]:
            for it in sess[c]:
                scores[it] += s
        out.append(top_of(dict(scores), counts, pop))
    return out


def run_repeat(data, counts, pop):
    out = []
    for _i, p, _t in data:
        sc = {}
        for pos, t in enumerate(p):
            sc[t] = pos + 1            # most recent occurrence first
        out.append(top_of(sc, counts, pop))
    return out


def run_gru4rec(data, epochs, seed=42, hidden=100, emb=64, dropout=0.25, lr=2e-3, batch=64):
    """GRU4Rec-style: GRU over item embeddings, dropout on the embeddings and
    the hidden state, full-softmax cross-entropy at every position, Adam."""
    import torch
    import torch.nn as nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    rnd = random.Random(seed)
    counts = collections.Counter()
    for _i, p, _t in data:
        counts.update(p)
    vocab = ["<unk>"] + [t for t, _c in sorted(counts.items(), key=lambda x: (-x[1], x[0]))]
    index = {t: n for n, t in enumerate(vocab)}
    V = len(vocab)
    seqs = [torch.tensor([index[t] for t in p[-bl.MAX_LENGTH:]], dtype=torch.long)
            for _i, p, _t in data if len(p) >= 2]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, emb)
            self.drop = nn.Dropout(dropout)
            self.gru = nn.GRU(emb, hidden, batch_first=True)
            self.out = nn.Linear(hidden, V)

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    lossf = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    tokens = 0
    for _e in range(epochs):
        net.train()
        order = list(range(len(seqs)))
        rnd.shuffle(order)
        for b in range(0, len(order), batch):
            bt = [seqs[j] for j in order[b:b + batch]]
            lens = torch.tensor([len(s) - 1 for s in bt])
            x = pad_sequence([s[:-1] for s in bt], batch_first=True)
            y = pad_sequence([s[1:] for s in bt], batch_first=True)
            packed = pack_padded_sequence(net.drop(net.emb(x)), lens, batch_first=True,
                                          enforce_sorted=False)
            h, _ = net.gru(packed)
            ypk = pack_padded_sequence(y, lens, batch_first=True, enforce_sorted=False)
            loss = lossf(net.out(net.drop(h.data)), ypk.data)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            tokens += int(lens.sum())
    secs = time.perf_counter() - t0
    net.eval()
    ranked = []
    with torch.no_grad():
        for _i, p, _t in data:
            ids = torch.tensor([[index.get(t, 0) for t in p[-bl.MAX_LENGTH:]]], dtype=torch.long)
            h, _ = net.gru(net.emb(ids))
            logits = net.out(h[0, -1])
            logits[0] = -float("inf")
            ranked.append([vocab[j] for j in torch.topk(logits, min(KMAX, V - 1)).indices.tolist()])
    return ranked, secs, tokens / secs


def run_ecml(table, data, opts):
    optj = json.dumps(opts)
    t0 = time.perf_counter()
    psql(f"SELECT ecml.save_model('{table}_m', ecml.lstm_train(prefix, '{optj}')) FROM {table}")
    secs = time.perf_counter() - t0
    info = json.loads(psql(f"SELECT ecml.model_info(ecml.model('{table}_m'))")[0])
    rows = psql(f"SELECT id, ARRAY(SELECT token FROM ecml.lstm_top(ecml.model('{table}_m'), "
                f"prefix, {KMAX})) FROM {table} ORDER BY id")
    got = {}
    for line in rows:
        i, arr = line.split("\t")
        body = arr[1:-1]
        got[int(i)] = [] if body == "" else [int(t) for t in body.split(",")]
    return [got[i] for i, _p, _t in data], secs, info


# --------------------------------------------------------------------------


def evaluate(name, data, table, args, res):
    targets = [t for _i, _p, t in data]
    prefixes = [set(p) for _i, p, _t in data]
    counts, pop = popular(data)
    rows = []
    for label, fn in (("popularity", run_popularity), ("Markov (1st order)", run_markov),
                      ("sequential rules", run_sr), ("session-kNN (VSKNN)", run_vsknn),
                      ("repeat the prefix", run_repeat)):
        t0 = time.perf_counter()
        ranked = fn(data, counts, pop)
        secs = time.perf_counter() - t0
        m = metrics(ranked, targets, prefixes)
        log(f"{name} {label}: {m} ({secs:.1f} s)")
        rows.append((label, m, secs, ""))
    if args.torch_epochs > 0:
        ranked, secs, tps = run_gru4rec(data, args.torch_epochs)
        m = metrics(ranked, targets, prefixes)
        log(f"{name} GRU4Rec-style: {m} ({secs:.1f} s)")
        rows.append((f"PyTorch GRU4Rec-style ({args.torch_epochs} epochs)", m, secs,
                     f"{tps:.0f} tokens/s"))
    ranked, secs, info = run_ecml(table, data, json.loads(args.ecml_options))
    m = metrics(ranked, targets, prefixes)
    met = info["metrics"]
    extra = (f"{met['epochs_run']} epochs, best {met['best_epoch']}; "
             + (f"repeat weight {met['repeat_weight']:.3f}, decay {met['repeat_decay']}, "
                f"mode {met.get('repeat_mode', '?')}"
                if "repeat_weight" in met else "no repeat mechanism"))
    log(f"{name} ecml: {m} ({secs:.1f} s; {extra})")
    rows.append((f"ecml.lstm_train `{args.ecml_options}`", m, secs, extra))
    res[name] = rows
    res[name + " repeat share"] = 1 - sum(1 for t, p in zip(targets, prefixes) if t not in p) / len(targets)


def section(res, started, finished, command, machine):
    L = ["## Sessions: ecml.lstm_train against session-recommender baselines (issue 18)\n",
         f"- date: {started:%Y-%m-%d %H:%M} UTC (run took {(finished - started).total_seconds() / 60:.1f} min)",
         f"- command: `{command}`",
         f"- machine: {machine}",
         "- split: as in bench_lstm.py: the last event of each user's sequence is held out and "
         "ranked from its prefix; every model learns from the prefixes only (MovieLens: 943 users; "
         "Taobao: users with 3+ events, next item); lists are filled with popular items up to 20; "
         "times are training (and for the neighbourhood methods scoring) seconds on one thread of a "
         "shared, loaded machine",
         ""]
    for name, rows in res.items():
        if name.endswith(" repeat share"):
            continue
        share = res[name + " repeat share"]
        L.append(f"### {name}\n")
        L.append(f"{share:.1%} of the held-out items occur in their prefix: HR@k of a model is at most "
                 f"{share:.3f} plus its hits on items new to the prefix (column 7).\n")
        L.append("| model | HR@10 | MRR@10 | HR@20 | MRR@20 | HR@20 on items new to the prefix | seconds | notes |")
        L.append("|---|---|---|---|---|---|---|---|")
        for label, m, secs, note in rows:
            L.append(f"| {label} | {m['hr10']:.3f} | {m['mrr10']:.3f} | {m['hr20']:.3f} | "
                     f"{m['mrr20']:.3f} | {m['new20']:.4f} | {secs:.1f} | {note} |")
        ec = rows[-1][1]
        best = max((r for r in rows[:-1]), key=lambda r: r[1]["hr20"])
        bestm = max((r for r in rows[:-1]), key=lambda r: r[1]["mrr20"])
        L.append("")
        L.append(f"- goal (beat every baseline by 5% relative): HR@20 {ec['hr20']:.3f} vs "
                 f"best {best[0]} {best[1]['hr20']:.3f} x 1.05 = {best[1]['hr20'] * 1.05:.3f}: "
                 f"{'met' if ec['hr20'] >= best[1]['hr20'] * 1.05 else 'NOT met'}; MRR@20 "
                 f"{ec['mrr20']:.3f} vs best {bestm[0]} {bestm[1]['mrr20']:.3f} x 1.05 = "
                 f"{bestm[1]['mrr20'] * 1.05:.3f}: "
                 f"{'met' if ec['mrr20'] >= bestm[1]['mrr20'] * 1.05 else 'NOT met'}")
        L.append("")
    return "\n".join(L) + "\n"


def write_results(path, sec, tag):
    begin, end = f"<!-- bench:sessions-{tag} begin -->", f"<!-- bench:sessions-{tag} end -->"
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
    ap.add_argument("--only", default="ml,tb")
    ap.add_argument("--torch-epochs", type=int, default=5)
    ap.add_argument("--ecml-options", default="{}")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"))
    args = ap.parse_args()
    benchlib.require_root()
    command = benchlib.pgroot_prefix() + "nice -n 10 /usr/bin/python3 test/bench/bench_sessions.py " \
        + " ".join(sys.argv[1:])
    started = datetime.datetime.now(datetime.timezone.utc)
    CLUSTER.create()
    res = {}
    try:
        only = args.only.split(",")
        if "ml" in only:
            ml = bl.split(bl.movielens())
            load_table("ml", ml)
            evaluate(f"MovieLens 100K next item ({len(ml)} users)", ml, "ml", args, res)
        if "tb" in only:
            tb = bl.split(bl.taobao(3)[0])
            load_table("tb", tb)
            evaluate(f"Taobao next item ({len(tb)} users with 3+ events)", tb, "tb", args, res)
        ev = psql("SELECT ecml.version()")[0]
    finally:
        CLUSTER.stop()
    finished = datetime.datetime.now(datetime.timezone.utc)
    import torch
    machine = (f"{benchlib.cpu_model('unknown')}, nproc {os.cpu_count()}, load average "
               f"{benchlib.loadavg_2f()}; ecml {ev}, commit {benchlib.git_describe()}; PyTorch "
               f"{torch.__version__}; Python {benchlib.python_version()}")
    sec = section(res, started, finished, command, machine)
    print(sec)
    if not args.no_write:
        write_results(args.output, sec, args.only.replace(",", "-"))


if __name__ == "__main__":
    main()
