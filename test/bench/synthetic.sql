-- Deterministic synthetic data for the speed, scoring and memory tests.
-- psql variables: rows, features.
-- Features: uniform on [-sqrt(3), sqrt(3)] (mean 0, std 1), so the model's
-- internal standardization is close to the identity and scikit-learn without
-- a scaler solves the same problem.  Labels: Bernoulli(sigmoid(-1 + x.beta)),
-- beta_j = 0.5 sin(j).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;   -- one process: one random() stream
DROP TABLE IF EXISTS t, models;
SELECT setseed(0.4242);
CREATE TABLE t AS
SELECT g.i AS id, x.f,
       random() < 1.0 / (1.0 + exp(-(-1.0 + x.z))) AS y
FROM generate_series(1, :rows) AS g(i)
CROSS JOIN LATERAL (
    SELECT array_agg(v ORDER BY j) AS f, sum(v * 0.5 * sin(j)) AS z
    FROM (SELECT j, ((random() * 2 - 1) * sqrt(3.0))::real AS v
          FROM generate_series(1, :features) AS j
          WHERE g.i > 0) s
) x;
VACUUM (FREEZE, ANALYZE) t;
CREATE TABLE models (name text PRIMARY KEY, model bytea NOT NULL);
RESET max_parallel_workers_per_gather;
