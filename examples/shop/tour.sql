-- examples/shop/tour.sql: one shopper's path through the shop, with every
-- ecml model answering along the way.  Run after generate.sql and
-- train.sql (examples/demo.sh does all three):
--   psql -X -v ON_ERROR_STOP=1 -d ecml_demo -f examples/shop/tour.sql
-- Held-out rows (ids divisible by 5) were not trained on; the shopper's
-- "current" session is one of them.
\set ON_ERROR_STOP 1
\set QUIET on
\pset footer off
SET client_min_messages = warning;

-- The shopper: the user with the most held-out sessions that ended in a
-- purchase (ties by id), and that user's latest such session.
SELECT s.user_id AS shopper, max(s.session_id) AS session
FROM shop.sessions s
WHERE s.session_id % 5 = 0
  AND EXISTS (SELECT 1 FROM shop.events e WHERE e.session_id = s.session_id AND e.event_type = 'purchase')
GROUP BY s.user_id
ORDER BY count(*) DESC, s.user_id
LIMIT 1 \gset

\echo
\echo '== The shopper'
SELECT u.user_id, u.country, u.segment, u.signup_date,
       (SELECT count(*) FROM shop.sessions s WHERE s.user_id = u.user_id) AS sessions,
       (SELECT count(*) FROM shop.orders o WHERE o.user_id = u.user_id) AS orders,
       d1.name AS true_favourite_department, b.name AS true_favourite_brand
FROM shop.users u
JOIN shop.user_taste t USING (user_id)
JOIN shop.categories d1 ON d1.category_id = t.fav_department
JOIN shop.brands b ON b.brand_id = t.fav_brand
WHERE u.user_id = :shopper;
\echo '   (the favourites are the generator''s hidden truth: the models never see them)'

-- An explanation as one line: feature +log-odds, largest first.
CREATE OR REPLACE FUNCTION shop.reasons(explanation jsonb) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN (SELECT string_agg(key || ' ' || to_char(value::numeric, 'SG0.00'), ', ' ORDER BY abs(value::numeric) DESC)
        FROM jsonb_each_text(explanation->'contributions'));

-- What the shopper does in the current session, step by step.
CREATE TEMP TABLE journey AS
SELECT row_number() OVER (ORDER BY e.ts, e.event_id) AS step, e.event_type, e.product_id, e.query, e.ts
FROM shop.events e WHERE e.session_id = :session;

-- The session's search, if it started with one.
SELECT coalesce((SELECT query FROM journey WHERE event_type = 'search' ORDER BY step LIMIT 1), 'skincare') AS query \gset

\echo
\echo '== 1. Search: the shopper types' :'query' '(ecml.search over the product embeddings)'
SELECT s.id AS product_id, p.title, c.name AS category, p.price, round(s.distance::numeric, 3) AS cosine_distance
FROM ecml.search(ecml.model('shop_search'), shop.embed_query(:'query'), 5) s
JOIN shop.products p ON p.product_id = s.id
JOIN shop.categories c USING (category_id)
ORDER BY s.distance, s.id;

\echo '   the same under 40, in plain SQL: ORDER BY embedding <=> q LIMIT 5 (an ecml_hnsw index serves it once the catalogue is large)'
SELECT p.product_id, p.title, c.name AS category, p.price,
       round((p.embedding OPERATOR(ecml.<=>) shop.embed_query(:'query'))::numeric, 3) AS cosine_distance
FROM shop.products p
JOIN shop.categories c USING (category_id)
WHERE p.price < 40
ORDER BY p.embedding OPERATOR(ecml.<=>) shop.embed_query(:'query')
LIMIT 5;

-- A query typed the way shoppers type it, for the same category.
SELECT q.query AS typed FROM shop.search_queries q
JOIN shop.categories c USING (category_id)
WHERE lower(c.name) = lower(:'query') ORDER BY q.query_id DESC LIMIT 1 \gset
\echo '   typed with other words and a typo:' :'typed' '(ecml.embed_text + ecml.search, full-text ts_rank, and their fusion)'
SELECT m.method, r.rank, p.title, p.description, c.name AS category
FROM (VALUES ('embed_text'), ('full-text'), ('hybrid')) m(method)
CROSS JOIN LATERAL shop.text_search(:'typed', m.method, 3) r
JOIN shop.products p USING (product_id)
JOIN shop.categories c USING (category_id)
ORDER BY m.method, r.rank;
\echo '   precision@10 of each over every typed query (the generator''s categories are the truth):'
SELECT m.method,
       round(avg((SELECT count(*) FROM shop.text_search(q.query, m.method, 10) r
                  JOIN shop.products p USING (product_id) WHERE p.category_id = q.category_id) / 10.0), 3)
           AS precision_at_10
