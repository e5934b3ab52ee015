-- Matrix factorization: quality on planted latent structure against a
-- popularity baseline, explicit ratings against a baseline, parallel-serial
-- equivalence, fold-in against trained vectors, the batch against single
-- recommendations, the registry and model cache, SQLSTATEs.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SELECT plan(24);

CREATE FUNCTION pg_temp.plan_json(q text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO r;
    RETURN r::jsonb;
END $$;

-- 3000 users, 600 items in 12 taste groups (group = id % 12).  Item
-- popularity falls off as a power law inside each group; 85% of a user's
-- 25 events are in the user's group.  Each user's event number 25 is held
-- out.  Popularity overall says little about a user's group, the latent
-- structure says a lot.
SELECT setseed(0.125);
CREATE TABLE events AS
SELECT u AS user_id, j AS seq,
       (CASE WHEN random() < 0.85
             THEN (floor(50 * random() ^ 2.5)::int * 12 + u % 12)
             ELSE floor(600 * random() ^ 2)::int END)::bigint AS item_id
FROM generate_series(1, 3000) u, generate_series(1, 25) j;
CREATE TABLE train AS SELECT DISTINCT user_id, item_id, 1::real AS value FROM events
    WHERE seq < 25 ORDER BY user_id, item_id;
CREATE TABLE test AS SELECT user_id, item_id FROM events e WHERE seq = 25
    AND NOT EXISTS (SELECT 1 FROM train t WHERE t.user_id = e.user_id AND t.item_id = e.item_id);
ANALYZE train;

CREATE TABLE model AS
SELECT ecml.mf_train(user_id, item_id, value, '{"factors": 16, "iterations": 10, "alpha": 5}') AS m FROM train;

CREATE TABLE recs AS
SELECT user_id, array_agg(item_id ORDER BY rank) AS rec
FROM ecml.mf_recommend_all((SELECT m FROM model), 10) GROUP BY user_id;
-- popularity baseline: the most frequent training items the user has not seen
CREATE TABLE pop AS
SELECT t.user_id,
       ARRAY(SELECT item_id FROM (SELECT item_id, count(*) AS n FROM train GROUP BY item_id) p
             WHERE item_id NOT IN (SELECT item_id FROM train x WHERE x.user_id = t.user_id)
             ORDER BY n DESC, item_id LIMIT 10) AS rec
FROM test t;
CREATE TABLE quality AS
SELECT (SELECT avg(ecml.hit_rate_at_k(r.rec, ARRAY[t.item_id], 10)) FROM test t JOIN recs r USING (user_id)) AS hr_mf,
       (SELECT avg(ecml.ndcg_at_k(r.rec, ARRAY[t.item_id], 10)) FROM test t JOIN recs r USING (user_id)) AS ndcg_mf,
       (SELECT avg(ecml.hit_rate_at_k(p.rec, ARRAY[t.item_id], 10)) FROM test t JOIN pop p USING (user_id)) AS hr_pop,
       (SELECT avg(ecml.ndcg_at_k(p.rec, ARRAY[t.item_id], 10)) FROM test t JOIN pop p USING (user_id)) AS ndcg_pop;

SELECT cmp_ok((SELECT hr_mf FROM quality), '>', 2 * (SELECT hr_pop FROM quality),
              format('held-out HR@10 %s is more than twice popularity''s %s',
                     (SELECT round(hr_mf::numeric, 3) FROM quality), (SELECT round(hr_pop::numeric, 3) FROM quality)));
SELECT cmp_ok((SELECT ndcg_mf FROM quality), '>', 2 * (SELECT ndcg_pop FROM quality),
              'held-out nDCG@10 is more than twice popularity''s');
SELECT cmp_ok((SELECT hr_mf FROM quality), '>', 0.25::float8, 'held-out HR@10 above 0.25');
SELECT cmp_ok((SELECT count(*) FROM recs r JOIN train t ON t.user_id = r.user_id AND t.item_id = ANY (r.rec)),
              '=', 0::bigint, 'no seen item is recommended');
SELECT cmp_ok((SELECT (ecml.model_info(m)->'metrics'->'loss_history'->>9)::float8 FROM model), '<',
              (SELECT (ecml.model_info(m)->'metrics'->'loss_history'->>0)::float8 FROM model), 'the loss goes down');
-- the Cholesky solver reaches the same quality
SELECT cmp_ok((SELECT avg(ecml.hit_rate_at_k(r.rec, ARRAY[t.item_id], 10))
               FROM test t JOIN (SELECT user_id, array_agg(item_id ORDER BY rank) AS rec
                                 FROM ecml.mf_recommend_all((SELECT ecml.mf_train(user_id, item_id, value,
                                        '{"factors": 16, "iterations": 10, "alpha": 5, "solver": "cholesky"}') FROM train), 10)
                                 GROUP BY user_id) r USING (user_id)),
              '>', (SELECT hr_mf - 0.03 FROM quality), 'Cholesky solver: the same held-out quality');

-- the batch gives the single-user recommendations (sgemm and the one-user
-- kernel round differently, so a near-tie may swap: allow 0.5% of users)
SELECT cmp_ok((SELECT count(*) FROM recs r
               WHERE r.rec IS DISTINCT FROM (SELECT array_agg(item_id ORDER BY ord)
                                            FROM ecml.mf_recommend((SELECT m FROM model), r.user_id, 10)
                                                 WITH ORDINALITY x(item_id, score, ord))),
              '<=', 15::bigint, 'mf_recommend_all equals mf_recommend for (nearly) every user');

-- fold-in of a user's training events agrees with the trained vector
CREATE TABLE folds AS
SELECT u.id, u.factors AS trained,
       ecml.mf_fold_in((SELECT m FROM model), ARRAY(SELECT item_id FROM train t WHERE t.user_id = u.id),
                       ARRAY(SELECT value FROM train t WHERE t.user_id = u.id)) AS folded
FROM ecml.mf_user_factors((SELECT m FROM model)) u WHERE u.id % 30 = 0;
SELECT cmp_ok((SELECT min((SELECT sum(a * b) / sqrt(sum(a * a) * sum(b * b)) FROM unnest(trained, folded) t(a, b))) FROM folds),
              '>', 0.98::float8, 'fold-in vectors point where the trained ones do (cosine > 0.98, CG training)');
SELECT cmp_ok((SELECT avg(n) FROM (SELECT count(*) AS n FROM folds f,
                  LATERAL (SELECT item_id FROM ecml.mf_recommend_vector((SELECT m FROM model), f.folded, 10,
                                  ARRAY(SELECT item_id FROM train t WHERE t.user_id = f.id))
                           INTERSECT
                           SELECT item_id FROM ecml.mf_recommend((SELECT m FROM model), f.id, 10)) x
                  GROUP BY f.id) s),
              '>=', 8::numeric, 'recommendations from the folded vector overlap the trained user''s (8 of 10 on average)');
CREATE TABLE chol AS SELECT ecml.mf_train(user_id, item_id, value, '{"factors": 16, "iterations": 3, "solver": "cholesky"}') AS m
FROM train WHERE user_id <= 500;
SELECT cmp_ok((SELECT max(abs(a - b))::float8
               FROM ecml.mf_user_factors((SELECT m FROM chol)) u,
                    LATERAL unnest(u.factors, ecml.mf_fold_in((SELECT m FROM chol),
                        ARRAY(SELECT item_id FROM train t WHERE t.user_id = u.id),
                        ARRAY(SELECT value FROM train t WHERE t.user_id = u.id))) x(a, b)
               WHERE u.id % 25 = 0),
              '<', 1e-4::float8, 'with the Cholesky solver fold-in reproduces the trained vectors');

-- parallel aggregation forced: a partial aggregate plan, the same model
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
-- PostgreSQL 16 renamed force_parallel_mode to debug_parallel_query
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
            THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS force_parallel \gset
SET LOCAL :force_parallel = on;
SELECT ok(EXISTS (SELECT 1 FROM (SELECT jsonb_path_query(p, 'strict $.**."Partial Mode"') AS mode
                                 FROM pg_temp.plan_json('SELECT ecml.mf_train(user_id, item_id, value) FROM train') p) s
                  WHERE mode = '"Partial"'),
          'the training aggregate runs as a parallel partial aggregate');
CREATE TABLE model_par AS
SELECT ecml.mf_train(user_id, item_id, value, '{"factors": 16, "iterations": 10, "alpha": 5}') AS m FROM train;
RESET :force_parallel;
RESET max_parallel_workers_per_gather;
SELECT is((SELECT ecml.model_info(m) - 'created_at' - 'metrics' - 'size_bytes' FROM model_par),
          (SELECT ecml.model_info(m) - 'created_at' - 'metrics' - 'size_bytes' FROM model),
          'parallel run: the same users, items, interactions and options');
-- ids are sorted and duplicates summed before ALS, so arrival order does not matter
SELECT is((SELECT array_agg(factors ORDER BY id) FROM ecml.mf_item_factors((SELECT m FROM model_par))),
          (SELECT array_agg(factors ORDER BY id) FROM ecml.mf_item_factors((SELECT m FROM model))),
          'parallel and serial training give identical factors');
SELECT is((SELECT ecml.model_info(m)->'metrics'->'loss_history' FROM model_par),
          (SELECT ecml.model_info(m)->'metrics'->'loss_history' FROM model),
          'and the same loss history');

-- explicit ratings with planted biases and 3 latent factors, 20% held out
SELECT setseed(0.375);
CREATE TABLE uf AS SELECT u, random() - 0.5 AS bu, ARRAY[random() * 2 - 1, random() * 2 - 1, random() * 2 - 1] AS v
    FROM generate_series(1, 800) u;
CREATE TABLE itf AS SELECT i, random() - 0.5 AS bi, ARRAY[random() * 2 - 1, random() * 2 - 1, random() * 2 - 1] AS w
    FROM generate_series(1, 300) i;
CREATE TABLE rt AS
SELECT DISTINCT ON (u, i) u, i,
       (3.5 + bu + bi + v[1] * w[1] + v[2] * w[2] + v[3] * w[3] + (random() - 0.5) * 0.5)::real AS r,
       random() < 0.2 AS held_out
FROM (SELECT u, 1 + floor(random() * 300)::int AS i FROM generate_series(1, 800) u, generate_series(1, 40)) p
JOIN uf USING (u) JOIN itf USING (i) ORDER BY u, i;
CREATE TABLE emodel AS
SELECT ecml.mf_train(u, i, r, '{"implicit": false, "factors": 3, "regularization": 0.05, "iterations": 15}') AS m
FROM rt WHERE NOT held_out;
CREATE TABLE ebase AS
SELECT i, avg(r) AS item_mean FROM rt WHERE NOT held_out GROUP BY i;
SELECT cmp_ok((SELECT ecml.rmse(ecml.mf_predict(m, u, i), r) FROM rt, emodel WHERE held_out),
              '<', 0.7 * (SELECT ecml.rmse(coalesce(item_mean, 3.5), r) FROM rt LEFT JOIN ebase USING (i) WHERE held_out),
              'explicit: held-out RMSE under 0.7 x the item-mean baseline''s');
SELECT cmp_ok((SELECT ecml.rmse(ecml.mf_predict(m, u, i), r) FROM rt, emodel WHERE held_out),
              '<', 0.45::float8, 'explicit: held-out RMSE below 0.45 (noise alone is 0.14)');
SELECT cmp_ok((SELECT corr(b.bias, uf.bu) FROM ecml.mf_user_factors((SELECT m FROM emodel)) b JOIN uf ON uf.u = b.id),
              '>', 0.8::float8, 'explicit: user biases recover the planted ones');

-- the registry: a model read straight from ecml.models (TOAST) is cached
-- by its header, and a replaced model is never served from the cache
SELECT ecml.save_model('tap_mf', m) FROM model;
CREATE TABLE r1 AS SELECT array_agg(item_id) AS a FROM ecml.mf_recommend((SELECT model FROM ecml.models WHERE name = 'tap_mf' AND live), 7, 10);
SELECT is((SELECT array_agg(item_id) FROM ecml.mf_recommend((SELECT model FROM ecml.models WHERE name = 'tap_mf' AND live), 7, 10)),
          (SELECT a FROM r1), 'the same registry model gives the same recommendations');
SELECT ecml.save_model('tap_mf', ecml.mf_train(user_id, item_id, value, '{"factors": 4, "seed": 9}')) FROM train;
SELECT is((SELECT array_agg(item_id) FROM ecml.mf_recommend((SELECT model FROM ecml.models WHERE name = 'tap_mf' AND live), 7, 10)),
          (SELECT array_agg(item_id) FROM ecml.mf_recommend((SELECT ecml.mf_train(user_id, item_id, value, '{"factors": 4, "seed": 9}') FROM train), 7, 10)),
          'a replaced registry model recommends like the model it was replaced with');

-- SQLSTATEs
SELECT throws_ok($$SELECT * FROM ecml.mf_recommend((SELECT m FROM model), 7, 0)$$, '22023', NULL, 'k = 0: invalid_parameter_value');
SELECT throws_ok($$SELECT ecml.mf_train(user_id, item_id, -value) FROM train$$, '22000', NULL, 'negative implicit value: data_exception');
SELECT throws_ok($$SELECT ecml.mf_fold_in(m, '{1,2}', '{1}') FROM model$$, '2202E', NULL, 'fold-in length mismatch: array_subscript_error');
SELECT throws_ok($$SELECT ecml.mf_predict(ecml.logreg_train(ARRAY[i]::real[], i % 2 = 0), 1, 1) FROM generate_series(1, 10) i$$,
                 'XX001', NULL, 'a model of another kind: data_corrupted');
SET LOCAL ecml.train_memory_limit = '1MB';
SELECT throws_ok($$SELECT ecml.mf_train(user_id, item_id, value) FROM train$$, '54000', NULL, 'memory cap: program_limit_exceeded');

SELECT * FROM finish();
ROLLBACK;
