-- examples/shop/schedule.sql: retrain every shop model each night with
-- pg_cron, into ecml.models, where scoring queries pick up the new models
-- by name (ecml.model('shop_purchase')) from their next statement on.
--
-- pg_cron must be preloaded and told which database runs jobs, in
-- postgresql.conf (the private clusters of examples/ and test/ do this):
--     shared_preload_libraries = 'pg_cron'
--     cron.database_name = '<this database>'
--     cron.use_background_workers = on   -- or let it connect via cron.host
-- and then, in that database, as a role that may train and save models:
--     psql -f examples/shop/schedule.sql
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pg_cron;

-- 03:15 every night, server time.  cron.schedule with an existing job name
-- replaces that job, so running this file again is harmless.
SELECT cron.schedule('ecml-shop-retrain', '15 3 * * *', 'CALL shop.retrain()');

-- What ran, and how it ended:
--     SELECT jobid, status, return_message, start_time, end_time
--     FROM cron.job_run_details ORDER BY start_time DESC LIMIT 10;
-- What the registry holds now:
--     SELECT name, kind, trained_at, rows, metrics FROM ecml.models;
-- To stop it:
--     SELECT cron.unschedule('ecml-shop-retrain');
SELECT jobid, schedule, command FROM cron.job WHERE jobname = 'ecml-shop-retrain';
