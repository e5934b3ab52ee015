-- Vectors stored out of line are fetched from TOAST once per statement
-- (detoast_cache.c): distances computed from TOAST pointers equal those
-- from the same vectors stored inline, with more vectors in one statement
-- than the cache holds, through an index scan's re-rank and projection,
-- and when a row changes between two reads of one statement.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SELECT plan(9);
SET LOCAL search_path = public, ecml;

-- 150 vectors of 700 floats (2.8 kB): out of line in ext, inline in inl
SELECT setseed(0.3);
CREATE TABLE ext (id int PRIMARY KEY, v real[]);
ALTER TABLE ext ALTER COLUMN v SET STORAGE EXTERNAL;
CREATE TABLE inl (id int PRIMARY KEY, v real[]);
ALTER TABLE inl ALTER COLUMN v SET STORAGE PLAIN;
INSERT INTO ext
SELECT i, ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, 700) WHERE i > 0)
FROM generate_series(1, 150) i;
INSERT INTO inl SELECT * FROM ext;
ANALYZE ext;
ANALYZE inl;

SELECT cmp_ok((SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE relname = 'ext'), '>', 0::bigint,
              'ext''s vectors are stored out of line');
SELECT is((SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE relname = 'inl'), 0::bigint,
          'inl''s vectors are stored inline');

-- every pair, 22,500 calls per operator over 150 out-of-line vectors
CREATE TEMP TABLE pairs AS
SELECT a.id AS i, b.id AS j,
       ea.v <-> eb.v AS l2_ext, a.v <-> b.v AS l2_inl,
       ea.v <#> eb.v AS ip_ext, a.v <#> b.v AS ip_inl,
       ea.v <=> eb.v AS cos_ext, a.v <=> b.v AS cos_inl
FROM inl a JOIN ext ea USING (id), inl b JOIN ext eb ON eb.id = b.id;
SELECT is((SELECT count(*) FROM pairs), 22500::bigint, 'all pairs computed');
SELECT is((SELECT count(*) FROM pairs
           WHERE l2_ext IS DISTINCT FROM l2_inl OR ip_ext IS DISTINCT FROM ip_inl
              OR cos_ext IS DISTINCT FROM cos_inl), 0::bigint,
          'out-of-line vectors give the inline vectors'' distances, more vectors than cache slots');

-- one statement, many queries: an int8 index's re-rank and projection
CREATE INDEX ext_idx ON ext USING ecml_hnsw (v real_cosine_ops) WITH (storage = 'int8');
SET LOCAL ecml.hnsw_ef_search = 400;
SET LOCAL enable_seqscan = off;
CREATE TEMP TABLE knn_ext AS
SELECT q.id, ARRAY(SELECT id FROM ext ORDER BY v <=> q.v LIMIT 5) AS ids,
       ARRAY(SELECT v <=> q.v FROM ext ORDER BY v <=> q.v LIMIT 5) AS d
FROM ext q WHERE q.id % 10 = 0;
RESET enable_seqscan;
SELECT is((SELECT count(*) FROM (SELECT 1 FROM ext ORDER BY v <=> (SELECT v FROM ext WHERE id = 10) LIMIT 5) s),
          5::bigint, 'the index answers');
SELECT is((SELECT array_agg(ROW(k.id, k.ids, k.d)::text ORDER BY k.id) FROM knn_ext k),
          (SELECT array_agg(ROW(q.id,
                                ARRAY(SELECT id FROM inl ORDER BY v <=> q.v LIMIT 5),
                                ARRAY(SELECT v <=> q.v FROM inl ORDER BY v <=> q.v LIMIT 5))::text ORDER BY q.id)
           FROM inl q WHERE q.id % 10 = 0),
          'index scans over out-of-line vectors return the exact order and distances');

-- a row changes between two reads of one statement (a PL/pgSQL loop)
CREATE FUNCTION pg_temp.read_update_read() RETURNS float8[] LANGUAGE plpgsql AS $$
DECLARE
    q real[] := (SELECT v FROM inl WHERE id = 2);
    out float8[] := '{}';
BEGIN
    FOR r IN 1..3 LOOP
        out := out || (SELECT v <-> q FROM ext WHERE id = 1);
        UPDATE ext SET v = (SELECT v FROM inl WHERE id = 2 + r) WHERE id = 1;
    END LOOP;
    RETURN out;
END $$;
SELECT is(pg_temp.read_update_read(),
          ARRAY[(SELECT a.v <-> b.v FROM inl a, inl b WHERE a.id = 1 AND b.id = 2),
                (SELECT a.v <-> b.v FROM inl a, inl b WHERE a.id = 3 AND b.id = 2),
                (SELECT a.v <-> b.v FROM inl a, inl b WHERE a.id = 4 AND b.id = 2)],
          'a vector updated within one statement is read anew');
SELECT is((SELECT v <-> (SELECT v FROM inl WHERE id = 2) FROM ext WHERE id = 1),
          (SELECT a.v <-> b.v FROM inl a, inl b WHERE a.id = 5 AND b.id = 2),
          'and by the next statement');

-- too long for a vector: the limit error, out of line as inline
CREATE TABLE huge (v real[]);
ALTER TABLE huge ALTER COLUMN v SET STORAGE EXTERNAL;
INSERT INTO huge SELECT array_fill(1::real, ARRAY[20000]);
SELECT throws_ok('SELECT v <-> v FROM huge', '54000',
                 'first vector has 20000 elements, at most 16000 are supported',
                 'an out-of-line vector over the limit is refused');

SELECT * FROM finish();
ROLLBACK;
