-- examples/shop/train.sql: train the shop's models with the ecml
-- aggregates and store them in the ecml.models registry.
--
-- It defines one procedure per model and shop.retrain(), which runs them
-- all; the tour calls it once, and examples/shop/schedule.sql has pg_cron
-- call it every night.  Each model trains on everything but the held-out
-- rows (ids divisible by 5), which the tour scores to report quality.
\set ON_ERROR_STOP 1

-- Purchase probability: logistic regression over session features.
CREATE OR REPLACE PROCEDURE shop.train_purchase()
LANGUAGE sql
BEGIN ATOMIC
    SELECT ecml.save_model('shop_purchase',
                           ecml.logreg_train(features, purchased,
                                             '{"l2": 0.0001, "feature_names": ["views", "carts", "searches",
                                               "categories", "log_avg_price", "mobile", "desktop", "vip",
                                               "new_user", "hour"]}'))
    FROM shop.session_features
    WHERE session_id % 5 <> 0;
END;

CREATE OR REPLACE PROCEDURE shop.retrain()
LANGUAGE plpgsql
AS $$
BEGIN
    CALL shop.train_purchase();
END
$$;
