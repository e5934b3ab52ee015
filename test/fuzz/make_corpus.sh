#!/usr/bin/env bash
# Regenerate the fuzzer's seed corpus (test/fuzz/corpus/): small valid models
# of every kind, trained by SQL on a running server with ecml installed
# (libpq environment: PGHOST, PGPORT, PGUSER).  Each file is one model's
# bytea, a few hundred bytes to a few KB, so the fuzzer mutates real
# layouts of every section.  Data are generated (deterministic expressions),
# training is seeded; only the header's creation time differs between runs.
#
#   PGHOST=/var/tmp/ecml-dev-fuzz PGPORT=54523 PGUSER=postgres bash test/fuzz/make_corpus.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$here/corpus
db=ecml_fuzz_corpus

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<'SQL'
CREATE EXTENSION ecml;
CREATE TABLE corpus (name text PRIMARY KEY, model bytea NOT NULL);

-- purchase probability: 3 features, with and without names and intercept
CREATE TEMP TABLE lr AS
SELECT ARRAY[(i % 7)::real, ((i * 13) % 11)::real / 3, (i % 2)::real]::real[] AS f,
       (i % 7) + (i % 2) * 3 > 5 AS y
FROM generate_series(1, 60) i;
INSERT INTO corpus SELECT 'logreg-names', ecml.logreg_train(f, y, '{"feature_names": ["visits", "cart", "mobile"]}') FROM lr;
INSERT INTO corpus SELECT 'logreg-nointercept', ecml.logreg_train(f, y, '{"fit_intercept": false, "l2": 1}') FROM lr;

-- recommendations: implicit with stored interactions, explicit with biases
CREATE TEMP TABLE ev AS
SELECT u, it, (1 + (u * it) % 4)::real AS v
FROM generate_series(1, 6) u, generate_series(1, 5) it
WHERE (u + it * 3) % 3 <> 0;
INSERT INTO corpus SELECT 'mf-implicit-seen', ecml.mf_train(u * 10, it * 100, v, '{"factors": 2, "iterations": 2, "store_interactions": true}') FROM ev;
INSERT INTO corpus SELECT 'mf-explicit-biases', ecml.mf_train(u, it, v, '{"factors": 3, "iterations": 2, "implicit": false, "biases": true}') FROM ev;

-- similarity search: each metric
CREATE TEMP TABLE emb AS
SELECT i::bigint AS id, ARRAY[sin(i)::real, cos(i)::real, (i % 3)::real, 0.5::real]::real[] AS v
FROM generate_series(1, 8) i;
INSERT INTO corpus SELECT 'vectors-cosine', ecml.pack_vectors(id, v) FROM emb;
INSERT INTO corpus SELECT 'vectors-l2', ecml.pack_vectors(id * 7, v, '{"metric": "l2"}') FROM emb;
INSERT INTO corpus SELECT 'vectors-ip', ecml.pack_vectors(id, v[1:3], '{"metric": "inner_product"}') FROM emb;

-- next action: bigint and text tokens, one and two layers
CREATE TEMP TABLE seq AS
SELECT ARRAY(SELECT ((s + t) % 5 + 1)::bigint FROM generate_series(1, 6) t) AS b,
       ARRAY(SELECT 'p' || ((s * t) % 4) FROM generate_series(1, 5) t) AS w
FROM generate_series(1, 12) s;
INSERT INTO corpus SELECT 'lstm-bigint', ecml.lstm_train(b, '{"embedding_dim": 2, "hidden_size": 3, "epochs": 1, "seed": 1}') FROM seq;
INSERT INTO corpus SELECT 'lstm-text-2layers', ecml.lstm_train(w, '{"embedding_dim": 2, "hidden_size": 2, "layers": 2, "epochs": 1, "seed": 1}') FROM seq;
INSERT INTO corpus SELECT 'lstm-successors', ecml.lstm_train(b, '{"embedding_dim": 2, "hidden_size": 2, "epochs": 1, "seed": 1, "max_successors": 3}') FROM seq;

-- fraud (gradient-boosted trees): with names, and with missing values
CREATE TEMP TABLE pay AS
SELECT ARRAY[(i % 10)::real, CASE WHEN i % 9 = 0 THEN NULL ELSE ((i * 7) % 5)::real END, (i % 3)::real]::real[] AS f,
       i % 10 > 7 AS fraud
FROM generate_series(1, 80) i;
INSERT INTO corpus SELECT 'gbdt-names', ecml.fraud_train(f, fraud, '{"n_trees": 3, "max_depth": 2, "feature_names": ["amount", "hour", "device"]}') FROM pay;
INSERT INTO corpus SELECT 'gbdt-missing', ecml.fraud_train(f, fraud, '{"n_trees": 2, "max_depth": 3, "learning_rate": 0.5}') FROM pay;

-- anomaly (isolation forest)
CREATE TEMP TABLE ifd AS
SELECT ARRAY[(i % 10)::real, ((i * 3) % 7)::real]::real[] AS f FROM generate_series(1, 50) i;
INSERT INTO corpus SELECT 'iforest-small', ecml.anomaly_train(f, '{"n_trees": 3, "sample_size": 8, "seed": 1}') FROM ifd;
INSERT INTO corpus SELECT 'iforest-deeper', ecml.anomaly_train(f, '{"n_trees": 2, "sample_size": 20, "seed": 2}') FROM ifd;
-- text: word vectors with subwords, loaded vectors, a classifier with word pairs
CREATE TEMP TABLE docs AS
SELECT ARRAY['warm', 'coat', 'zip', CASE WHEN i % 2 = 0 THEN 'jacket' ELSE 'parka' END] AS t,
       CASE WHEN i % 3 = 0 THEN 'pos' ELSE 'neg' END AS l
FROM generate_series(1, 12) i;
INSERT INTO corpus SELECT 'wordvec-subwords', ecml.word2vec_train(t, '{"dim": 3, "epochs": 1, "min_count": 1, "minn": 3, "maxn": 4, "buckets": 50}') FROM docs;
INSERT INTO corpus SELECT 'wordvec-loaded', ecml.word_vectors_load('w' || i, ARRAY[i, 1, -i]::real[]) FROM generate_series(1, 4) i;
INSERT INTO corpus SELECT 'textclf-pairs', ecml.text_classifier_train(t, l, '{"dim": 3, "epochs": 1, "word_ngrams": 2, "buckets": 40}') FROM docs;
SQL

mkdir -p "$out"
rm -f "$out"/*.bin
psql -X -At -F ' ' -d "$db" -c "SELECT name, encode(model, 'hex') FROM corpus ORDER BY name" |
while read -r name hex; do
    printf '%s' "$hex" | /usr/bin/python3 -c 'import sys, binascii; sys.stdout.buffer.write(binascii.unhexlify(sys.stdin.read()))' >"$out/$name.bin"
done
psql -X -q -d postgres -c "DROP DATABASE $db"
ls -l "$out"
