#!/usr/bin/env bash
# pg_dump -Fc / pg_restore of a database with the extension, the registry
# (ecml.models, kept by pg_extension_config_dump) and models in a user
# table's bytea column, one model of every kind in each: after the restore
# into a new database the models are byte-identical, the registry's
# metadata is the same, and every scoring function gives exactly the same
# output (compared as text: float8 output is exact in PostgreSQL 15) over a
# set of inputs.  The models' owners, the row security policy and what a
# role sees through it are the same too.  The list of scoring functions is
# checked against the catalog, so a new one must be added here.  An
# ecml_hnsw index on a user table is rebuilt by pg_restore, used by the
# planner and gives the same nearest rows.  Every version of a model, the
# live pointer, the promotion order and ecml.model_history are kept
# (issue 21): a rollback after the restore goes where it would have gone.
#
# ECML_DUMP_FROM="HOST PORT" puts the source database on another server
# (test/extra/cross_version.sh: models trained on PostgreSQL 15, dumped and
# restored here with this server's pg_restore); the default is this server.
set -euo pipefail
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
src=ecml_dump_src
dst=ecml_dump_dst
from=()
if [ -n "${ECML_DUMP_FROM:-}" ]; then
    read -r from_host from_port <<<"$ECML_DUMP_FROM"
    from=(-h "$from_host" -p "$from_port")
fi
work=$(mktemp -d)
trap 'rm -rf "$work"; dropdb "${from[@]}" --if-exists "$src" 2>/dev/null; dropdb --if-exists "$dst" 2>/dev/null;
      psql -X -q -d postgres -c "DROP ROLE IF EXISTS ecml_dump_reader" 2>/dev/null;
      psql "${from[@]}" -X -q -d postgres -c "DROP ROLE IF EXISTS ecml_dump_reader" 2>/dev/null' EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
qs() { q "${from[@]}" "$@"; }

dropdb "${from[@]}" --if-exists "$src" 2>/dev/null; dropdb --if-exists "$dst" 2>/dev/null
createdb "${from[@]}" "$src"
# a role the registry is granted to: the grant must survive the restore
# (roles belong to a cluster, not to the dump: both clusters have it)
for c in "" "${from[*]}"; do
    # shellcheck disable=SC2086
    psql $c -X -q -d postgres -c "DO \$\$BEGIN CREATE ROLE ecml_dump_reader; EXCEPTION WHEN duplicate_object THEN NULL; END\$\$"
done
echo "source: $(qs -d "$src" -c 'SHOW server_version'); restored into: $(q -d postgres -c 'SHOW server_version')"
qs -o /dev/null -d "$src" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION ecml;
GRANT USAGE ON SCHEMA ecml TO ecml_dump_reader;
GRANT SELECT ON ecml.models TO ecml_dump_reader;
CREATE TABLE sessions AS
SELECT i, ARRAY[sin(i * 0.3), cos(i * 0.7), (i % 13)::real]::real[] AS f,
       sin(i * 0.3) - cos(i * 0.7) + sin(i * 9.1) > 0 AS bought
FROM generate_series(1, 3000) i;
CREATE TABLE clicks AS
SELECT (i % 97)::bigint AS u, ((i * 7919) % 61)::bigint AS item, (1 + i % 3)::real AS v
FROM generate_series(1, 4000) i;
CREATE TABLE products AS
SELECT i::bigint AS id, ARRAY[sin(i), cos(i), sin(2 * i), cos(3 * i), sin(5 * i), cos(7 * i)]::real[] AS e
FROM generate_series(1, 500) i;
-- an approximate-search index: pg_dump writes it as CREATE INDEX ... USING
-- ecml_hnsw with its operator class and options, pg_restore rebuilds it
CREATE INDEX products_e_hnsw ON products USING ecml_hnsw (e ecml.real_cosine_ops) WITH (m = 8);
CREATE TABLE journeys AS
SELECT ARRAY[i % 5, (i * 3) % 7, (i + 2) % 5, i % 3]::bigint[] AS s,
       ARRAY['view', CASE WHEN i % 3 = 0 THEN 'cart' ELSE 'view' END,
             CASE WHEN i % 4 = 0 THEN 'purchase' ELSE 'view' END] AS t
