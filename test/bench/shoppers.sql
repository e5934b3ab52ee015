-- Online Shoppers Intention (UCI): load the CSV, build feature sets A and B.
-- psql's standard input is online_shoppers_intention.csv (\copy ... FROM pstdin).
-- Test rows: data row number (0-based, file order) % 5 = 0.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP TABLE IF EXISTS shoppers, shop_feat, shop_cats, shop_models;

CREATE TABLE shoppers (
    rn bigint GENERATED ALWAYS AS IDENTITY,   -- 1, 2, ... in file order
    administrative float8, administrative_duration float8,
    informational float8, informational_duration float8,
    productrelated float8, productrelated_duration float8,
    bouncerates float8, exitrates float8, pagevalues float8, specialday float8,
    month text, operatingsystems int, browser int, region int, traffictype int,
    visitortype text, weekend boolean, revenue boolean
);
\copy shoppers (administrative, administrative_duration, informational, informational_duration, productrelated, productrelated_duration, bouncerates, exitrates, pagevalues, specialday, month, operatingsystems, browser, region, traffictype, visitortype, weekend, revenue) FROM pstdin WITH (FORMAT csv, HEADER true)

-- A: log1p of the 10 numeric columns, Weekend, returning visitor (the model
-- standardizes them itself with the training mean and std).
CREATE TABLE shop_feat AS
SELECT rn - 1 AS row_no,
       (rn - 1) % 5 = 0 AS is_test,
       revenue AS y,
       ARRAY[ln(1 + administrative), ln(1 + administrative_duration),
             ln(1 + informational), ln(1 + informational_duration),
             ln(1 + productrelated), ln(1 + productrelated_duration),
             ln(1 + bouncerates), ln(1 + exitrates), ln(1 + pagevalues),
             ln(1 + specialday),
             weekend::int, (visitortype = 'Returning_Visitor')::int]::real[] AS fa,
       jsonb_build_object('Month', month, 'VisitorType', visitortype,
                          'OperatingSystems', operatingsystems::text,
                          'Browser', browser::text, 'Region', region::text,
                          'TrafficType', traffictype::text) AS cats
FROM shoppers;

-- B: A plus one-hot columns for every (column, value) seen in training rows.
CREATE TABLE shop_cats AS
SELECT row_number() OVER (ORDER BY col, val) AS idx, col, val
FROM (SELECT DISTINCT c.key AS col, c.value AS val
      FROM shop_feat s, jsonb_each_text(s.cats) AS c
      WHERE NOT s.is_test) d;

ALTER TABLE shop_feat ADD COLUMN fb real[], ADD COLUMN tokens text[];
UPDATE shop_feat s
SET fb = s.fa || ARRAY(SELECT coalesce(s.cats ->> c.col = c.val, false)::int::real
                       FROM shop_cats c ORDER BY c.idx),
    tokens = ARRAY(SELECT c.key || '=' || c.value
                   FROM jsonb_each_text(s.cats) c ORDER BY c.key);

CREATE TABLE shop_models (name text PRIMARY KEY, model bytea NOT NULL);
ANALYZE shop_feat;
