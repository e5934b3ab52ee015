-- test/extra/load.sh: one pgbench transaction scores a shop visit with the
-- registry's current models: purchase probability of a session, ten
-- recommendations for a user, ten similar products, the fraud score of a
-- payment.  Each answer is checked (a probability in [0, 1], ten
-- recommendations, ten neighbours with the product itself first): a wrong
-- one divides by zero, which pgbench counts as an error.  Every 50th
-- transaction of a client first records the client backend's memory (the
-- sum of total_bytes in pg_backend_memory_contexts, taken between
-- transactions), and apart from it the bytes and the number of the model
-- cache's parsed models; pgbench keeps :tx per client across transactions
-- (started by -D tx=0).
\set tx :tx + 1
\set sid random(1, 20000)
\set uid random(1, 2000)
\set pid random(1, 5000)
\set pay random(1, 20000)
\if :tx % 50 = 1
INSERT INTO load_mem
SELECT :client_id, pg_backend_pid(), :tx, clock_timestamp(), sum(total_bytes),
       coalesce(sum(total_bytes) FILTER (WHERE name = 'ecml parsed model'), 0),
       count(*) FILTER (WHERE name = 'ecml parsed model')
FROM pg_backend_memory_contexts;
\endif
SELECT p, 1 / (p BETWEEN 0 AND 1)::int AS valid
FROM (SELECT ecml.logreg_predict(ecml.model('load_purchase'), f) AS p FROM load_sessions WHERE id = :sid) s;
SELECT count(*), max(score), 1 / (count(*) = 10)::int AS valid
FROM ecml.mf_recommend(ecml.model('load_recs'), :uid, 10);
SELECT count(*), max(distance), 1 / (count(*) = 10 AND (array_agg(id))[1] = :pid)::int AS valid
FROM ecml.search(ecml.model('load_search'), (SELECT embedding FROM load_products WHERE id = :pid), 10);
SELECT p, 1 / (p BETWEEN 0 AND 1)::int AS valid
FROM (SELECT ecml.fraud_score(ecml.model('load_fraud'), f) AS p FROM load_payments WHERE id = :pay) s;
