-- The memory guard (issue 16, item 4): ecml.train_memory_limit and
-- ecml.blas_threads are superuser-set, and every trainer's working buffers
-- and model count against the limit, named in the error.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ecml;

-- 1. an ordinary role can neither raise nor lower the guards
CREATE ROLE ecml_mg_role LOGIN;
GRANT USAGE ON SCHEMA ecml TO ecml_mg_role;
-- set before the library is loaded (a placeholder): dropped when it loads
\c -reuse-previous=on "user=ecml_mg_role"
SET client_min_messages = warning;
SET ecml.train_memory_limit = '100GB';
SET ecml.blas_threads = 64;
SELECT ecml.version();
SHOW ecml.train_memory_limit;
SHOW ecml.blas_threads;
-- once it is loaded, refused
SET ecml.train_memory_limit = '100GB';
SET ecml.train_memory_limit = '1MB';
BEGIN;
SET LOCAL ecml.train_memory_limit = '100GB';
ROLLBACK;
SELECT set_config('ecml.train_memory_limit', '100GB', false);
SET ecml.blas_threads = 64;
ALTER ROLE ecml_mg_role SET ecml.train_memory_limit = '100GB';
ALTER ROLE ecml_mg_role SET ecml.blas_threads = 64;
SHOW ecml.train_memory_limit;
SHOW ecml.blas_threads;
-- per-query settings stay open to everyone
SET ecml.progress = on;
SET ecml.hnsw_ef_search = 100;
RESET ecml.progress;
RESET ecml.hnsw_ef_search;

-- set at connection time (PGOPTIONS): dropped when the library loads
\c -reuse-previous=on "user=ecml_mg_role options='-c ecml.train_memory_limit=100GB -c ecml.blas_threads=64'"
SET client_min_messages = warning;
SELECT ecml.version();
SHOW ecml.train_memory_limit;
SHOW ecml.blas_threads;
\c -reuse-previous=on "user=postgres options=''"
SET client_min_messages = warning;
SELECT ecml.version() IS NOT NULL AS loaded;
SHOW ecml.train_memory_limit;

-- a superuser can delegate the setting
GRANT SET ON PARAMETER ecml.train_memory_limit TO ecml_mg_role;
SET ROLE ecml_mg_role;
SET ecml.train_memory_limit = '2GB';
SHOW ecml.train_memory_limit;
RESET ecml.train_memory_limit;
RESET ROLE;
REVOKE SET ON PARAMETER ecml.train_memory_limit FROM ecml_mg_role;
REVOKE USAGE ON SCHEMA ecml FROM ecml_mg_role;
DROP ROLE ecml_mg_role;

\set VERBOSITY terse
-- 2. Newton forced on 50,000 features: three 50,001^2 float8 matrices
-- (60 GB) are refused before anything is allocated, under the default limit
SET ecml.train_memory_limit = '1GB';
SET ecml.blas_threads = 1;
CREATE TEMP TABLE mg_wide AS
SELECT i, ARRAY(SELECT ((hashint4(i * 100003 + j) % 1000) / 1000.0)::real
                FROM generate_series(1, 50000) j) AS x,
       i % 2 = 0 AS y
FROM generate_series(1, 6) i;
SELECT ecml.logreg_train(x, y, '{"solver": "newton"}') FROM mg_wide;
-- L-BFGS trains the same rows: its history is 2 x 10 x p float8
SELECT ecml.model_info(ecml.logreg_train(x, y, '{"max_iter": 3}'))->>'solver' AS solver
FROM mg_wide;

-- within the limit Newton trains; below its working set it is refused
CREATE TEMP TABLE mg_mid AS
SELECT i, ARRAY(SELECT ((hashint4(i * 100003 + j) % 1000) / 1000.0)::real
                FROM generate_series(1, 1000) j) AS x,
       hashint4(i) % 2 = 0 AS y
FROM generate_series(1, 30) i;
SELECT ecml.model_info(ecml.logreg_train(x, y, '{"solver": "newton", "max_iter": 2}'))->>'solver' AS solver
FROM mg_mid;
SET ecml.train_memory_limit = '16MB';
SELECT ecml.logreg_train(x, y, '{"solver": "newton"}') FROM mg_mid;
-- the standard errors' Hessian of L-BFGS (up to 2,000 features) as well
SET ecml.train_memory_limit = '15MB';
SELECT ecml.logreg_train(x, y, '{"solver": "lbfgs"}') FROM mg_mid;
RESET ecml.train_memory_limit;
-- the L-BFGS history, with the rows and parameter vectors fitting
SET ecml.train_memory_limit = '6MB';
SELECT length(ecml.logreg_train(x, y, '{"solver": "lbfgs"}'))
FROM (SELECT i, x || x || x || x || x || x || x || x || x || x || x || x || x || x || x ||
             x || x || x || x || x || x || x || x || x || x AS x, y
      FROM mg_mid WHERE i <= 4) s;
