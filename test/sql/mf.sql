-- Recommendations: matrix factorization.
CREATE EXTENSION IF NOT EXISTS ecml;
SET client_min_messages = warning;

-- 300 users, 200 items, five planted taste groups (user u and item i are in
-- group u % 5 and i % 5); nine in ten events fall in the user's own group.
-- Some (user, item) pairs repeat.
SELECT setseed(0.5);
CREATE TABLE mf_ev AS
SELECT u AS user_id,
       (CASE WHEN random() < 0.9 THEN floor(random() * 40)::int * 5 + u % 5
             ELSE floor(random() * 200)::int END)::bigint AS item_id,
       1::real AS value
FROM generate_series(1, 300) u, generate_series(1, 15) j;

CREATE TABLE mf_mdl AS
SELECT ecml.mf_train(user_id, item_id, value, '{"factors": 8, "iterations": 10}') AS m FROM mf_ev;

SELECT i->>'kind' AS kind, i->'users' AS users, i->'items' AS items,
       (i->'interactions')::int + (i->'duplicates_merged')::int AS interactions_plus_duplicates,
       i->'rows' AS rows, i->'factors' AS factors, i->'implicit' AS implicit,
       i->'biases' AS biases, i->'interactions_stored' AS stored,
       jsonb_array_length(i->'metrics'->'loss_history') AS losses,
       (i->'metrics'->'loss_history'->>0)::float8 > (i->'metrics'->'loss_history'->>9)::float8 AS loss_decreased
FROM mf_mdl, ecml.model_info(m) AS i;
SELECT (SELECT count(DISTINCT (user_id, item_id)) FROM mf_ev) AS distinct_pairs,
       (SELECT count(DISTINCT item_id) FROM mf_ev) AS distinct_items;

-- recommendations: k rows, best first, none of them seen, mostly in the
-- user's group
SELECT count(*) AS n,
       bool_and(item_id NOT IN (SELECT item_id FROM mf_ev WHERE user_id = 7)) AS unseen,
       sum((item_id % 5 = 7 % 5)::int) >= 8 AS own_group
FROM ecml.mf_recommend((SELECT m FROM mf_mdl), 7, 10);
SELECT bool_and(score <= prev) AS best_first
FROM (SELECT score, lag(score, 1, 'Infinity') OVER (ORDER BY ord) AS prev
      FROM ecml.mf_recommend((SELECT m FROM mf_mdl), 7, 10) WITH ORDINALITY r(item_id, score, ord)) s;
-- exclude_seen => false can return seen items, and scores every item
SELECT count(*) AS n, count(*) FILTER (WHERE item_id IN (SELECT item_id FROM mf_ev WHERE user_id = 7)) > 0 AS has_seen
FROM ecml.mf_recommend((SELECT m FROM mf_mdl), 7, 200, exclude_seen => false);
-- k beyond the item count: every unseen item once
SELECT count(*) = 200 - (SELECT count(DISTINCT item_id) FROM mf_ev WHERE user_id = 7) AS all_unseen,
       count(DISTINCT item_id) = count(*) AS distinct_items
FROM ecml.mf_recommend((SELECT m FROM mf_mdl), 7, 2147483647);
-- scores are the predictions
SELECT bool_and(abs(r.score - ecml.mf_predict(m, 7, r.item_id)) < 1e-5) AS score_is_prediction
FROM mf_mdl, ecml.mf_recommend(m, 7, 10) r;
-- mf_predict is the dot product of the exported factors
SELECT abs(ecml.mf_predict(m, 7, 12) -
           (SELECT sum(a * b) FROM unnest((SELECT factors FROM ecml.mf_user_factors(m) WHERE id = 7),
                                          (SELECT factors FROM ecml.mf_item_factors(m) WHERE id = 12)) t(a, b))) < 1e-5 AS dot
FROM mf_mdl;

-- the batch: k per user, ranks 1..k, the same lists as mf_recommend
SELECT count(*) AS n, count(DISTINCT user_id) AS users, min(rank) AS min_rank, max(rank) AS max_rank,
       avg((item_id % 5 = user_id % 5)::int) > 0.9 AS own_group