FROM shop.search_queries q, (VALUES ('full-text'), ('embed_text'), ('hybrid')) m(method)
GROUP BY m.method ORDER BY precision_at_10, m.method;
\echo '   the words the catalogue taught (ecml.similar_words): synonyms and misspellings'
SELECT w AS word, string_agg(s.word, ', ' ORDER BY s.similarity DESC) AS nearest
FROM (VALUES ('jacket'), ('sofa'), ('smartphoe')) v(w),
     ecml.similar_words(ecml.model('shop_words'), w, 4) s
GROUP BY w ORDER BY w;

\echo
\echo '== 2. Recommendations on the home page: ecml.mf_recommend'
SELECT r.item_id AS product_id, p.title, c.name AS category, d.name AS department, p.price,
       round(r.score::numeric, 3) AS score
FROM ecml.mf_recommend(ecml.model('shop_recs'), :shopper, 5) r
JOIN shop.products p ON p.product_id = r.item_id
JOIN shop.categories c USING (category_id)
JOIN shop.categories d ON d.category_id = c.parent_id
ORDER BY r.score DESC, r.item_id;

-- The first product the shopper views in this session opens its page.
SELECT product_id AS viewed FROM journey WHERE event_type = 'view' ORDER BY step LIMIT 1 \gset

\echo
\echo '== 3. Product page: shoppers who liked this also liked (ecml.mf_similar_items)'
SELECT p.product_id, p.title, p.price FROM shop.products p WHERE p.product_id = :viewed;
SELECT s.item_id AS product_id, p.title, p.price, round(s.score::numeric, 3) AS similarity
FROM ecml.mf_similar_items(ecml.model('shop_recs'), :viewed, 5) s
JOIN shop.products p ON p.product_id = s.item_id
ORDER BY s.score DESC, s.item_id;
\echo '   next to them, products similar by their text (content-based: ecml.embed_text of title and'
\echo '   description, ecml.search), which needs no shopper to have bought them'
WITH liked AS (
    SELECT row_number() OVER (ORDER BY s.score DESC, s.item_id) AS rank, s.item_id
    FROM ecml.mf_similar_items(ecml.model('shop_recs'), :viewed, 5) s
), by_text AS (
    SELECT row_number() OVER (ORDER BY s.distance, s.id) AS rank, s.id, s.distance
    FROM ecml.search(ecml.model('shop_text_search'),
                     (SELECT text_embedding FROM shop.products WHERE product_id = :viewed), 6) s
    WHERE s.id <> :viewed
)
SELECT rank, pl.title AS shoppers_also_liked, pt.title || ': ' || pt.description AS similar_by_text,
       round((1 - t.distance)::numeric, 3) AS text_similarity
FROM liked l FULL JOIN by_text t USING (rank)
LEFT JOIN shop.products pl ON pl.product_id = l.item_id
LEFT JOIN shop.products pt ON pt.product_id = t.id
WHERE rank <= 5
ORDER BY rank;

-- The moment the shopper first puts something in the cart.
SELECT coalesce(min(step) FILTER (WHERE event_type = 'cart'), max(step)) AS cart_step FROM journey \gset

\echo
\echo '== 4. Cart: the session so far'
SELECT j.step, j.event_type, j.product_id, p.title, p.price
FROM journey j LEFT JOIN shop.products p USING (product_id)
WHERE j.step <= :cart_step ORDER BY j.step;

\echo
\echo '== 4a. What will the shopper do next? ecml.lstm_top over the actions so far'
SELECT p.token AS next_action, round(p.probability::numeric, 3) AS probability
FROM ecml.lstm_top(ecml.model('shop_next_action'),
                   (SELECT array_agg(event_type ORDER BY step) FROM journey WHERE step <= :cart_step), 3) p