FROM generate_series(1, 300) i;
CREATE TABLE reviews AS
SELECT ARRAY['warm', CASE WHEN i % 2 = 0 THEN 'coat' ELSE 'parka' END, 'w' || i % 7,
             CASE WHEN i % 3 = 0 THEN 'broken' ELSE 'great' END] AS tokens,
       CASE WHEN i % 3 = 0 THEN 'negative' ELSE 'positive' END AS label,
       'w' || i AS word, ARRAY[sin(i), cos(i), sin(3 * i)]::real[] AS vector
FROM generate_series(1, 300) i;

-- the registry: one model of every kind
SELECT ecml.save_model('purchase', ecml.logreg_train(f, bought, '{"feature_names": ["a", "b", "c"]}')) FROM sessions;
SELECT ecml.save_model('fraud', ecml.fraud_train(f, bought, '{"n_trees": 20}')) FROM sessions;
SELECT ecml.save_model('anomaly', ecml.anomaly_train(f, '{"n_trees": 20}')) FROM sessions;
SELECT ecml.save_model('recs', ecml.mf_train(u, item, v, '{"factors": 8, "iterations": 4}')) FROM clicks;
SELECT ecml.save_model('search', ecml.pack_vectors(id, e)) FROM products;
SELECT ecml.save_model('next_item', ecml.lstm_train(s, '{"epochs": 2, "hidden_size": 8, "embedding_dim": 8}')) FROM journeys;
SELECT ecml.save_model('next_action', ecml.lstm_train(t, '{"epochs": 2, "hidden_size": 8, "embedding_dim": 8}')) FROM journeys;
SELECT ecml.save_model('words', ecml.word2vec_train(tokens, '{"dim": 8, "epochs": 2, "min_count": 1, "maxn": 4}')) FROM reviews;
SELECT ecml.save_model('sentiment', ecml.text_classifier_train(tokens, label, '{"dim": 8, "epochs": 2}')) FROM reviews;
-- versions: purchase has three, the third (labels flipped) refused on
-- held-out rows, kept, then promoted by hand; recs has two
SELECT ecml.save_version('purchase', ecml.logreg_train(f, bought, '{"l2": 0.1}'), '{"promote": "always"}') FROM sessions;
SELECT ecml.save_version('purchase', ecml.logreg_train(f, NOT bought), '{"holdout": "SELECT f, bought FROM sessions WHERE i % 10 = 0"}') FROM sessions;
SELECT ecml.promote('purchase', 3);
SELECT ecml.save_model('recs', ecml.mf_train(u, item, v, '{"factors": 4, "iterations": 2}')) FROM clicks;
-- two of them belong to another role: row security shows it only those
UPDATE ecml.models SET owner = 'ecml_dump_reader' WHERE name IN ('fraud', 'recs');

-- a user table: other models of every kind (other options), plain bytea
CREATE TABLE my_models (name text PRIMARY KEY, m bytea NOT NULL);
INSERT INTO my_models
SELECT 'purchase', ecml.logreg_train(f, bought, '{"l1": 0.01}') FROM sessions
UNION ALL SELECT 'fraud', ecml.fraud_train(f, bought, '{"n_trees": 10, "max_depth": 3}') FROM sessions
UNION ALL SELECT 'anomaly', ecml.anomaly_train(f, '{"n_trees": 10, "sample_size": 64}') FROM sessions
UNION ALL SELECT 'recs', ecml.mf_train(u, item, v, '{"factors": 6, "iterations": 3, "implicit": false}') FROM clicks
UNION ALL SELECT 'search', ecml.pack_vectors(id, e, '{"metric": "l2"}') FROM products
-- (trained in passes by model averaging: the same model format)
UNION ALL SELECT 'next_item', ecml.train('lstm', 'SELECT s FROM journeys', '{"epochs": 1, "hidden_size": 6, "embedding_dim": 4}')
UNION ALL SELECT 'next_action', ecml.lstm_train(t, '{"epochs": 1, "hidden_size": 6, "embedding_dim": 4}') FROM journeys
UNION ALL SELECT 'words', ecml.word_vectors_load(word, vector) FROM reviews
-- (started from the loaded word vectors)
UNION ALL SELECT 'sentiment', ecml.text_classifier_train(tokens, label, '{"epochs": 1, "word_ngrams": 2}',
                                                         (SELECT ecml.word_vectors_load(word, vector) FROM reviews)) FROM reviews;