FROM ecml.mf_recommend_all((SELECT m FROM mf_mdl), 10);
SELECT count(*) AS mismatches
FROM (SELECT user_id, rank, item_id FROM ecml.mf_recommend_all((SELECT m FROM mf_mdl), 10) WHERE user_id IN (1, 42, 300)) a
FULL JOIN (SELECT u AS user_id, r.ord::int AS rank, r.item_id
           FROM (VALUES (1), (42), (300)) v(u), mf_mdl,
                ecml.mf_recommend(m, u, 10) WITH ORDINALITY r(item_id, score, ord)) b
USING (user_id, rank)
WHERE a.item_id IS DISTINCT FROM b.item_id;
SELECT count(*) AS seen_in_batch
FROM ecml.mf_recommend_all((SELECT m FROM mf_mdl), 10) r JOIN mf_ev USING (user_id, item_id);
SELECT count(*) AS n FROM ecml.mf_recommend_all((SELECT m FROM mf_mdl), 3, false);

-- similar items: itself excluded, cosine in [-1, 1], mostly the same group
SELECT count(*) AS n, bool_and(item_id <> 12) AS not_itself,
       bool_and(score BETWEEN -1.0001 AND 1.0001) AS cosine,
       sum((item_id % 5 = 12 % 5)::int) >= 4 AS same_group
FROM ecml.mf_similar_items((SELECT m FROM mf_mdl), 12, 5);

-- fold-in of a user's own events gives (nearly) the trained vector
SELECT (SELECT sum(a * b) / sqrt(sum(a * a) * sum(b * b))
        FROM unnest(ecml.mf_fold_in(m, ARRAY(SELECT item_id FROM mf_ev WHERE user_id = 7),
                                       ARRAY(SELECT value FROM mf_ev WHERE user_id = 7)),
                    (SELECT factors FROM ecml.mf_user_factors(m) WHERE id = 7)) t(a, b)) > 0.99 AS fold_in_agrees,
       array_length(ecml.mf_fold_in(m, '{2, 7, 12}', '{1, 1, 1}'), 1) AS dims,
       ecml.mf_fold_in(m, '{2, 2, 7}', '{1, 1, 1}') = ecml.mf_fold_in(m, '{7, 2}', '{1, 2}') AS duplicates_add_up,
       ecml.mf_fold_in(m, '{2, 99999}', '{1, 1}') = ecml.mf_fold_in(m, '{2}', '{1}') AS unknown_ignored,
       ecml.mf_fold_in(m, '{99998, 99999}', '{1, 1}') IS NULL AS all_unknown_null
FROM mf_mdl;
-- and recommending from it: excluded ids are left out, the group shows
SELECT count(*) AS n, bool_and(item_id NOT IN (2, 7, 12)) AS excluded,
       sum((item_id % 5 = 2)::int) >= 4 AS own_group
FROM mf_mdl, ecml.mf_recommend_vector(m, ecml.mf_fold_in(m, '{2, 7, 12}', '{1, 1, 1}'), 5, '{2, 7, 12}');
SELECT count(*) AS n FROM mf_mdl, ecml.mf_recommend_vector(m, ecml.mf_fold_in(m, '{2, 7, 12}', '{1, 1, 1}'), 5);

-- factor export
SELECT count(*) AS users, min(array_length(factors, 1)) AS dims, bool_and(bias IS NULL) AS no_bias,
       bool_and(id > lag) AS ascending
FROM (SELECT *, lag(id, 1, -1) OVER (ORDER BY id) AS lag FROM ecml.mf_user_factors((SELECT m FROM mf_mdl))) s;
SELECT count(*) AS items, min(array_length(factors, 1)) AS dims FROM ecml.mf_item_factors((SELECT m FROM mf_mdl));

-- ids are arbitrary bigints: negative and sparse ids map back
CREATE TABLE mf_odd AS SELECT user_id::bigint * -1000000007 AS user_id, item_id * 9007199254 - 4611686018427387904 AS item_id, value FROM mf_ev;
SELECT count(*) AS n, bool_and(item_id IN (SELECT item_id FROM mf_odd)) AS known_ids,
       bool_and(item_id NOT IN (SELECT item_id FROM mf_odd WHERE user_id = -7000000049)) AS unseen