ORDER BY p.probability DESC, p.token;
SELECT (SELECT event_type FROM journey WHERE step = :cart_step + 1) AS what_they_actually_did_next;

\echo
\echo '   ... and which product they will look at next (over the products viewed or carted)'
SELECT p.token AS product_id, pr.title, round(p.probability::numeric, 3) AS probability
FROM ecml.lstm_top(ecml.model('shop_next_item'),
                   (SELECT array_agg(product_id ORDER BY step) FROM journey
                    WHERE step <= :cart_step AND event_type IN ('view', 'cart')), 3) p
JOIN shop.products pr ON pr.product_id = p.token
ORDER BY p.probability DESC, p.token;

\echo
\echo '== 4b. Will this session end in a purchase? ecml.logreg_predict'
SELECT round(ecml.logreg_predict(ecml.model('shop_purchase'), f.features)::numeric, 3) AS purchase_probability,
       f.purchased AS actually_purchased
FROM shop.session_features f WHERE f.session_id = :session;

\echo
\echo '== 5. Payment: fraud score with its explanation (ecml.fraud_score, ecml.fraud_explain)'
\echo '   The shopper''s payment for this session, next to a planted card-testing charge.'
SELECT who, payment_id, amount, round(fraud::numeric, 4) AS fraud_probability,
       round(anomaly::numeric, 3) AS anomaly_score, top_reasons
FROM (
    SELECT 'shopper' AS who, p.payment_id, p.amount,
           ecml.fraud_score(ecml.model('shop_fraud'), f.features) AS fraud,
           ecml.anomaly_score(ecml.model('shop_anomaly'), f.features) AS anomaly,
           shop.reasons(ecml.fraud_explain(ecml.model('shop_fraud'), f.features, 3)) AS top_reasons, 1 AS ord
    FROM shop.payments p JOIN shop.payment_features f USING (payment_id)
    WHERE p.order_id = :session
    UNION ALL
    (SELECT 'card tester', p.payment_id, p.amount,
            ecml.fraud_score(ecml.model('shop_fraud'), f.features),
            ecml.anomaly_score(ecml.model('shop_anomaly'), f.features),
            shop.reasons(ecml.fraud_explain(ecml.model('shop_fraud'), f.features, 3)), 2
     FROM shop.payments p JOIN shop.payment_features f USING (payment_id)
     WHERE p.fraud_pattern = 'card_testing' AND p.payment_id % 5 = 0
     ORDER BY p.payment_id LIMIT 1)
) x ORDER BY ord;

\echo
\echo '   A block rule a DBA can write: the lowest score threshold that was right'
\echo '   90% of the time on held-out payments (ecml.threshold_for_precision)'
SELECT round(ecml.threshold_for_precision(ecml.fraud_score(ecml.model('shop_fraud'), features), is_fraud, 0.9)::numeric, 4)
       AS block_if_score_at_least
FROM shop.payment_features WHERE payment_id % 5 = 0;

\echo
\echo '== 6. Review: the shopper rates what they bought'
INSERT INTO shop.reviews
SELECT (SELECT coalesce(max(review_id), 0) FROM shop.reviews) + 1, :shopper, oi.product_id, 5,
       'Exactly what I was looking for.', now()
FROM shop.order_items oi WHERE oi.order_id = :session
ORDER BY oi.product_id LIMIT 1;
SELECT r.product_id, p.title, r.rating, r.body,
       (SELECT round(avg(rating), 2) FROM shop.reviews r2 WHERE r2.product_id = r.product_id) AS product_average
FROM shop.reviews r JOIN shop.products p USING (product_id)
WHERE r.review_id = (SELECT max(review_id) FROM shop.reviews);
\echo '   the product page reads its reviews: sentiment (ecml.text_label) and the top reasons (ecml.text_explain)'
SELECT r.body, ecml.text_label(ecml.model('shop_sentiment'), ecml.tokenize(r.body, 'simple')) AS sentiment,
       (SELECT string_agg(e.token, ', ' ORDER BY e.contribution DESC)
        FROM (SELECT * FROM ecml.text_explain(ecml.model('shop_sentiment'), ecml.tokenize(r.body, 'simple')) LIMIT 2) e)
           AS reasons
