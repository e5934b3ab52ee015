-- examples/shop/train.sql: train the shop's models with the ecml
-- aggregates and store them in the ecml.models registry.
--
-- One procedure per model and shop.retrain(), which runs them all; the tour
-- calls it once, and examples/shop/schedule.sql has pg_cron call it every
-- night.  Every run saves a new version; the purchase and fraud models go
-- live only if they score as well as the live version on held-out rows.  Each model trains on everything except held-out rows (sessions
-- and payments whose id is divisible by 5), which shop.model_quality
-- scores.  shop.training_log keeps one row per training run.
\set ON_ERROR_STOP 1

CREATE TABLE IF NOT EXISTS shop.training_log (
    model text NOT NULL,
    trained_at timestamptz NOT NULL DEFAULT now(),
    rows bigint,
    seconds float8 NOT NULL
);

-- Approximate search straight on the catalogue: an HNSW index on the
-- product embeddings (docs/search.md, "Approximate search"), kept up to date by
-- PostgreSQL as products change, for ORDER BY embedding <=> q LIMIT k
-- queries with WHERE clauses (price, stock) the packed search can't take.
CREATE INDEX IF NOT EXISTS products_embedding_hnsw
    ON shop.products USING ecml_hnsw (embedding ecml.real_cosine_ops);

-- Record a finished training: the registry row's size, and how long it took.
CREATE OR REPLACE PROCEDURE shop.log_training(name text, started timestamptz)
LANGUAGE sql
BEGIN ATOMIC
    INSERT INTO shop.training_log (model, trained_at, rows, seconds)
    SELECT m.name, clock_timestamp(), m.rows, extract(epoch FROM clock_timestamp() - started)
    FROM ecml.models m WHERE m.name = log_training.name ORDER BY m.version DESC LIMIT 1;
END;

-- Purchase probability: logistic regression over session features.
CREATE OR REPLACE PROCEDURE shop.train_purchase()
LANGUAGE plpgsql
AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    -- a new version goes live only if its AUC on the held-out sessions is
    -- within 0.01 of the live version's (docs/lifecycle.md)
    PERFORM ecml.save_version('shop_purchase',
                              ecml.logreg_train(features, purchased,
                                                '{"l2": 0.0001, "feature_names": ["views", "carts", "searches",
                                                  "categories", "log_avg_price", "mobile", "desktop", "vip",
                                                  "new_user", "hour"]}'),
                              '{"holdout": "SELECT features, purchased FROM shop.session_features WHERE session_id % 5 = 0",
                                "tolerance": 0.01}')
    FROM shop.session_features
    WHERE session_id % 5 <> 0;
    CALL shop.log_training('shop_purchase', t0);
END
$$;

-- How much a buyer liked a product, read from the text of their reviews of
-- it by the sentiment classifier (shop.train_text): the expected sentiment
-- P(positive) + 0.5 P(neutral), in [0, 1], averaged over their reviews.
CREATE OR REPLACE FUNCTION shop.review_liking()
RETURNS TABLE(user_id bigint, product_id bigint, liking float8)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT r.user_id, r.product_id,
           avg((SELECT sum(c.probability * CASE c.label WHEN 'positive' THEN 1 WHEN 'neutral' THEN 0.5 ELSE 0 END)
                FROM ecml.text_classify(ecml.model('shop_sentiment'), ecml.tokenize(r.body, 'simple')) c))
    FROM shop.reviews r
    GROUP BY r.user_id, r.product_id;
END;

-- The recommender's training interactions: views (1), carts (3) and
-- purchases (5) outside the held-out sessions; with_sentiment scales every
-- interaction of a user with a product they reviewed by 2 x liking, so a
-- product its buyer praised counts double and one they panned hardly at
-- all (review sentiment feeding back into recommendations).
CREATE OR REPLACE FUNCTION shop.recs_interactions(with_sentiment boolean)
RETURNS TABLE(user_id bigint, product_id bigint, weight real)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT e.user_id, e.product_id,
           (CASE e.event_type WHEN 'view' THEN 1 WHEN 'cart' THEN 3 ELSE 5 END
            * CASE WHEN with_sentiment THEN coalesce(greatest(2 * l.liking, 0.05), 1) ELSE 1 END)::real
    FROM shop.events e
    LEFT JOIN (SELECT * FROM shop.review_liking() WHERE with_sentiment) l
           ON l.user_id = e.user_id AND l.product_id = e.product_id
    WHERE e.event_type IN ('view', 'cart', 'purchase')
      AND (e.session_id IS NULL OR e.session_id % 5 <> 0);