FROM ecml.mf_recommend((SELECT ecml.mf_train(user_id, item_id, value, '{"factors": 8}') FROM mf_odd), -7000000049, 5);
SELECT min(id) = (SELECT min(user_id) FROM mf_odd) AS min_ok, max(id) = (SELECT max(user_id) FROM mf_odd) AS max_ok
FROM ecml.mf_user_factors((SELECT ecml.mf_train(user_id, item_id, value, '{"factors": 2, "iterations": 1}') FROM mf_odd));

-- duplicate rows add up: the same factors as one row with the summed value
SELECT bool_and(a.factors = b.factors) AS duplicates_add_up
FROM ecml.mf_user_factors((SELECT ecml.mf_train(u, i, v, '{"factors": 4}')
                           FROM (VALUES (1, 10, 1), (1, 10, 2), (2, 10, 1), (2, 11, 1), (1, 12, 1)) t(u, i, v))) a
JOIN ecml.mf_user_factors((SELECT ecml.mf_train(u, i, v, '{"factors": 4}')
                           FROM (VALUES (1, 10, 3), (2, 10, 1), (2, 11, 1), (1, 12, 1)) t(u, i, v))) b USING (id);

-- determinism: the same rows in the same order give the same factors
SELECT (SELECT array_agg(factors ORDER BY id) FROM ecml.mf_item_factors((SELECT ecml.mf_train(user_id, item_id, value ORDER BY user_id, item_id) FROM mf_ev)))
     = (SELECT array_agg(factors ORDER BY id) FROM ecml.mf_item_factors((SELECT ecml.mf_train(user_id, item_id, value ORDER BY user_id, item_id) FROM mf_ev))) AS deterministic;
-- another seed, other factors
SELECT (SELECT array_agg(factors ORDER BY id) FROM ecml.mf_item_factors((SELECT ecml.mf_train(user_id, item_id, value, '{"seed": 1}') FROM mf_ev)))
    <> (SELECT array_agg(factors ORDER BY id) FROM ecml.mf_item_factors((SELECT ecml.mf_train(user_id, item_id, value, '{"seed": 2}') FROM mf_ev))) AS seeded;

-- the Cholesky solver solves exactly: fold-in reproduces the trained vector
SELECT (SELECT max(abs(a - b))
        FROM unnest(ecml.mf_fold_in(m, ARRAY(SELECT item_id FROM mf_ev WHERE user_id = 7),
                                       ARRAY(SELECT value FROM mf_ev WHERE user_id = 7)),
                    (SELECT factors FROM ecml.mf_user_factors(m) WHERE id = 7)) t(a, b)) < 1e-4 AS exact
FROM (SELECT ecml.mf_train(user_id, item_id, value, '{"factors": 8, "solver": "cholesky", "iterations": 5}') AS m FROM mf_ev) s;
-- CG with enough steps converges to the Cholesky solution's quality
SELECT abs((ecml.model_info(a)->'metrics'->>'final_loss')::float8 /
           (ecml.model_info(b)->'metrics'->>'final_loss')::float8 - 1) < 0.01 AS cg_matches_cholesky
FROM (SELECT ecml.mf_train(user_id, item_id, value, '{"factors": 8, "solver": "cholesky"}') AS a,
             ecml.mf_train(user_id, item_id, value, '{"factors": 8, "solver": "cg", "cg_steps": 10}') AS b FROM mf_ev) s;

-- explicit mf_ratings: a rating from a planted user taste, item quality and
-- group affinity; distinct pairs
CREATE TABLE mf_ratings AS
SELECT DISTINCT ON (user_id, item_id) user_id, item_id,
       least(5, greatest(1, round(3 + (user_id % 3) * 0.5 - 0.5 + (item_id % 7) * 0.2 - 0.6
                                  + CASE WHEN user_id % 5 = item_id % 5 THEN 1 ELSE -0.5 END)))::real AS rating