FROM shop.reviews r
WHERE r.review_id IN (SELECT min(review_id) FROM shop.reviews GROUP BY rating)
ORDER BY r.rating DESC;
\echo '   and feeds back into recommendations: every interaction of a buyer with a product they'
\echo '   reviewed weighs 2 x liking in shop_recs, liking = P(positive) + 0.5 P(neutral) read from the text'
SELECT r.rating, r.body, round(l.liking::numeric, 3) AS liking, round(greatest(2 * l.liking, 0.05)::numeric, 2) AS weight_factor
FROM shop.review_liking() l
JOIN shop.reviews r ON r.user_id = l.user_id AND r.product_id = l.product_id
WHERE r.review_id IN (SELECT min(review_id) FROM shop.reviews GROUP BY rating)
ORDER BY r.rating DESC;
\echo '   a typed review the model never saw:'
SELECT label, round(probability::numeric, 3) AS probability
FROM ecml.text_classify(ecml.model('shop_sentiment'), ecml.tokenize('not good, the zip broke after a week', 'simple'));

\echo
\echo '== 7. Fresh behaviour without retraining: the shopper clicks three products of'
\echo '   another department; ecml.mf_fold_in turns the clicks into a taste vector and'
\echo '   ecml.mf_recommend_vector recommends from it at once.'
CREATE TEMP TABLE clicks AS
SELECT p.product_id
FROM shop.products p JOIN shop.categories c USING (category_id)
JOIN shop.user_taste t ON t.user_id = :shopper
WHERE c.parent_id = t.fav_department % 8 + 1
ORDER BY p.popularity DESC, p.product_id LIMIT 3;
SELECT r.item_id AS product_id, p.title, d.name AS department, round(r.score::numeric, 3) AS score
FROM ecml.mf_recommend_vector(ecml.model('shop_recs'),
         ecml.mf_fold_in(ecml.model('shop_recs'),
                         (SELECT array_agg(product_id) FROM clicks),
                         (SELECT array_agg(3::real) FROM clicks)), 5,
         (SELECT array_agg(product_id) FROM clicks)) r
JOIN shop.products p ON p.product_id = r.item_id
JOIN shop.categories c USING (category_id)
JOIN shop.categories d ON d.category_id = c.parent_id
ORDER BY r.score DESC, r.item_id;

\echo
\echo '== 8. Retraining on the new events (what pg_cron runs nightly: CALL shop.retrain())'
INSERT INTO shop.events
SELECT (SELECT max(event_id) FROM shop.events) + row_number() OVER (ORDER BY product_id),
       NULL, :shopper, 'view', product_id, NULL, now()
FROM clicks;
CALL shop.retrain();
SELECT m.name AS model, m.kind, m.version, m.rows, m.trained_at
FROM ecml.models m WHERE m.name LIKE 'shop\_%' AND m.live ORDER BY m.name;

\echo
\echo '== 9. A damaged night: the label pipeline broke and shuffled who purchased.'
\echo '   The candidate is scored on the held-out sessions against the live version,'
\echo '   kept but not promoted; scoring keeps using the live model.'
SELECT ecml.save_version('shop_purchase', ecml.logreg_train(f.features, l.purchased),
                         '{"holdout": "SELECT features, purchased FROM shop.session_features WHERE session_id % 5 = 0",
                           "tolerance": 0.01}') AS saved_version
FROM (SELECT features, row_number() OVER (ORDER BY session_id) AS k
      FROM shop.session_features WHERE session_id % 5 <> 0) f
JOIN (SELECT purchased, row_number() OVER (ORDER BY hashint8(session_id)) AS k
      FROM shop.session_features WHERE session_id % 5 <> 0) l USING (k);
SELECT version, event, from_version, metric, round(value::numeric, 3) AS value,
       round(live_value::numeric, 3) AS live_value, tolerance
FROM ecml.model_history WHERE name = 'shop_purchase' ORDER BY at, version;

