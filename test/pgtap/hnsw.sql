-- ecml_hnsw: recall@10 against exact search (the same ORDER BY with the
-- index disabled) after a build, after inserts, after deletes + VACUUM, for
-- each operator class and for a build that outgrew maintenance_work_mem;
-- filtered queries return LIMIT rows; the planner's choices.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SELECT plan(24);
SET LOCAL search_path = public, ecml;
SET LOCAL client_min_messages = warning;

-- 20,000 x 32 points around 40 random centres (seeded), in random cluster
-- order, 50 queries drawn from the same mixture; cat (10 values) and rare
-- (1 in 100) are independent of the cluster
SELECT setseed(0.17);
CREATE TABLE hn_ctr AS
SELECT k, ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, 32) WHERE k >= 0) AS ctr
FROM generate_series(0, 39) k;
CREATE FUNCTION pg_temp.point(c real[]) RETURNS real[] LANGUAGE sql AS $$
    SELECT array_agg(x + (random()::real - 0.5) * 0.5 ORDER BY i)
    FROM unnest(c) WITH ORDINALITY u(x, i) $$;
CREATE TABLE hn_items (id bigint PRIMARY KEY, v real[], cat int, rare bool);
INSERT INTO hn_items
SELECT i, pg_temp.point(ctr), (hashint4(i) & 1023) % 10, (hashint4(i * 7) & 1023) % 100 = 0
FROM generate_series(1, 20000) i JOIN hn_ctr ON hn_ctr.k = (hashint4(i * 3) & 1023) % 40 ORDER BY i;
CREATE TABLE hn_q AS
SELECT i AS qid, pg_temp.point(ctr) AS q
FROM generate_series(1, 50) i JOIN hn_ctr ON hn_ctr.k = i % 40 ORDER BY i;
ANALYZE hn_items;

-- recall@10 of the index over the queries, against the same query without
-- it; also counts queries that returned fewer than 10 rows
CREATE FUNCTION pg_temp.recall(op text, filter text DEFAULT 'true', k int DEFAULT 10,
                               OUT recall float8, OUT short int)
LANGUAGE plpgsql AS $$
DECLARE r record; hit int := 0; tot int := 0; a bigint[]; b bigint[];
BEGIN
    short := 0;
    FOR r IN SELECT * FROM hn_q ORDER BY qid LOOP
        SET LOCAL enable_seqscan = off;
        SET LOCAL enable_indexscan = on;
        EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM hn_items WHERE %s ORDER BY v %s $1 LIMIT %s) s',
                       filter, op, k) INTO a USING r.q;
        SET LOCAL enable_indexscan = off;
        SET LOCAL enable_seqscan = on;
        EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM hn_items WHERE %s ORDER BY v %s $1, id LIMIT %s) s',
                       filter, op, k) INTO b USING r.q;
        hit := hit + (SELECT count(*) FROM unnest(a) x WHERE x = ANY (b));
        tot := tot + coalesce(cardinality(b), 0);
        IF coalesce(cardinality(a), 0) < coalesce(cardinality(b), 0) THEN
            short := short + 1;
        END IF;
    END LOOP;
    RESET enable_seqscan;
    RESET enable_indexscan;
    recall := hit::float8 / tot;
END $$;