END;

-- Recommendations: implicit matrix factorization over the interactions,
-- weighted by review sentiment (shop.train_text trains the classifier
-- first; without it, unweighted).  The tour's summary trains the same
-- options without the weights to compare.
CREATE OR REPLACE FUNCTION shop.recs_options() RETURNS jsonb
LANGUAGE sql IMMUTABLE
RETURN '{"factors": 32, "iterations": 10, "alpha": 2, "regularization": 1.0, "seed": 7}'::jsonb;

CREATE OR REPLACE PROCEDURE shop.train_recs()
LANGUAGE plpgsql
AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    sentiment boolean := EXISTS (SELECT 1 FROM ecml.models WHERE name = 'shop_sentiment');
BEGIN
    PERFORM ecml.save_model('shop_recs',
                            ecml.mf_train(user_id, product_id, weight, shop.recs_options()))
    FROM shop.recs_interactions(sentiment);
    CALL shop.log_training('shop_recs', t0);
END
$$;

-- Search: the products' content embeddings packed for exact cosine top-k.
CREATE OR REPLACE PROCEDURE shop.train_search()
LANGUAGE plpgsql
AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    PERFORM ecml.save_model('shop_search', ecml.pack_vectors(product_id, embedding, '{"metric": "cosine"}'))
    FROM shop.products;
    CALL shop.log_training('shop_search', t0);
END
$$;

-- A query's embedding.  A shop would run its text encoder here; the demo
-- shop's stand-in is the centroid of the products in the category whose
-- name the query matches (or of all products when none does).
CREATE OR REPLACE FUNCTION shop.embed_query(query text) RETURNS real[]
LANGUAGE sql STABLE
RETURN (SELECT ecml.l2_normalize(array_agg(v ORDER BY j))
        FROM (SELECT j, avg(x)::real AS v
              FROM shop.products p
              JOIN shop.categories c USING (category_id)
              CROSS JOIN LATERAL unnest(p.embedding) WITH ORDINALITY AS u(x, j)
              WHERE lower(c.name) = lower(query)
                 OR NOT EXISTS (SELECT 1 FROM shop.categories c2 WHERE lower(c2.name) = lower(query))
              GROUP BY j) s);