FROM mf_ev ORDER BY user_id, item_id;
CREATE TABLE mf_emdl AS
SELECT ecml.mf_train(user_id, item_id, rating, '{"implicit": false, "factors": 4, "regularization": 0.05}') AS m FROM mf_ratings;
SELECT i->'implicit' AS implicit, i->'biases' AS biases,
       abs((i->>'global_mean')::float8 - (SELECT avg(rating) FROM mf_ratings)) < 1e-6 AS global_mean,
       (i->'metrics'->>'train_rmse')::float8 < 0.5 AS fits
FROM mf_emdl, ecml.model_info(m) AS i;
-- predictions are mf_ratings; rmse agrees with the training metric
SELECT abs(ecml.rmse(ecml.mf_predict(m, user_id, item_id), rating)
           - (ecml.model_info(m)->'metrics'->>'train_rmse')::float8) < 1e-4 AS rmse_matches,
       avg(ecml.mf_predict(m, user_id, item_id)) BETWEEN 1 AND 5 AS rating_scale
FROM mf_ratings, mf_emdl GROUP BY m;
SELECT count(*) AS n, bool_and(bias IS NOT NULL) AS biases FROM ecml.mf_user_factors((SELECT m FROM mf_emdl));
-- recommend scores are predicted mf_ratings; fold-in returns factors + bias
SELECT bool_and(abs(r.score - ecml.mf_predict(m, 7, r.item_id)) < 1e-4) AS score_is_rating
FROM mf_emdl, ecml.mf_recommend(m, 7, 5) r;
SELECT array_length(ecml.mf_fold_in(m, '{2, 7}', '{5, 1}'), 1) AS dims,
       (SELECT count(*) FROM ecml.mf_recommend_vector(m, ecml.mf_fold_in(m, '{2, 7}', '{5, 1}'), 3)) AS n
FROM mf_emdl;
-- the batch adds the biases like mf_recommend does, and a trained user's
-- vector (factors || bias) scores like the user
SELECT count(*) AS batch_mismatches
FROM (SELECT user_id, rank, item_id FROM ecml.mf_recommend_all((SELECT m FROM mf_emdl), 5) WHERE user_id IN (3, 77)) a
FULL JOIN (SELECT u AS user_id, r.ord::int AS rank, r.item_id
           FROM (VALUES (3), (77)) v(u), mf_emdl,
                ecml.mf_recommend(m, u, 5) WITH ORDINALITY r(item_id, score, ord)) b
USING (user_id, rank)
WHERE a.item_id IS DISTINCT FROM b.item_id;
SELECT bool_and(abs(r.score - ecml.mf_predict(m, 77, r.item_id)) < 1e-4) AS vector_scores_are_ratings
FROM mf_emdl, ecml.mf_recommend_vector(m, (SELECT factors || bias FROM ecml.mf_user_factors(m) WHERE id = 77), 5) r;
SELECT count(*) AS n, bool_and(item_id <> 12) AS not_itself FROM ecml.mf_similar_items((SELECT m FROM mf_emdl), 12, 3);
-- biased ALS-WR, fold-in with Cholesky reproduces a trained user (factors and bias)
SELECT (SELECT max(abs(a - b))
        FROM unnest(ecml.mf_fold_in(m, ARRAY(SELECT item_id FROM mf_ratings WHERE user_id = 9 ORDER BY item_id),
                                       ARRAY(SELECT rating FROM mf_ratings WHERE user_id = 9 ORDER BY item_id)),
                    (SELECT factors || bias FROM ecml.mf_user_factors(m) WHERE id = 9)) t(a, b)) < 1e-3 AS exact
FROM (SELECT ecml.mf_train(user_id, item_id, rating, '{"implicit": false, "factors": 4, "solver": "cholesky"}') AS m FROM mf_ratings) s;
-- without biases: no global mean, no bias columns
SELECT i->'biases' AS biases, (i->>'global_mean')::float8 AS global_mean
FROM ecml.model_info((SELECT ecml.mf_train(user_id, item_id, rating, '{"implicit": false, "biases": false}') FROM mf_ratings)) i;
-- negative mf_ratings are fine in explicit mode
SELECT ecml.model_info(ecml.mf_train(user_id, item_id, (rating - 3)::real, '{"implicit": false, "factors": 2}'))->'rows' AS rows FROM mf_ratings;

