#!/usr/bin/env bash
# pg_dump keeps ecml.models (pg_extension_config_dump) and models in user
# tables; after pg_restore every model scores exactly as before.
set -euo pipefail
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
src=ecml_dump_src
dst=ecml_dump_dst
work=$(mktemp -d)
trap 'rm -rf "$work"; dropdb --if-exists "$src" 2>/dev/null; dropdb --if-exists "$dst" 2>/dev/null' EXIT

dropdb --if-exists "$src" 2>/dev/null; dropdb --if-exists "$dst" 2>/dev/null
createdb "$src"
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
CREATE EXTENSION ecml;
CREATE TABLE sessions AS
SELECT i, ARRAY[sin(i * 0.3), cos(i * 0.7), (i % 13)::real]::real[] AS f,
       sin(i * 0.3) - cos(i * 0.7) + sin(i * 9.1) > 0 AS bought
FROM generate_series(1, 5000) i;
SELECT ecml.save_model('purchase', ecml.logreg_train(f, bought, '{"feature_names": ["a", "b", "c"]}')) FROM sessions;
CREATE TABLE my_models AS SELECT 'l1'::text AS name, ecml.logreg_train(f, bought, '{"l1": 0.01}') AS m FROM sessions;
CREATE TABLE scores_before AS
SELECT i, ecml.logreg_predict(ecml.model('purchase'), f) AS p1,
       ecml.logreg_predict((SELECT m FROM my_models), f) AS p2
FROM sessions;
SQL
"$PG_BIN/pg_dump" -Fc -f "$work/dump" "$src"
createdb "$dst"
"$PG_BIN/pg_restore" -d "$dst" "$work/dump"
psql -X -q -At -v ON_ERROR_STOP=1 -d "$dst" -c "SELECT count(*) FROM ecml.models" >"$work/count"
psql -X -q -At -v ON_ERROR_STOP=1 -d "$dst" >"$work/diff" <<'SQL'
SELECT count(*) FROM scores_before b JOIN sessions s USING (i)
WHERE b.p1 IS DISTINCT FROM ecml.logreg_predict(ecml.model('purchase'), s.f)
   OR b.p2 IS DISTINCT FROM ecml.logreg_predict((SELECT m FROM my_models), s.f);
SQL
echo "restored registry rows: $(cat "$work/count"); rows scoring differently after restore: $(cat "$work/diff")"
[ "$(cat "$work/count")" = 1 ] && [ "$(cat "$work/diff")" = 0 ]