RESET ecml.train_memory_limit;

-- 3. a wide Newton run is cancelled inside the Cholesky factorization.  The
-- last feature's square overflows float32 in the Hessian, so each of the
-- 18 damping retries of the factorization runs through nearly every column
-- (seconds each) before it fails; without an interrupt check inside it the
-- statement would end, minutes later, with "the Hessian is not positive
-- definite" instead of 57014.  Ten rows keep the Hessian pass before it
-- short, so that the timeout falls in the factorization.
CREATE TEMP TABLE mg_chol AS
SELECT i, ARRAY(SELECT ((hashint4(i * 100003 + j) % 1000) / 1000.0)::real
                FROM generate_series(1, 2999) j) || ARRAY[1e20::real] AS x,
       i % 2 = 0 AS y
FROM generate_series(1, 10) i;
SET statement_timeout = '5s';
SELECT ecml.logreg_train(x, y, '{"solver": "newton", "standardize": false}') FROM mg_chol;
RESET statement_timeout;
SELECT 1 AS alive;

-- 4. each trainer's buffers beyond its rows, under a small limit
-- MF: 3,000 users and items with one interaction each, 1,024 factors
SET ecml.train_memory_limit = '4MB';
SELECT ecml.mf_train(i, i, 1, '{"factors": 1024}') FROM generate_series(1, 3000) i;
RESET ecml.train_memory_limit;
-- LSTM: the activations of batches of 4,096 sequences x 9,999 steps
SELECT ecml.lstm_train(ARRAY[i % 5, i % 7, i % 3]::bigint[], '{"batch_size": 4096, "max_length": 10000}')
FROM generate_series(1, 50) i;
-- LSTM: the vocabulary, with 1 MB of rows holding 100,000 distinct tokens
SET ecml.train_memory_limit = '3MB';
SELECT ecml.lstm_train(ARRAY[i, i + 100000]::bigint[]) FROM generate_series(1, 50000) i;
RESET ecml.train_memory_limit;
-- GBDT: 4 MB of rows, 12 MB of bin codes and edges, then histograms of
-- 500 features x ~2,000 bins, 16 MB each
CREATE TEMP TABLE mg_gbdt AS
SELECT ARRAY(SELECT ((hashint4(i * 100003 + j) % 100000) / 100000.0)::real
             FROM generate_series(1, 500) j) AS x,
       hashint4(i) % 5 = 0 AS y
FROM generate_series(1, 2000) i;
SET ecml.train_memory_limit = '24MB';
SELECT ecml.fraud_train(x, y, '{"max_bins": 4096, "n_trees": 1}') FROM mg_gbdt;
RESET ecml.train_memory_limit;
-- GBDT: the trees, 100,000 of them
SET ecml.train_memory_limit = '8MB';
SELECT ecml.fraud_train(ARRAY[i % 10, i % 7]::real[], i % 3 = 0, '{"n_trees": 100000, "learning_rate": 0.0001}')
FROM generate_series(1, 200) i;
RESET ecml.train_memory_limit;
-- isolation forest: the nodes of 10,000 trees of 256 rows
SET ecml.train_memory_limit = '48MB';
SELECT ecml.anomaly_train(ARRAY[i % 101, i % 103]::real[], '{"n_trees": 10000}')
FROM generate_series(1, 300) i;
RESET ecml.train_memory_limit;
-- pack_vectors: the packed matrix beside the buffered rows
SET ecml.train_memory_limit = '3MB';
SELECT ecml.pack_vectors(i, ARRAY(SELECT (i + j)::real FROM generate_series(1, 128) j))
FROM generate_series(1, 3000) i;
RESET ecml.train_memory_limit;
-- pr_curve: its points, which the jsonb conversion makes large
SET ecml.train_memory_limit = '8MB';
SELECT ecml.pr_curve(i::float8, i % 3 = 0) FROM generate_series(1, 10000) i;
SELECT jsonb_array_length(ecml.pr_curve(i::float8, i % 3 = 0, 100)) AS points
FROM generate_series(1, 10000) i;
RESET ecml.train_memory_limit;
\set VERBOSITY default