-- every option is accepted and recorded
SELECT ecml.model_info(ecml.mf_train(user_id, item_id, value,
    '{"factors": 3, "iterations": 2, "regularization": 0.5, "implicit": true, "alpha": 20,
      "solver": "cholesky", "cg_steps": 5, "biases": false, "seed": 7, "store_interactions": false}'))->'hyperparameters'
FROM mf_ev;
-- without stored interactions: smaller, and seen items cannot be excluded
SELECT length(a) > length(b) AS smaller,
       (SELECT count(*) FROM ecml.mf_recommend(b, 7, 5, false)) AS n_without_exclusion,
       (SELECT count(*) FROM ecml.mf_recommend_all(b, 2, false)) AS n_all
FROM (SELECT ecml.mf_train(user_id, item_id, value) AS a,
             ecml.mf_train(user_id, item_id, value, '{"store_interactions": false}') AS b FROM mf_ev) s;
SELECT * FROM ecml.mf_recommend((SELECT ecml.mf_train(user_id, item_id, value, '{"store_interactions": false}') FROM mf_ev), 7, 5);
SELECT * FROM ecml.mf_recommend_all((SELECT ecml.mf_train(user_id, item_id, value, '{"store_interactions": false}') FROM mf_ev), 5);

-- progress reporting runs (its NOTICE text, with timings, is not shown here)
SET ecml.progress = on;
SELECT length(ecml.mf_train(user_id, item_id, value, '{"iterations": 2}')) > 0 AS trained FROM mf_ev;
RESET ecml.progress;

-- GROUP BY: one model per group
SELECT user_id % 2 AS grp, ecml.model_info(ecml.mf_train(user_id, item_id, value))->'users' AS users
FROM mf_ev GROUP BY 1 ORDER BY 1;

-- NULL rows are skipped and counted
SELECT i->'rows' AS rows, i->'rows_skipped' AS skipped
FROM (SELECT ecml.model_info(ecml.mf_train(CASE WHEN user_id % 10 = 0 THEN NULL ELSE user_id END, item_id,
                                           CASE WHEN item_id % 7 = 0 THEN NULL ELSE value END)) AS i
      FROM mf_ev) s;

-- an unknown user: no rows, and a notice on how to serve them
SET client_min_messages = notice;
SELECT * FROM ecml.mf_recommend((SELECT m FROM mf_mdl), 123456, 5);
SET client_min_messages = warning;
SELECT ecml.mf_predict(m, 123456, 12) IS NULL AS unknown_user, ecml.mf_predict(m, 7, 123456) IS NULL AS unknown_item FROM mf_mdl;
SELECT count(*) AS n FROM ecml.mf_similar_items((SELECT m FROM mf_mdl), 123456, 5);

-- bad input: each a clear error
SELECT ecml.mf_train(user_id, item_id, value) FROM mf_ev WHERE false;
SELECT ecml.mf_train(NULL::bigint, item_id, value) FROM mf_ev;
SELECT ecml.mf_train(user_id, item_id, CASE WHEN user_id = 5 THEN 'NaN' ELSE value END) FROM mf_ev;
SELECT ecml.mf_train(user_id, item_id, CASE WHEN user_id = 5 THEN '-Infinity' ELSE value END) FROM mf_ev;
SELECT ecml.mf_train(user_id, item_id, CASE WHEN user_id = 5 THEN -1 ELSE value END) FROM mf_ev;
SELECT ecml.mf_train(user_id, item_id, value, '{"factors": 0}') FROM mf_ev;
SELECT ecml.mf_train(user_id, item_id, value, '{"factors": 100000}') FROM mf_ev;
SELECT ecml.mf_train(user_id, item_id, value, '{"iterations": 1.5}') FROM mf_ev;
SELECT ecml.mf_train(user_id, item_id, value, '{"regularization": -1}') FROM mf_ev;
SELECT ecml.mf_train(user_id, item_id, value, '{"alpha": "big"}') FROM mf_ev;
SELECT ecml.mf_train(user_id, item_id, value, '{"solver": "sgd"}') FROM mf_ev;
SELECT ecml.mf_train(user_id, item_id, value, '{"cg_steps": 0}') FROM mf_ev;
SELECT ecml.mf_train(user_id, item_id, value, '{"implicit": "yes"}') FROM mf_ev;
SELECT ecml.mf_train(user_id, item_id, value, '{"seed": -1}') FROM mf_ev;
SELECT ecml.mf_train(user_id, item_id, value, '{"factor": 8}') FROM mf_ev;
SELECT ecml.mf_train(user_id, item_id, value, '[1, 2]') FROM mf_ev;

SELECT * FROM ecml.mf_recommend((SELECT m FROM mf_mdl), 7, 0);
SELECT * FROM ecml.mf_recommend((SELECT m FROM mf_mdl), 7, -5);
SELECT * FROM ecml.mf_recommend_all((SELECT m FROM mf_mdl), 0);
SELECT * FROM ecml.mf_similar_items((SELECT m FROM mf_mdl), 12, 0);
SELECT * FROM ecml.mf_recommend_vector((SELECT m FROM mf_mdl), ecml.mf_fold_in((SELECT m FROM mf_mdl), '{2}', '{1}'), 0);
SELECT count(*) AS n FROM ecml.mf_recommend((SELECT m FROM mf_mdl), NULL, 5);
SELECT ecml.mf_fold_in(m, '{2, 7}', '{1}') FROM mf_mdl;
SELECT ecml.mf_fold_in(m, '{}', '{}') FROM mf_mdl;
SELECT ecml.mf_fold_in(m, '{2, NULL}', '{1, 1}') FROM mf_mdl;
SELECT ecml.mf_fold_in(m, '{2, 7}', '{1, NaN}') FROM mf_mdl;
SELECT ecml.mf_fold_in(m, '{2, 7}', '{1, Infinity}') FROM mf_mdl;
SELECT ecml.mf_fold_in(m, '{2, 7}', '{1, -2}') FROM mf_mdl;
SELECT ecml.mf_fold_in(m, '{{2, 7}}', '{{1, 1}}') FROM mf_mdl;
SELECT ecml.mf_fold_in(m, '{2, 7}', NULL) IS NULL AS strict FROM mf_mdl;
SELECT * FROM ecml.mf_recommend_vector((SELECT m FROM mf_mdl), '{1, 2, 3}', 5);
SELECT * FROM ecml.mf_recommend_vector((SELECT m FROM mf_mdl), '{1, 2, 3, 4, 5, 6, 7, NaN}', 5);
SELECT * FROM ecml.mf_recommend_vector((SELECT m FROM mf_mdl), '{1, 2, 3, 4, 5, 6, 7, 8}', 5, '{1, NULL}');
-- a model of another kind, garbage, a truncated and a corrupted model
CREATE TABLE mf_lr AS SELECT ecml.logreg_train(ARRAY[i % 7, i % 3]::real[], i % 2 = 0) AS m FROM generate_series(1, 100) i;
SELECT * FROM ecml.mf_recommend((SELECT m FROM mf_lr), 7, 5);
SELECT ecml.mf_predict(m, 7, 12) FROM mf_lr;
SELECT * FROM ecml.mf_recommend('\x0102'::bytea, 7, 5);
\set VERBOSITY terse
SELECT * FROM ecml.mf_recommend((SELECT substr(m, 1, length(m) - 100) FROM mf_mdl), 7, 5);
\set VERBOSITY default
SELECT * FROM ecml.mf_recommend((SELECT overlay(m placing '\xff'::bytea from 40) FROM mf_mdl), 7, 5);
SELECT ecml.mf_predict(overlay(m placing '\xffff'::bytea from 200), 7, 12) FROM mf_mdl;
SELECT ecml.mf_fold_in(overlay(m placing '\xffff'::bytea from 300), '{2}', '{1}') FROM mf_mdl;
SELECT * FROM ecml.mf_user_factors((SELECT overlay(m placing '\xffff'::bytea from 300) FROM mf_mdl));
-- the session is still usable after every error
SELECT 1 AS still_alive;