\echo
\echo '== Summary: every model, its training rows and time, and its quality on held-out rows'
\echo '   (computed in SQL with ecml''s metric aggregates)'
WITH t AS (
    SELECT DISTINCT ON (model) model, rows, seconds FROM shop.training_log ORDER BY model, trained_at DESC
), held_sessions AS (
    SELECT * FROM shop.session_features WHERE session_id % 5 = 0
), held_payments AS (
    SELECT * FROM shop.payment_features WHERE payment_id % 5 = 0
), seen AS (
    SELECT DISTINCT user_id, product_id FROM shop.events
    WHERE product_id IS NOT NULL AND session_id % 5 <> 0
), bought AS (
    SELECT e.user_id, array_agg(DISTINCT e.product_id) AS items
    FROM shop.events e
    WHERE e.session_id % 5 = 0 AND e.event_type = 'purchase'
      AND NOT EXISTS (SELECT 1 FROM seen s WHERE s.user_id = e.user_id AND s.product_id = e.product_id)
    GROUP BY e.user_id
), held_actions AS (
    SELECT array_agg(event_type ORDER BY ts, event_id) AS a
    FROM shop.events WHERE session_id % 5 = 0 GROUP BY session_id HAVING count(*) >= 2
), held_items AS (
    SELECT array_agg(product_id ORDER BY ts, event_id) AS i
    FROM shop.events WHERE session_id % 5 = 0 AND event_type IN ('view', 'cart')
    GROUP BY session_id HAVING count(*) >= 2
), q AS (
    SELECT 'shop_purchase' AS model, 'ROC AUC, purchase in held-out sessions' AS metric,
           (SELECT ecml.roc_auc(ecml.logreg_predict(ecml.model('shop_purchase'), features), purchased)
            FROM held_sessions) AS value
    UNION ALL
    SELECT 'shop_recs', 'hit rate @10, items bought in held-out sessions',
           (SELECT avg(ecml.hit_rate_at_k(
                        ARRAY(SELECT item_id FROM ecml.mf_recommend(ecml.model('shop_recs'), b.user_id, 10)
                              ORDER BY score DESC, item_id), b.items, 10))
            FROM bought b WHERE EXISTS (SELECT 1 FROM seen s WHERE s.user_id = b.user_id))
    UNION ALL
    SELECT 'shop_search', 'precision @10: results in the category searched for',
           (SELECT avg((SELECT count(*) FROM ecml.search(ecml.model('shop_search'), shop.embed_query(c.name), 10) s
                        JOIN shop.products p ON p.product_id = s.id
                        WHERE p.category_id = c.category_id) / 10.0)
            FROM shop.categories c WHERE c.parent_id IS NOT NULL)
    UNION ALL
    SELECT 'shop_next_action', 'accuracy of the next action, held-out sessions (always "view": '
           || (SELECT round(avg((a[cardinality(a)] = 'view')::int), 3) FROM held_actions) || ')',
           (SELECT avg((ecml.lstm_next(ecml.model('shop_next_action'), a[1:cardinality(a) - 1]) = a[cardinality(a)])::int)
            FROM held_actions)
    UNION ALL
    SELECT 'shop_next_item', 'hit rate @10 of the next product, held-out sessions',
           (SELECT avg(ecml.hit_rate_at_k(
                        ARRAY(SELECT token FROM ecml.lstm_top(ecml.model('shop_next_item'),
                                                              i[1:cardinality(i) - 1], 10)),
                        ARRAY[i[cardinality(i)]], 10))
            FROM held_items)
    UNION ALL
    SELECT 'shop_words', 'nouns whose 3 nearest words include a synonym',
           (SELECT avg((EXISTS (SELECT 1 FROM ecml.similar_words(ecml.model('shop_words'), n, 3) s
                                WHERE s.word = ANY (w.nouns) AND s.word <> n))::int)
            FROM shop.category_words w, unnest(w.nouns) n)
    UNION ALL
    SELECT 'shop_text_search', 'precision @10 of embed_text + ecml.search on typed queries',
           (SELECT avg((SELECT count(*) FROM shop.text_search(q.query, 'embed_text', 10) r
                        JOIN shop.products p USING (product_id) WHERE p.category_id = q.category_id) / 10.0)
            FROM shop.search_queries q)
    UNION ALL
    SELECT 'shop_sentiment', 'accuracy of review sentiment, held-out reviews',
           (SELECT avg((ecml.text_label(ecml.model('shop_sentiment'), ecml.tokenize(body, 'simple'))
                        = shop.sentiment(rating))::int)
            FROM shop.reviews WHERE review_id % 5 = 0 AND created_at < now() - interval '1 hour')
    UNION ALL
    SELECT 'shop_fraud', 'average precision, held-out payments',
           (SELECT ecml.average_precision(ecml.fraud_score(ecml.model('shop_fraud'), features), is_fraud)
            FROM held_payments)
    UNION ALL
    SELECT 'shop_anomaly', 'ROC AUC against fraud labels, held-out payments',
           (SELECT ecml.roc_auc(ecml.anomaly_score(ecml.model('shop_anomaly'), features), is_fraud)
            FROM held_payments)
)
SELECT q.model, m.kind, t.rows AS trained_on_rows, round(t.seconds::numeric, 3) AS training_s,
       q.metric, round(q.value::numeric, 3) AS value