-- a gbdt bin-edge sketch (ecml.train('gbdt')'s first pass), kept in a user table
CREATE TABLE my_sketches AS SELECT ecml.gbdt_sketch(f, bought, 1000, 16, 0) AS sk FROM sessions;
SQL

# Every output of every scoring function, for the registry's models (read
# with ecml.model) and the user table's, over 12 inputs; one text line each.
cat >"$work/outputs.sql" <<'SQL'
CREATE TEMP TABLE inputs AS
SELECT i, ARRAY[sin(i * 1.1), cos(i * 0.3), (i % 13)::real]::real[] AS f,
       ARRAY[sin(i), cos(i), sin(2 * i), cos(3 * i), sin(5 * i), cos(7 * i)]::real[] AS q,
       ARRAY[i % 5, (i * 3) % 7]::bigint[] AS s,
       ARRAY['view', CASE WHEN i % 2 = 0 THEN 'cart' ELSE 'view' END] AS t,
       ARRAY['w' || i % 9, 'warm', CASE WHEN i % 2 = 0 THEN 'great' ELSE 'broken' END, 'coats'] AS tok
FROM generate_series(1, 12) i;
CREATE TEMP TABLE models AS
SELECT 'registry' AS src, name, ecml.model(name) AS m FROM (SELECT DISTINCT name FROM ecml.models) n
UNION ALL SELECT 'user table', name, m FROM my_models;
CREATE TEMP TABLE outputs (fn text, src text, i int, out text);
INSERT INTO outputs SELECT 'model_info', src, 0, ecml.model_info(m)::text FROM models;
INSERT INTO outputs SELECT 'model', name, version, md5(ecml.model(name, version)) FROM ecml.models;
INSERT INTO outputs SELECT 'evaluate', src, 0, ecml.evaluate(m, 'SELECT f, bought FROM sessions WHERE i % 10 = 0')::text FROM models WHERE name IN ('purchase', 'fraud');
INSERT INTO outputs SELECT 'evaluate', src, 0, ecml.evaluate(m, 'SELECT u, item, v FROM clicks WHERE u < 10')::text FROM models WHERE name = 'recs';
INSERT INTO outputs SELECT 'logreg_predict', src, i, ecml.logreg_predict(m, f)::text FROM models, inputs WHERE name = 'purchase';
INSERT INTO outputs SELECT 'logreg_coefficients', src, 0, c::text FROM models, ecml.logreg_coefficients(m) c WHERE name = 'purchase';
INSERT INTO outputs SELECT 'gbdt_bin_edges', 'user table', j, ecml.gbdt_bin_edges(sk, j)::text FROM my_sketches, generate_series(1, 3) j;
INSERT INTO outputs SELECT 'fraud_score', src, i, ecml.fraud_score(m, f)::text FROM models, inputs WHERE name = 'fraud';
INSERT INTO outputs SELECT 'fraud_explain', src, i, ecml.fraud_explain(m, f)::text || ecml.fraud_explain(m, f, 2)::text FROM models, inputs WHERE name = 'fraud';
INSERT INTO outputs SELECT 'fraud_feature_importance', src, 0, c::text FROM models, ecml.fraud_feature_importance(m) c WHERE name = 'fraud';
INSERT INTO outputs SELECT 'feature_importance', src, 0, c::text FROM models, ecml.feature_importance(m) c WHERE name = 'fraud';
INSERT INTO outputs SELECT 'anomaly_score', src, i, ecml.anomaly_score(m, f)::text FROM models, inputs WHERE name = 'anomaly';
INSERT INTO outputs SELECT 'mf_recommend', src, i, r::text FROM models, inputs, ecml.mf_recommend(m, i, 5) r WHERE name = 'recs';
INSERT INTO outputs SELECT 'mf_recommend', src, i, r::text FROM models, inputs, ecml.mf_recommend(m, i, 5, false) r WHERE name = 'recs';
INSERT INTO outputs SELECT 'mf_recommend_all', src, 0, r::text FROM models, ecml.mf_recommend_all(m, 3) r WHERE name = 'recs';
INSERT INTO outputs SELECT 'mf_similar_items', src, i, r::text FROM models, inputs, ecml.mf_similar_items(m, i, 4) r WHERE name = 'recs';
INSERT INTO outputs SELECT 'mf_predict', src, i, ecml.mf_predict(m, i, i + 3)::text FROM models, inputs WHERE name = 'recs';
INSERT INTO outputs SELECT 'mf_fold_in', src, i, ecml.mf_fold_in(m, ARRAY[i, i + 1], '{1, 2}')::text FROM models, inputs WHERE name = 'recs';
INSERT INTO outputs SELECT 'mf_recommend_vector', src, i, r::text
FROM models, inputs, ecml.mf_recommend_vector(m, ecml.mf_fold_in(m, ARRAY[i, i + 1], '{1, 2}'), 4, ARRAY[i]) r WHERE name = 'recs';
INSERT INTO outputs SELECT 'mf_user_factors', src, 0, r::text FROM models, ecml.mf_user_factors(m) r WHERE name = 'recs';
INSERT INTO outputs SELECT 'mf_item_factors', src, 0, r::text FROM models, ecml.mf_item_factors(m) r WHERE name = 'recs';
INSERT INTO outputs SELECT 'search', src, i, r::text FROM models, inputs, ecml.search(m, q, 5) r WHERE name = 'search';
INSERT INTO outputs SELECT 'search', src, i, r::text FROM models, inputs, ecml.search(m, q, 3, ARRAY[i, i * 2, i * 3, i * 5]::bigint[]) r WHERE name = 'search';
INSERT INTO outputs SELECT 'search', src, i, r::text FROM models, inputs, ecml.search(m, q, 3, NULL, ARRAY[i, i * 2]::bigint[]) r WHERE name = 'search';
INSERT INTO outputs SELECT 'search_batch', src, 0, r::text
FROM models, ecml.search_batch(m, (SELECT array_agg(q ORDER BY i) FROM inputs), 4) r WHERE name = 'search';
INSERT INTO outputs SELECT 'lstm_top', src, i, r::text FROM models, inputs, ecml.lstm_top(m, s, 4) r WHERE name = 'next_item';
INSERT INTO outputs SELECT 'lstm_top', src, i, r::text FROM models, inputs, ecml.lstm_top(m, t, 3, true) r WHERE name = 'next_action';
INSERT INTO outputs SELECT 'lstm_predict', src, i, r::text FROM models, inputs, ecml.lstm_predict(m, s, 4) r WHERE name = 'next_item';
INSERT INTO outputs SELECT 'lstm_next', src, i, ecml.lstm_next(m, s)::text FROM models, inputs WHERE name = 'next_item';
INSERT INTO outputs SELECT 'lstm_next', src, i, ecml.lstm_next(m, t) FROM models, inputs WHERE name = 'next_action';
INSERT INTO outputs SELECT 'lstm_embed', src, i, ecml.lstm_embed(m, s)::text FROM models, inputs WHERE name = 'next_item';
INSERT INTO outputs SELECT 'lstm_embed', src, i, ecml.lstm_embed(m, t)::text FROM models, inputs WHERE name = 'next_action';
INSERT INTO outputs SELECT 'word_vector', src, i, ecml.word_vector(m, tok[1])::text || ecml.word_vector(m, tok[4])::text FROM models, inputs WHERE name = 'words';
INSERT INTO outputs SELECT 'similar_words', src, i, r::text FROM models, inputs, ecml.similar_words(m, tok[1], 3) r WHERE name = 'words';
INSERT INTO outputs SELECT 'similar_words', src, i, r::text FROM models, inputs, ecml.similar_words(m, ecml.word_vector(m, 'w' || i), 3) r WHERE name = 'words';
INSERT INTO outputs SELECT 'embed_text', src, i, ecml.embed_text(m, tok)::text || ecml.embed_text(m, array_to_string(tok, ' '))::text
                                               || ecml.embed_text(m, array_to_string(tok, ' '), 'simple')::text FROM models, inputs WHERE name = 'words';
INSERT INTO outputs SELECT 'text_classify', src, i, r::text FROM models, inputs, ecml.text_classify(m, tok) r WHERE name = 'sentiment';
INSERT INTO outputs SELECT 'text_label', src, i, ecml.text_label(m, tok) FROM models, inputs WHERE name = 'sentiment';
INSERT INTO outputs SELECT 'text_explain', src, i, r::text FROM models, inputs, ecml.text_explain(m, tok) r WHERE name = 'sentiment';
INSERT INTO outputs SELECT 'text_explain', src, i, r::text FROM models, inputs, ecml.text_explain(m, tok, 'negative') r WHERE name = 'sentiment';
-- the restored ecml_hnsw index answers as the original did
SET enable_seqscan = off;
INSERT INTO outputs SELECT 'ecml_hnsw', 'products_e_hnsw', i,
       (SELECT string_agg(id::text, ',') FROM (SELECT id FROM products ORDER BY e OPERATOR(ecml.<=>) q LIMIT 5) s)
FROM inputs;
RESET enable_seqscan;
-- a scoring function (a model argument) that this file does not call; an
-- aggregate's support functions read its state, not a model
SELECT 'NOT COVERED: ' || p.oid::regprocedure
FROM pg_proc p
WHERE p.pronamespace = 'ecml'::regnamespace AND p.prokind = 'f'
  AND 'bytea'::regtype = ANY (p.proargtypes) AND NOT ('internal'::regtype = ANY (p.proargtypes))
  AND p.proname NOT IN ('save_model', 'save_version')
  AND p.oid NOT IN (SELECT unnest(ARRAY[aggtransfn, aggcombinefn, aggfinalfn])::oid FROM pg_aggregate)
  AND p.proname NOT IN (SELECT DISTINCT fn FROM outputs);
SELECT format('%s|%s|%s|%s', fn, src, i, out) FROM outputs ORDER BY fn, src, i, out;
SQL

registry_sql="SELECT name, version, kind, md5(model), length(model), trained_at, rows, metrics, owner, live, promoted,
                     saved_at, saved_by, options, training_seconds, holdout, holdout_metrics FROM ecml.models ORDER BY name, version"
history_sql="SELECT at, name, version, event, from_version, metric, value, live_value, tolerance, reason, by, owner
             FROM ecml.model_history ORDER BY at, name"
rls_sql="SELECT relrowsecurity, (SELECT string_agg(polname || ':' || pg_get_expr(polqual, polrelid), ',') FROM pg_policy WHERE polrelid = c.oid)
         FROM pg_class c WHERE oid = 'ecml.models'::regclass"
seen_sql="SET ROLE ecml_dump_reader; SELECT string_agg(DISTINCT name, ',' ORDER BY name) FROM ecml.models"
acl_sql="SELECT (SELECT relacl FROM pg_class WHERE oid = 'ecml.models'::regclass), (SELECT nspacl FROM pg_namespace WHERE nspname = 'ecml')"
user_sql="SELECT name, md5(m), length(m) FROM my_models ORDER BY name"

qs -d "$src" -f "$work/outputs.sql" >"$work/before"
qs -d "$src" -c "$registry_sql" -c "$history_sql" -c "$user_sql" -c "$rls_sql" -c "$seen_sql" -c "$acl_sql" >"$work/meta_before"

# this server's pg_dump, or ECML_DUMP_BIN's (cross_version.sh says why)
"${ECML_DUMP_BIN:-$PG_BIN}/pg_dump" "${from[@]}" -Fc -f "$work/dump" "$src"
createdb "$dst"
"$PG_BIN/pg_restore" --exit-on-error -d "$dst" "$work/dump"

q -d "$dst" -f "$work/outputs.sql" >"$work/after"
q -d "$dst" -c "$registry_sql" -c "$history_sql" -c "$user_sql" -c "$rls_sql" -c "$seen_sql" -c "$acl_sql" >"$work/meta_after"

# PostgreSQL 17 added the MAINTAIN privilege (m), which an owner holds by
# default: a table restored into 17 or later shows it in its ACL.
sed -i -E 's/Dxtm\//Dxt\//g' "$work/meta_before" "$work/meta_after"

fail=0
if grep -q 'NOT COVERED' "$work/before"; then
    grep 'NOT COVERED' "$work/before"
    fail=1
fi
kinds=$(q -d "$dst" -c "SELECT string_agg(DISTINCT kind, ',' ORDER BY kind) FROM ecml.models")
ukinds=$(q -d "$dst" -c "SELECT string_agg(DISTINCT ecml.model_info(m)->>'kind', ',' ORDER BY ecml.model_info(m)->>'kind') FROM my_models")
rows=$(q -d "$dst" -c "SELECT count(*) FROM ecml.models")
echo "restored registry rows: $rows (kinds $kinds); user-table model kinds: $ukinds; grants: $(tail -n 1 "$work/meta_after")"
echo "scoring outputs compared: $(wc -l <"$work/before") before, $(wc -l <"$work/after") after"
for k in gbdt iforest logreg lstm mf vectors word_vectors text_classifier; do
    case ",$kinds," in *",$k,"*) ;; *) echo "registry lacks a $k model after restore"; fail=1 ;; esac
    case ",$ukinds," in *",$k,"*) ;; *) echo "user table lacks a $k model after restore"; fail=1 ;; esac
