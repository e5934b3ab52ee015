-- test/extra/load.sh: the shop data the load test scores and retrains on,
-- the first models in the registry, the retraining procedure and the table
-- the pgbench clients record their backend memory in.  Deterministic
-- (setseed); run in a fresh database.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ecml;
SELECT setseed(0.27);

-- sessions: 8 features and whether the session ended in a purchase
CREATE TABLE load_sessions AS
SELECT id, f, random() < 1 / (1 + exp(-(1.2 * f[1] - 0.8 * f[2] + 0.4 * f[3] - 0.5))) AS purchased
FROM (SELECT id, ARRAY[random() * 3, random() * 2, random(), random(), random(), random(), (id % 3), (id % 2)]::real[] AS f
      FROM generate_series(1, 20000) id) s;
ALTER TABLE load_sessions ADD PRIMARY KEY (id);

-- interactions: 2000 users, 1000 items in 10 taste groups
CREATE TABLE load_events AS
SELECT DISTINCT u AS user_id,
       (CASE WHEN random() < 0.8 THEN floor(100 * random() ^ 2)::int * 10 + u % 10
             ELSE floor(1000 * random())::int END)::bigint AS item_id
FROM generate_series(1, 2000) u, generate_series(1, 20);

-- products: 5000 embeddings of 32 dimensions
CREATE TABLE load_products AS
SELECT id::bigint AS id,
       ARRAY(SELECT (random() * 2 - 1) + (id % 16 = j % 16)::int FROM generate_series(1, 32) j)::real[] AS embedding
FROM generate_series(1, 5000) id;
ALTER TABLE load_products ADD PRIMARY KEY (id);

-- payments: 10 features (NaN for unknown), fraud from planted rules
CREATE TABLE load_payments AS
SELECT id, f, random() < 1 / (1 + exp(-(-4 + 4 * (f[1] > 0.8 AND f[2] < 0.3)::int + 3 * (f[3] > 0.9)::int + 0.5 * f[4]))) AS is_fraud
FROM (SELECT id, ARRAY[random(), random(), random(), random() * 2, random(), random(), random(), random(),
                       CASE WHEN id % 7 = 0 THEN 'NaN' ELSE random() END, (id % 5)]::real[] AS f
      FROM generate_series(1, 20000) id) s;
ALTER TABLE load_payments ADD PRIMARY KEY (id);
ANALYZE load_sessions, load_events, load_products, load_payments;

-- one retraining of the four models, replacing them in the registry (each
-- commits on its own, as a nightly job would); cycle varies the seed or
-- penalty, so that the MF and fraud models are new ones every cycle and
-- the logreg model every cycle of five (the search pack is the same bytes
-- each time, which the clients' model cache finds by its digest)
CREATE TABLE load_retrains (cycle int, model text, seconds float8, at timestamptz DEFAULT clock_timestamp());
CREATE PROCEDURE load_retrain(cycle int) LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
BEGIN
    t0 := clock_timestamp();
    PERFORM ecml.save_model('load_purchase',
        (SELECT ecml.logreg_train(f, purchased, jsonb_build_object('l2', 1e-4 * (1 + cycle % 5))) FROM load_sessions));
    INSERT INTO load_retrains (cycle, model, seconds) VALUES (cycle, 'load_purchase', extract(epoch FROM clock_timestamp() - t0));
    COMMIT;
    t0 := clock_timestamp();
    PERFORM ecml.save_model('load_recs',
        (SELECT ecml.mf_train(user_id, item_id, 1, jsonb_build_object('factors', 32, 'iterations', 8, 'seed', cycle)) FROM load_events));
    INSERT INTO load_retrains (cycle, model, seconds) VALUES (cycle, 'load_recs', extract(epoch FROM clock_timestamp() - t0));
    COMMIT;
    t0 := clock_timestamp();
    PERFORM ecml.save_model('load_search', (SELECT ecml.pack_vectors(id, embedding) FROM load_products));
    INSERT INTO load_retrains (cycle, model, seconds) VALUES (cycle, 'load_search', extract(epoch FROM clock_timestamp() - t0));
    COMMIT;
    t0 := clock_timestamp();
    PERFORM ecml.save_model('load_fraud',
        (SELECT ecml.fraud_train(f, is_fraud, jsonb_build_object('n_trees', 40, 'max_depth', 5, 'subsample', 0.8, 'seed', cycle)) FROM load_payments));
    INSERT INTO load_retrains (cycle, model, seconds) VALUES (cycle, 'load_fraud', extract(epoch FROM clock_timestamp() - t0));
    COMMIT;
END $$;

-- the pgbench clients' memory samples (see score.sql)
CREATE TABLE load_mem (client int, pid int, tx bigint, at timestamptz, bytes bigint, parsed_bytes bigint, parsed int);


-- the retrainer: retrain and replace the four models, pause, again, until
-- the deadline (one session; every model commits on its own)
CREATE PROCEDURE load_retrain_loop(seconds float8, pause float8) LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + make_interval(secs => seconds);
    c int := 1;
BEGIN
    WHILE clock_timestamp() < deadline LOOP
        CALL load_retrain(c);
        c := c + 1;
        PERFORM pg_sleep(pause);
        COMMIT;
    END LOOP;
END $$;

CALL load_retrain(0);
SELECT name, kind, octet_length(model) AS bytes FROM ecml.models ORDER BY name;
