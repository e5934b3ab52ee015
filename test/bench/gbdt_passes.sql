-- ecml.train('gbdt') (passes) against ecml.fraud_train (buffering) on
-- 200,000 rows x 20 continuous features, 10 trees of depth 5; AUC on
-- 50,000 held-out rows.  Run: psql -X -f test/bench/gbdt_passes.sql
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS ecml;
DROP TABLE IF EXISTS gbp_rows, gbp_out;
CREATE TABLE gbp_rows AS
SELECT i, f,
       (hashint4(i) & 65535) / 65536.0 < 1 / (1 + exp(-(1.2 * f[1] - 0.8 * f[2] * f[3] + 0.6 * sin(3 * f[4]) + 0.4 * f[5] - 0.3))) AS y
FROM (SELECT i, array_agg(((hashint4(i * 31 + j) & 65535) / 32768.0 - 1)::real ORDER BY j) AS f
      FROM generate_series(1, 250000) i, generate_series(1, 20) j GROUP BY i) s;
ANALYZE gbp_rows;
CREATE TABLE gbp_out (how text, seconds float8, m bytea);
DO $$
DECLARE t timestamptz; m bytea;
BEGIN
    t := clock_timestamp();
    SELECT ecml.fraud_train(f, y, '{"n_trees": 10, "max_depth": 5}') INTO m FROM gbp_rows WHERE i <= 200000;
    INSERT INTO gbp_out VALUES ('ecml.fraud_train', extract(epoch FROM clock_timestamp() - t), m);
    t := clock_timestamp();
    m := ecml.train('gbdt', 'SELECT f, y FROM gbp_rows WHERE i <= 200000', '{"n_trees": 10, "max_depth": 5}');
    INSERT INTO gbp_out VALUES ('ecml.train(''gbdt'')', extract(epoch FROM clock_timestamp() - t), m);
END $$;
SELECT how, round(seconds::numeric, 2) AS seconds,
       (ecml.model_info(m)->'metrics'->>'passes')::int AS passes,
       round((SELECT ecml.roc_auc(ecml.fraud_score(m, f), y) FROM gbp_rows WHERE i > 200000)::numeric, 4) AS holdout_auc
FROM gbp_out ORDER BY how;
SELECT max(abs(ecml.fraud_score(a.m, f) - ecml.fraud_score(b.m, f))) AS max_score_gap
FROM gbp_out a, gbp_out b, gbp_rows WHERE a.how LIKE 'ecml.fraud%' AND b.how LIKE 'ecml.train%' AND i > 200000;
DROP TABLE gbp_rows, gbp_out;