done
if ! grep -q 'ecml_dump_reader=r/' "$work/meta_after" || ! grep -q 'ecml_dump_reader=U/' "$work/meta_after"; then
    echo "the grants on ecml.models and schema ecml were not restored: $(tail -n 1 "$work/meta_after")"
    fail=1
fi
if ! diff -q "$work/meta_before" "$work/meta_after" >/dev/null; then
    echo "registry metadata or model bytes differ after restore:"
    diff "$work/meta_before" "$work/meta_after" | head -n 20
    fail=1
fi
if ! diff -q "$work/before" "$work/after" >/dev/null; then
    echo "scoring outputs differ after restore:"
    diff "$work/before" "$work/after" | head -n 20
    fail=1
fi
[ "$(wc -l <"$work/before")" -gt 500 ] || { echo "too few outputs compared"; fail=1; }
[ "$rows" = 12 ] || { echo "expected 12 registry rows (versions) after restore, found $rows"; fail=1; }
# the live pointer and the promotion order came back: purchase is at
# version 3, a rollback returns to 2
versions=$(q -d "$dst" -c "SELECT string_agg(version || CASE WHEN live THEN '*' ELSE '' END, ',' ORDER BY version) FROM ecml.models WHERE name = 'purchase'")
back=$(q -d "$dst" -c "SELECT ecml.rollback('purchase')")
echo "purchase versions after restore: $versions; rollback returns to version $back"
[ "$versions" = "1,2,3*" ] && [ "$back" = 2 ] || { echo "versions or the live pointer not restored"; fail=1; }
events=$(q -d "$dst" -c "SELECT string_agg(event, ',' ORDER BY at) FROM ecml.model_history WHERE name = 'purchase'")
[ "$events" = "promoted,promoted,refused,promoted,rolled_back" ] || { echo "model_history not restored: $events"; fail=1; }
if ! grep -qx 'fraud,recs' "$work/meta_after" || ! grep -q '^t|models_owner:pg_has_role' "$work/meta_after"; then
    echo "row security on ecml.models was not restored, or shows another role other models"
    fail=1
fi
plan=$(q -d "$dst" -c "SET enable_seqscan = off" -c "EXPLAIN (COSTS OFF) SELECT id FROM products ORDER BY e OPERATOR(ecml.<=>) '{1,0,0,0,0,0}' LIMIT 5")
if ! grep -q 'Index Scan using products_e_hnsw' <<<"$plan"; then
    echo "the restored ecml_hnsw index is not used: $plan"
    fail=1
fi
if ! grep -q '^ecml_hnsw|' "$work/after"; then
    echo "no ecml_hnsw index results were compared"
    fail=1
fi
exit $fail