CREATE FUNCTION pg_temp.plan(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; line text;
BEGIN
    r := '';
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        r := r || line || E'\n';
    END LOOP;
    RETURN r;
END $$;

-- after the build, each operator class
CREATE INDEX items_cos ON hn_items USING ecml_hnsw (v real_cosine_ops);
SELECT cmp_ok((pg_temp.recall('<=>')).recall, '>=', 0.95::float8, 'cosine: recall@10 after the build');
DROP INDEX items_cos;
CREATE INDEX items_ip ON hn_items USING ecml_hnsw (v real_ip_ops);
SELECT cmp_ok((pg_temp.recall('<#>')).recall, '>=', 0.95::float8, 'inner product: recall@10 after the build');
DROP INDEX items_ip;
CREATE INDEX items_l2 ON hn_items USING ecml_hnsw (v real_l2_ops) WITH (m = 12, ef_construction = 48);
SELECT cmp_ok((pg_temp.recall('<->')).recall, '>=', 0.93::float8, 'l2 (m = 12): recall@10 after the build');

-- the planner: the index for ORDER BY distance LIMIT on 20,000 rows, a plain
-- scan for what it cannot answer
SELECT ok(pg_temp.plan('SELECT id FROM hn_items ORDER BY v <-> ''' || (SELECT q FROM hn_q WHERE qid = 1)::text || '''::real[] LIMIT 10')
          LIKE '%Index Scan using items_l2%', 'planner: ORDER BY <-> LIMIT 10 uses the index');
SELECT ok(pg_temp.plan('SELECT id FROM hn_items WHERE cat = 3 ORDER BY v <-> ''' || (SELECT q FROM hn_q WHERE qid = 1)::text || '''::real[] LIMIT 10')
          LIKE '%Index Scan using items_l2%', 'planner: a filtered ORDER BY <-> LIMIT 10 uses the index');
SELECT ok(pg_temp.plan('SELECT id FROM hn_items ORDER BY v <=> ''' || (SELECT q FROM hn_q WHERE qid = 1)::text || '''::real[] LIMIT 10')
          NOT LIKE '%items_l2%', 'planner: another distance does not use the l2 index');
SELECT ok(pg_temp.plan('SELECT id FROM hn_items WHERE cat = 3 LIMIT 10') NOT LIKE '%items_l2%',
          'planner: no ORDER BY, no index');
SELECT ok(pg_temp.plan('SELECT id FROM hn_items ORDER BY cat LIMIT 10') NOT LIKE '%items_l2%',
          'planner: ORDER BY another column, no index');

-- filtered queries: a WHERE keeping 10% and 1% of the rows still gives 10
SELECT is((pg_temp.recall('<->', 'cat = 3')).short, 0, 'filter keeping 10%: every query returns 10 rows');
SELECT cmp_ok((pg_temp.recall('<->', 'cat = 3')).recall, '>=', 0.9::float8, 'filter keeping 10%: recall@10');
SELECT is((pg_temp.recall('<->', 'rare')).short, 0, 'filter keeping 1%: every query returns 10 rows');
SELECT cmp_ok((pg_temp.recall('<->', 'rare')).recall, '>=', 0.85::float8, 'filter keeping 1%: recall@10');
-- beyond ef_search without a filter: LIMIT 100 with ef_search 40
SELECT cmp_ok((pg_temp.recall('<->', 'true', 100)).recall, '>=', 0.92::float8, 'LIMIT 100 above ef_search: recall@100');
-- a lower ef_search is a smaller search: the index pages 50 LIMIT 10 queries
-- read (buffer hits, not time) at ef_search 10 < 20 < 40.  The first batch
-- holds 10 rows at any ef_search; with a quarter of ef, ef_search 10 resumed
-- round after round and read more than 40 did
CREATE FUNCTION pg_temp.hits(ef int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE j json;
BEGIN
    PERFORM set_config('ecml.hnsw_ef_search', ef::text, true);
    SET LOCAL enable_seqscan = off;
    EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) SELECT count(*) FROM hn_q q, '
            'LATERAL (SELECT id FROM hn_items ORDER BY v <-> q.q LIMIT 10) s' INTO j;
    RESET enable_seqscan;
    RESET ecml.hnsw_ef_search;
    RETURN (j->0->'Plan'->>'Shared Hit Blocks')::bigint + coalesce((j->0->'Plan'->>'Shared Read Blocks')::bigint, 0);
END $$;
SELECT cmp_ok(pg_temp.hits(10), '<', pg_temp.hits(20), 'ef_search 10 reads fewer index pages than 20 (LIMIT 10)');
SELECT cmp_ok(pg_temp.hits(20), '<', pg_temp.hits(40), 'ef_search 20 reads fewer index pages than 40 (LIMIT 10)');
-- ecml.hnsw_max_scan_tuples bounds the search: too small a bound, too few rows
SET LOCAL ecml.hnsw_max_scan_tuples = 100;
SELECT cmp_ok((pg_temp.recall('<->', 'rare')).short, '>', 0, 'a small ecml.hnsw_max_scan_tuples stops a 1% filter early');
RESET ecml.hnsw_max_scan_tuples;

-- inserts: 5,000 new rows, found by themselves and by the queries
INSERT INTO hn_items
SELECT i, pg_temp.point(ctr), (hashint4(i) & 1023) % 10, (hashint4(i * 7) & 1023) % 100 = 0
FROM generate_series(20001, 25000) i JOIN hn_ctr ON hn_ctr.k = (hashint4(i * 3) & 1023) % 40 ORDER BY i;
SELECT cmp_ok((pg_temp.recall('<->')).recall, '>=', 0.95::float8, 'recall@10 after 5,000 inserts');
SELECT cmp_ok((SELECT avg(((SELECT i2.v <-> i1.v FROM hn_items i2 ORDER BY i2.v <-> i1.v LIMIT 1) = 0)::int)
               FROM hn_items i1 WHERE i1.id > 20000 AND i1.id % 25 = 0), '>=', 0.98::numeric,
              'an inserted row is its own nearest neighbour');

-- deletes + VACUUM: a third of the rows go, the graph is repaired
DELETE FROM hn_items WHERE hashint4(id::int) % 3 = 0;
COMMIT;
VACUUM hn_items;
BEGIN;
SET LOCAL search_path = public, ecml;
SELECT cmp_ok((pg_temp.recall('<->')).recall, '>=', 0.93::float8, 'recall@10 after deleting a third and VACUUM');
SELECT is((pg_temp.recall('<->', 'rare')).short, 0, 'after VACUUM a 1% filter still returns 10 rows');
SET LOCAL ecml.hnsw_strict_order = off;
SELECT is((SELECT count(*) FROM (SELECT id FROM hn_items ORDER BY v <-> (SELECT q FROM hn_q WHERE qid = 2) LIMIT 100000) s),
          (SELECT count(*) FROM hn_items), 'after VACUUM every row is reachable');
RESET ecml.hnsw_strict_order;
-- a second round of deletes and inserts
DELETE FROM hn_items WHERE id % 5 = 1;
INSERT INTO hn_items
SELECT i, pg_temp.point(ctr), (hashint4(i) & 1023) % 10, (hashint4(i * 7) & 1023) % 100 = 0
FROM generate_series(25001, 27000) i JOIN hn_ctr ON hn_ctr.k = (hashint4(i * 3) & 1023) % 40 ORDER BY i;
COMMIT;
VACUUM hn_items;
BEGIN;
SET LOCAL search_path = public, ecml;
SELECT cmp_ok((pg_temp.recall('<->')).recall, '>=', 0.93::float8, 'recall@10 after a second round of deletes, inserts and VACUUM');

-- a build that outgrows maintenance_work_mem continues on disk
SET LOCAL maintenance_work_mem = '1MB';
DROP INDEX items_l2;
CREATE INDEX items_cos ON hn_items USING ecml_hnsw (v real_cosine_ops);
RESET maintenance_work_mem;
SELECT cmp_ok((pg_temp.recall('<=>')).recall, '>=', 0.95::float8, 'a build continued on disk: recall@10');
SET LOCAL ecml.hnsw_strict_order = off;
SELECT is((SELECT count(*) FROM (SELECT id FROM hn_items ORDER BY v <=> (SELECT q FROM hn_q WHERE qid = 3) LIMIT 100000) s),
          (SELECT count(*) FROM hn_items), 'a build continued on disk reaches every row');
RESET ecml.hnsw_strict_order;

SELECT * FROM finish();
ROLLBACK;
DROP TABLE IF EXISTS hn_items, hn_ctr, hn_q;