FROM q JOIN t USING (model) JOIN ecml.models m ON m.name = q.model AND m.live
ORDER BY q.model;

\echo
\echo '   What the text adds, against the generator''s hidden truth (held-out purchases, categories):'
\echo '   the recommender trained on the same interactions with and without the review-sentiment'
\echo '   weights, and the products shown next to every product page'
WITH seen AS (
    SELECT DISTINCT user_id, product_id FROM shop.events
    WHERE product_id IS NOT NULL AND session_id % 5 <> 0
), bought AS (
    SELECT e.user_id, array_agg(DISTINCT e.product_id) AS items
    FROM shop.events e
    WHERE e.session_id % 5 = 0 AND e.event_type = 'purchase'
      AND NOT EXISTS (SELECT 1 FROM seen s WHERE s.user_id = e.user_id AND s.product_id = e.product_id)
      AND EXISTS (SELECT 1 FROM seen s WHERE s.user_id = e.user_id)
    GROUP BY e.user_id
), recs AS (
    SELECT false AS weighted, ecml.mf_train(user_id, product_id, weight, shop.recs_options()) AS m
    FROM shop.recs_interactions(false)
    UNION ALL
    SELECT true, ecml.mf_train(user_id, product_id, weight, shop.recs_options())
    FROM shop.recs_interactions(true)
)
SELECT 'home page: recommendations ' || CASE WHEN r.weighted THEN 'weighted by review sentiment' ELSE 'unweighted' END AS shown,
       'hit rate @10, items bought in held-out sessions' AS figure,
       round(avg(ecml.hit_rate_at_k(ARRAY(SELECT item_id FROM ecml.mf_recommend(r.m, b.user_id, 10)
                                          ORDER BY score DESC, item_id), b.items, 10))::numeric, 3) AS value
FROM recs r, bought b
GROUP BY r.weighted
UNION ALL
SELECT 'product page: shoppers who liked this also liked', 'share of the 5 shown in the product''s category',
       round(avg((SELECT count(*) FROM ecml.mf_similar_items(ecml.model('shop_recs'), p.product_id, 5) s
                  JOIN shop.products q ON q.product_id = s.item_id
                  WHERE q.category_id = p.category_id) / 5.0)::numeric, 3)
FROM shop.products p
UNION ALL
SELECT 'product page: similar by text', 'share of the 5 shown in the product''s category',
       round(avg((SELECT count(*) FROM ecml.search(ecml.model('shop_text_search'), p.text_embedding, 6) s
                  JOIN shop.products q ON q.product_id = s.id
                  WHERE s.id <> p.product_id AND q.category_id = p.category_id) / 5.0)::numeric, 3)
FROM shop.products p WHERE p.text_embedding IS NOT NULL;
\echo
\echo '   Versions: the live one, the last candidate and whether it went live'
SELECT n.name AS model, l.version AS live_version, c.version AS last_candidate,
       c.live AS candidate_promoted
FROM (SELECT DISTINCT name FROM ecml.models WHERE name LIKE 'shop\_%') n
CROSS JOIN LATERAL (SELECT version FROM ecml.models WHERE name = n.name AND live) l
CROSS JOIN LATERAL (SELECT version, live FROM ecml.models WHERE name = n.name
                    ORDER BY version DESC LIMIT 1) c
ORDER BY n.name;