-- Next action and next item: LSTMs over each session's event types and
-- over the products it viewed or carted, in time order.
CREATE OR REPLACE PROCEDURE shop.train_next()
LANGUAGE plpgsql
AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    PERFORM ecml.save_model('shop_next_action',
                            ecml.lstm_train(actions, '{"embedding_dim": 16, "hidden_size": 32,
                                                       "epochs": 5, "seed": 7}'))
    FROM (SELECT array_agg(event_type ORDER BY ts, event_id) AS actions
          FROM shop.events WHERE session_id % 5 <> 0 GROUP BY session_id) s;
    CALL shop.log_training('shop_next_action', t0);

    t0 := clock_timestamp();
    PERFORM ecml.save_model('shop_next_item',
                            ecml.lstm_train(items, '{"embedding_dim": 32, "hidden_size": 64,
                                                     "epochs": 8, "seed": 7}'))
    FROM (SELECT array_agg(product_id ORDER BY ts, event_id) AS items
          FROM shop.events WHERE session_id % 5 <> 0 AND event_type IN ('view', 'cart')
          GROUP BY session_id) s;
    CALL shop.log_training('shop_next_item', t0);
END
$$;

-- Fraud: gradient-boosted trees over payment features, and an isolation
-- forest that needs no labels.
CREATE OR REPLACE PROCEDURE shop.train_fraud()
LANGUAGE plpgsql
AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    PERFORM ecml.save_version('shop_fraud',
                              ecml.fraud_train(features, is_fraud,
                                               '{"n_trees": 100, "max_depth": 4, "learning_rate": 0.1,
                                                 "class_weight": "balanced", "seed": 7,
                                                 "feature_names": ["log_amount", "hour", "device_age_hours",
                                                   "account_age_days", "country_mismatch",
                                                   "card_payments_1h", "device_payments_24h",
                                                   "first_purchase"]}'),
                              '{"holdout": "SELECT features, is_fraud FROM shop.payment_features WHERE payment_id % 5 = 0",
                                "tolerance": 0.01}')
    FROM shop.payment_features
    WHERE payment_id % 5 <> 0;
    CALL shop.log_training('shop_fraud', t0);

    t0 := clock_timestamp();
    PERFORM ecml.save_model('shop_anomaly',
                            ecml.anomaly_train(features, '{"n_trees": 100, "sample_size": 256, "seed": 7}'))
    FROM shop.payment_features
    WHERE payment_id % 5 <> 0;
    CALL shop.log_training('shop_anomaly', t0);
END
$$;

-- Text: word vectors learned from the catalogue's titles and descriptions
-- (subwords, so misspellings land near the word), the products' text
-- embeddings packed for search, and a review sentiment classifier.
CREATE OR REPLACE PROCEDURE shop.train_text()
LANGUAGE plpgsql
AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    PERFORM ecml.save_model('shop_words',
                            ecml.word2vec_train(ecml.tokenize(p.title || ' ' || p.description, 'english'),
                                                '{"dim": 32, "window": 4, "epochs": 40, "min_count": 1,
                                                  "sample": 0, "minn": 3, "maxn": 5, "buckets": 200000, "seed": 7}'))
    FROM shop.products p;
    CALL shop.log_training('shop_words', t0);

    t0 := clock_timestamp();
    UPDATE shop.products
    SET text_embedding = ecml.embed_text(ecml.model('shop_words'), title || ' ' || description, 'english');
    PERFORM ecml.save_model('shop_text_search', ecml.pack_vectors(product_id, text_embedding, '{"metric": "cosine"}'))
    FROM shop.products WHERE text_embedding IS NOT NULL;
    CALL shop.log_training('shop_text_search', t0);

    t0 := clock_timestamp();
    PERFORM ecml.save_model('shop_sentiment',
                            ecml.text_classifier_train(ecml.tokenize(body, 'simple'), shop.sentiment(rating),
                                                       '{"dim": 16, "epochs": 20, "word_ngrams": 2, "seed": 7}'))
    FROM shop.reviews WHERE review_id % 5 <> 0;
    CALL shop.log_training('shop_sentiment', t0);
END
$$;

-- The label a review's stars stand for.
CREATE OR REPLACE FUNCTION shop.sentiment(rating int) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN CASE WHEN rating >= 4 THEN 'positive' WHEN rating = 3 THEN 'neutral' ELSE 'negative' END;

ALTER TABLE shop.products ADD COLUMN IF NOT EXISTS text_embedding real[];

-- A shopper's words as a full-text query: any of the lexemes may match.
CREATE OR REPLACE FUNCTION shop.or_query(query text) RETURNS tsquery
LANGUAGE sql IMMUTABLE
RETURN nullif(replace(plainto_tsquery('english', query)::text, ' & ', ' | '), '')::tsquery;

-- Three ways to answer a typed query, each the top k product ids ranked:
-- the text embedding through ecml.search, plain full-text search ranked by
-- ts_rank, and their reciprocal rank fusion (Cormack et al. 2009, k = 60)
-- over each one's top 50.
CREATE OR REPLACE FUNCTION shop.text_search(query text, method text, k int)
RETURNS TABLE(product_id bigint, rank bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH emb AS (
        SELECT s.id AS product_id, row_number() OVER (ORDER BY s.distance, s.id) AS rank
        FROM ecml.search(ecml.model('shop_text_search'),
                         ecml.embed_text(ecml.model('shop_words'), query, 'english'), 50) s
    ), fts AS (
        SELECT p.product_id,
               row_number() OVER (ORDER BY ts_rank(to_tsvector('english', p.title || ' ' || p.description),
                                                   shop.or_query(query)) DESC, p.product_id) AS rank
        FROM shop.products p
        WHERE to_tsvector('english', p.title || ' ' || p.description) @@ shop.or_query(query)
    ), hybrid AS (
        SELECT u.product_id, row_number() OVER (ORDER BY sum(1.0 / (60 + u.rank)) DESC, u.product_id) AS rank
        FROM (SELECT * FROM emb UNION ALL SELECT * FROM fts WHERE fts.rank <= 50) u
        GROUP BY u.product_id
    )
    SELECT r.product_id, r.rank FROM (
        SELECT * FROM emb WHERE method = 'embed_text'
        UNION ALL SELECT * FROM fts WHERE method = 'full-text'
        UNION ALL SELECT * FROM hybrid WHERE method = 'hybrid') r
    WHERE r.rank <= k ORDER BY r.rank;
END;

CREATE OR REPLACE PROCEDURE shop.retrain()
LANGUAGE plpgsql
AS $$
BEGIN
    CALL shop.train_purchase();
    -- text first: the recommender weighs interactions by review sentiment
    CALL shop.train_text();
    CALL shop.train_recs();
    CALL shop.train_search();
    CALL shop.train_next();
    CALL shop.train_fraud();
END
$$;
