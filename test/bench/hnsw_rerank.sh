#!/bin/bash
# What re-ranking costs an ecml_hnsw scan with storage = 'int8': 20,000
# clustered vectors of 768 dimensions (50 clusters, seeded), one index per
# storage and metric (float and int8; cosine and L2, m = 16), then 100
# queries of ORDER BY ... LIMIT 10, one statement with a correlated index
# scan per query, at ef_search 40.  For each index: the median of 5 timed
# runs, the heap rows fetched per query (the index's tuples returned, from
# the transaction's statistics: LIMIT 10 plus the rows the executor
# re-ranked before it could return the tenth) and recall@10 against the
# exact order, also with a WHERE clause keeping 10% of the rows (the scan
# then resumes round after round).  A float index re-ranks nothing, so the
# float rows are the same run's reference.
#   PGHOST=... PGPORT=... PGUSER=postgres nice bash test/bench/hnsw_rerank.sh [PSQL]
# Needs a running server with ecml in database postgres; creates and drops
# table rr_items.  Figures go into RESULTS.md by hand.
set -euo pipefail
P=${1:-psql}
q() { "$P" -X -qAt -v ON_ERROR_STOP=1 postgres "$@"; }
echo "command: PGHOST=$PGHOST PGPORT=$PGPORT nice bash test/bench/hnsw_rerank.sh $P"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); ecml $(git -C "$(dirname "$0")" describe --always --dirty)"
q <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS rr_items;
SELECT setseed(0.42);
CREATE TEMP TABLE rr_centers AS
SELECT k, array_agg((random() - 0.5)::real ORDER BY d) AS c
FROM generate_series(1, 50) k, generate_series(1, 768) d GROUP BY k;
CREATE TABLE rr_items AS
SELECT i AS id, (SELECT array_agg((c[d] + 0.3 * (random() - 0.5))::real ORDER BY d)
                 FROM generate_series(1, 768) d WHERE i > 0) AS v
FROM generate_series(1, 20100) i JOIN rr_centers ON k = 1 + i % 50;
ANALYZE rr_items;
SQL
for idx in "cosine float" "cosine int8" "l2 float" "l2 int8"; do
    set -- $idx
    metric=$1 storage=$2
    op='<=>'
    [ "$metric" = l2 ] && op='<->'
    q <<SQL
SET client_min_messages = warning;
SET maintenance_work_mem = '1GB';
CREATE INDEX rr_idx ON rr_items USING ecml_hnsw (v ecml.real_${metric}_ops)
    WITH (storage = '$storage') WHERE id <= 20000;
SQL
    out=$(q <<SQL
SET search_path = public, ecml;
SET enable_seqscan = off;
SET ecml.hnsw_ef_search = 40;
SET enable_indexscan = off;
CREATE TEMP TABLE truth AS
SELECT q.id, ARRAY(SELECT id FROM rr_items WHERE id <= 20000 ORDER BY v $op q.v, id LIMIT 10) AS ids
FROM rr_items q WHERE q.id > 20000;
CREATE TEMP TABLE truth_f AS
SELECT q.id, ARRAY(SELECT id FROM rr_items WHERE id <= 20000 AND id % 10 = 0 ORDER BY v $op q.v, id LIMIT 10) AS ids
FROM rr_items q WHERE q.id > 20000;
RESET enable_indexscan;
CREATE FUNCTION pg_temp.run() RETURNS TABLE (id int, ids int[]) LANGUAGE sql AS \$\$
    SELECT q.id, ARRAY(SELECT id FROM rr_items WHERE id <= 20000 ORDER BY v $op q.v LIMIT 10)
    FROM rr_items q WHERE q.id > 20000 \$\$;
SELECT count(*) FROM pg_temp.run();
CREATE FUNCTION pg_temp.ms() RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN PERFORM count(*) FROM pg_temp.run(); RETURN 1000 * extract(epoch FROM clock_timestamp() - t0); END \$\$;
SELECT round(avg((SELECT count(*) FROM unnest(r.ids) x WHERE x = ANY (t.ids)) / 10.0), 3)
FROM pg_temp.run() r JOIN truth t USING (id);
SELECT round(avg((SELECT count(*) FROM unnest(r.ids) x WHERE x = ANY (t.ids)) / 10.0), 3)
FROM (SELECT q.id, ARRAY(SELECT id FROM rr_items WHERE id <= 20000 AND id % 10 = 0 ORDER BY v $op q.v LIMIT 10) AS ids
      FROM rr_items q WHERE q.id > 20000) r JOIN truth_f t USING (id);
-- the statistics not yet flushed may hold earlier transactions' counts too: a difference
BEGIN;
CREATE TEMP TABLE before AS SELECT pg_stat_get_xact_tuples_returned('rr_idx'::regclass) AS n;
SELECT count(*) FROM pg_temp.run();
SELECT round((pg_stat_get_xact_tuples_returned('rr_idx'::regclass) - (SELECT n FROM before)) / 100.0, 1);
COMMIT;
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1)
FROM (SELECT pg_temp.ms() AS ms FROM generate_series(1, 5)) s;
SQL
)
    set -- $out
    printf '%-7s %-6s  %7s ms / 100 queries   %5s rows fetched per query   recall@10 %s   with a 10%% filter %s\n' \
        "$metric" "$storage" "$6" "$5" "$2" "$3"
    q -c "DROP INDEX rr_idx"
done
q -c "DROP TABLE rr_items"
