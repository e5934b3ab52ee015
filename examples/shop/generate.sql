-- examples/shop/generate.sql: a deterministic demo shop in schema "shop".
--
--   psql -v scale=1 -f examples/shop/generate.sql      (scale 1: ~2k users)
--
-- Everything is derived from hashes of ids (shop.u01), not from random(),
-- so the same scale gives the same shop on any run and any plan, parallel
-- or not.  Users have latent tastes (two favourite departments, a favourite
-- brand, a price sensitivity) that drive what they view, cart, buy and how
-- they rate it, so recommendations and next-item prediction have something
-- true to find; shop.user_taste keeps that ground truth for checking.
-- Fraud is planted the way it looks in payment data: card-testing bursts of
-- small night-time amounts, large first purchases from new devices in
-- another country, and high velocity.
\set ON_ERROR_STOP 1
\if :{?scale}
\else
\set scale 1
\endif
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS shop CASCADE;
CREATE SCHEMA shop;
SET search_path = shop, public;
-- one plan shape on every machine: nothing here needs parallel workers
SET max_parallel_workers_per_gather = 0;

-- A uniform number in [0, 1) from (key, salt): the generator's only source
-- of randomness.
CREATE FUNCTION shop.u01(key bigint, salt bigint) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ((hashint8extended(key, salt) >> 11) & ((1::bigint << 52) - 1))::float8 / (1::bigint << 52)::float8;

-- A standard normal from (key, salt), Box-Muller.
CREATE FUNCTION shop.gauss(key bigint, salt bigint) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN sqrt(-2 * ln(1 - shop.u01(key, salt))) * cos(2 * pi() * shop.u01(key, salt + 7919));

CREATE TABLE shop.params AS
SELECT :scale::float8 AS scale,
       greatest(200, (2000 * :scale)::int) AS n_users,
       greatest(200, (1200 * :scale)::int) AS n_products,
       greatest(1000, (12000 * :scale)::int) AS n_sessions,
       timestamptz '2026-08-01 00:00+00' AS t0,
       90 AS days;

-- ---- catalogue: 8 departments x 4 categories, 5 brands per department ----
CREATE TABLE shop.categories (
    category_id int PRIMARY KEY,
    parent_id int REFERENCES shop.categories,
    name text NOT NULL
);
INSERT INTO shop.categories
SELECT d, NULL, name
FROM unnest(ARRAY['Electronics', 'Home', 'Fashion', 'Sports', 'Beauty', 'Toys', 'Books', 'Grocery'])
     WITH ORDINALITY AS t(name, d);
INSERT INTO shop.categories
SELECT 8 + (d - 1) * 4 + k, d, sub[(d - 1) * 4 + k]
FROM generate_series(1, 8) d, generate_series(1, 4) k,
     (SELECT ARRAY['Phones', 'Laptops', 'Headphones', 'Cameras',
                   'Kitchen', 'Furniture', 'Lighting', 'Bedding',
                   'Shoes', 'Jackets', 'Dresses', 'Bags',
                   'Running', 'Cycling', 'Fitness', 'Outdoor',
                   'Skincare', 'Makeup', 'Fragrance', 'Haircare',
                   'Puzzles', 'Building Sets', 'Dolls', 'Board Games',
                   'Fiction', 'Cookbooks', 'Travel Guides', 'Science',
                   'Coffee', 'Tea', 'Snacks', 'Pantry']) s(sub);

CREATE TABLE shop.brands (
    brand_id int PRIMARY KEY,
    department_id int NOT NULL REFERENCES shop.categories,
    name text NOT NULL
);
INSERT INTO shop.brands
SELECT b, (b - 1) % 8 + 1,
       (ARRAY['Nova', 'Arden', 'Kestrel', 'Lumen', 'Vireo', 'Halden', 'Orca', 'Tamsin',
              'Brio', 'Calder', 'Fenwick', 'Juno', 'Marlow', 'Pike', 'Quill', 'Rowan',
              'Sable', 'Tern', 'Umber', 'Vale', 'Wren', 'Yarrow', 'Zephyr', 'Alder',
              'Birch', 'Cedar', 'Dune', 'Ember', 'Flint', 'Garnet', 'Heron', 'Iris',
              'Jasper', 'Kite', 'Larch', 'Moss', 'Nettle', 'Opal', 'Poppy', 'Reed'])[b]
FROM generate_series(1, 40) b;

CREATE TABLE shop.products (
    product_id bigint PRIMARY KEY,
    category_id int NOT NULL REFERENCES shop.categories,
    brand_id int NOT NULL REFERENCES shop.brands,
    title text NOT NULL,
    price numeric(10, 2) NOT NULL,
    popularity float8 NOT NULL,     -- relative, power law within a department
    embedding real[] NOT NULL       -- 64-d content embedding, unit length
);
-- Embedding: the category's direction, plus the brand's, plus the item's own
-- noise, normalized: products of a category and brand cluster together.
-- Written by the INSERT itself: rows inserted empty and updated afterwards
-- leave dead versions with empty vectors behind, which an index build
-- while an older snapshot is open has to step over.
INSERT INTO shop.products (product_id, category_id, brand_id, title, price, popularity, embedding)
SELECT p, c.category_id, b.brand_id,
       b.name || ' ' || c.name || ' ' || (100 + p % 900)::text,
       round((exp(ln(base.price) + 0.5 * shop.gauss(p, 3)))::numeric, 2),
       1.0 / power(1 + floor(shop.u01(p, 4) * 200), 0.9),
       (SELECT array_agg((x / norm)::real ORDER BY j)
        FROM (SELECT j, x, sqrt(sum(x * x) OVER ()) AS norm
              FROM (SELECT j, shop.gauss(c.category_id, 1000 + j) + 0.6 * shop.gauss(b.brand_id, 2000 + j)
                              + 0.35 * shop.gauss(p, 3000 + j) AS x
                    FROM generate_series(1, 64) j) s) n)
FROM generate_series(1000, 999 + (SELECT n_products FROM shop.params)) p
CROSS JOIN LATERAL (SELECT 9 + floor(shop.u01(p, 1) * 32)::int AS category_id) pick
JOIN shop.categories c USING (category_id)
JOIN shop.brands b ON b.department_id = c.parent_id
                  AND b.brand_id = c.parent_id + 8 * floor(shop.u01(p, 2) * 5)::int
JOIN (VALUES (1, 350), (2, 90), (3, 70), (4, 80), (5, 30), (6, 35), (7, 18), (8, 9)) base(dept, price)
  ON base.dept = c.parent_id;

CREATE VIEW shop.product_departments AS
SELECT p.product_id, c.parent_id AS department_id, p.brand_id, p.price,
       (SELECT base FROM (VALUES (1, 350), (2, 90), (3, 70), (4, 80), (5, 30), (6, 35), (7, 18), (8, 9)) b(d, base)
        WHERE b.d = c.parent_id) AS department_price
FROM shop.products p JOIN shop.categories c USING (category_id);

-- ---- users and their hidden tastes ----
CREATE TABLE shop.users (
    user_id bigint PRIMARY KEY,
    signup_date date NOT NULL,
    country text NOT NULL,
    segment text NOT NULL CHECK (segment IN ('new', 'regular', 'vip'))
);
INSERT INTO shop.users
SELECT u,
       ((SELECT t0 FROM shop.params) - interval '700 days' + shop.u01(u, 1) * interval '780 days')::date,
       (ARRAY['US', 'US', 'US', 'DE', 'DE', 'GB', 'GB', 'FR', 'PL', 'NL'])[1 + floor(shop.u01(u, 2) * 10)::int],
       CASE WHEN shop.u01(u, 3) < 0.10 THEN 'vip' WHEN shop.u01(u, 3) < 0.70 THEN 'regular' ELSE 'new' END
FROM generate_series(1, (SELECT n_users FROM shop.params)) u;

-- The ground truth the models should find (a generator output, not
-- something a shop would have).
CREATE TABLE shop.user_taste (
    user_id bigint PRIMARY KEY REFERENCES shop.users,
    fav_department int NOT NULL,
    second_department int NOT NULL,
    fav_brand int NOT NULL,
    price_sensitivity float8 NOT NULL
);
INSERT INTO shop.user_taste
SELECT u, fav, (fav + floor(shop.u01(u, 12) * 7)::int) % 8 + 1,
       fav + 8 * floor(shop.u01(u, 13) * 5)::int, shop.u01(u, 14)
FROM (SELECT u, 1 + floor(shop.u01(u, 11) * 8)::int AS fav
      FROM generate_series(1, (SELECT n_users FROM shop.params)) u) s;

-- Popularity-weighted picking tables: slot s of a department (or brand)
-- holds the product whose share of cumulative popularity covers s.
CREATE TABLE shop.pick_department AS
WITH w AS (
    SELECT product_id, department_id,
           sum(popularity) OVER (PARTITION BY department_id ORDER BY product_id) AS hi,
           popularity, sum(popularity) OVER (PARTITION BY department_id) AS total
    FROM shop.products JOIN shop.product_departments USING (product_id))
SELECT w.department_id, s.slot, w.product_id
FROM generate_series(0, 999) s(slot)
JOIN w ON (s.slot + 0.5) / 1000 >= (w.hi - w.popularity) / w.total AND (s.slot + 0.5) / 1000 < w.hi / w.total;
CREATE UNIQUE INDEX ON shop.pick_department (department_id, slot);

CREATE TABLE shop.pick_brand AS
WITH w AS (
    SELECT product_id, p.brand_id,
           sum(popularity) OVER (PARTITION BY p.brand_id ORDER BY product_id) AS hi,
           popularity, sum(popularity) OVER (PARTITION BY p.brand_id) AS total
    FROM shop.products p)
SELECT w.brand_id, s.slot, w.product_id
FROM generate_series(0, 199) s(slot)
JOIN w ON (s.slot + 0.5) / 200 >= (w.hi - w.popularity) / w.total AND (s.slot + 0.5) / 200 < w.hi / w.total;
CREATE UNIQUE INDEX ON shop.pick_brand (brand_id, slot);

-- ---- sessions and events ----
CREATE TABLE shop.sessions (
    session_id bigint PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES shop.users,
    started_at timestamptz NOT NULL,
    device text NOT NULL,
    channel text NOT NULL
);
INSERT INTO shop.sessions
SELECT s,
       -- a few heavy users, a long tail of occasional ones
       1 + floor((SELECT n_users FROM shop.params) * power(shop.u01(s, 21), 1.7))::bigint,
       (SELECT t0 FROM shop.params) + floor(shop.u01(s, 22) * (SELECT days FROM shop.params)) * interval '1 day'
           -- mostly daytime, one session in ten at night
           + CASE WHEN shop.u01(s, 29) < 0.9 THEN 7 + 15 * shop.u01(s, 23)
                  ELSE 22 + 9 * shop.u01(s, 23) END * interval '1 hour',
       CASE WHEN shop.u01(s, 24) < 0.55 THEN 'mobile' WHEN shop.u01(s, 24) < 0.9 THEN 'desktop' ELSE 'tablet' END,
       (ARRAY['direct', 'search', 'email', 'social', 'ads'])[1 + floor(shop.u01(s, 25) * 5)::int]
FROM generate_series(1, (SELECT n_sessions FROM shop.params)) s;

-- Views: each session has a mission department (mostly the user's
-- favourite), and a user loyal to a brand often goes straight to it.
CREATE TEMP TABLE views AS
SELECT s.session_id, s.user_id, k AS step,
       s.started_at + k * interval '45 seconds' + shop.u01(s.session_id * 64 + k, 31) * interval '30 seconds' AS ts,
       coalesce(pb.product_id, pd.product_id) AS product_id
FROM shop.sessions s
JOIN shop.user_taste t USING (user_id)
CROSS JOIN LATERAL (
    SELECT CASE WHEN shop.u01(s.session_id, 26) < 0.6 THEN t.fav_department
                WHEN shop.u01(s.session_id, 26) < 0.85 THEN t.second_department
                ELSE 1 + floor(shop.u01(s.session_id, 27) * 8)::int END AS mission,
           least(25, 1 + floor(-ln(1 - shop.u01(s.session_id, 28)) * 5)::int) AS n_views) m
CROSS JOIN LATERAL generate_series(1, m.n_views) k
CROSS JOIN LATERAL (
    SELECT CASE WHEN shop.u01(s.session_id * 64 + k, 32) < 0.8 THEN m.mission
                ELSE 1 + floor(shop.u01(s.session_id * 64 + k, 33) * 8)::int END AS department) d
LEFT JOIN shop.pick_brand pb
       ON d.department = t.fav_department AND shop.u01(s.session_id * 64 + k, 34) < 0.3
      AND pb.brand_id = t.fav_brand AND pb.slot = floor(shop.u01(s.session_id * 64 + k, 35) * 200)::int
JOIN shop.pick_department pd
  ON pd.department_id = d.department AND pd.slot = floor(shop.u01(s.session_id * 64 + k, 36) * 1000)::int;

-- How much this user likes this product: department and brand taste minus
-- price pain.  Drives carting, buying and ratings.
CREATE TEMP TABLE scored_views AS
SELECT v.*, pd.price,
       1.0 * (pd.department_id = t.fav_department)::int + 0.5 * (pd.department_id = t.second_department)::int
       + 0.8 * (pd.brand_id = t.fav_brand)::int
       - 1.2 * t.price_sensitivity * ln(pd.price / pd.department_price) AS affinity,
       u.segment, se.device
FROM views v
JOIN shop.product_departments pd USING (product_id)
JOIN shop.user_taste t USING (user_id)
JOIN shop.users u USING (user_id)
JOIN shop.sessions se USING (session_id);

CREATE TEMP TABLE carts AS
SELECT session_id, user_id, product_id, price, affinity, min(ts) + interval '20 seconds' AS ts,
       bool_or(shop.u01(session_id * 64 + step, 42) < 0.12) AS removed
FROM scored_views
WHERE shop.u01(session_id * 64 + step, 41) <
      1 / (1 + exp(-(-3.0 + 1.3 * affinity + CASE segment WHEN 'vip' THEN 0.5 WHEN 'new' THEN -0.3 ELSE 0 END)))
GROUP BY session_id, user_id, product_id, price, affinity;

-- A session with something left in the cart converts with a probability
-- that depends on the user and the device.
CREATE TEMP TABLE conversions AS
SELECT c.session_id, max(c.ts) + interval '90 seconds' AS ts
FROM carts c JOIN shop.sessions s USING (session_id) JOIN shop.users u ON u.user_id = c.user_id
WHERE NOT c.removed
GROUP BY c.session_id, s.device, u.segment
HAVING shop.u01(c.session_id, 51) <
       0.35 + 0.1 * avg(c.affinity) + CASE max(u.segment) WHEN 'vip' THEN 0.2 WHEN 'new' THEN -0.15 ELSE 0 END
       + CASE max(s.device) WHEN 'desktop' THEN 0.1 WHEN 'mobile' THEN -0.05 ELSE 0 END;

CREATE TABLE shop.events (
    event_id bigint PRIMARY KEY,
    session_id bigint REFERENCES shop.sessions,
    user_id bigint NOT NULL REFERENCES shop.users,
    event_type text NOT NULL CHECK (event_type IN ('search', 'view', 'cart', 'remove', 'purchase')),
    product_id bigint REFERENCES shop.products,
    query text,
    ts timestamptz NOT NULL
);
INSERT INTO shop.events
SELECT row_number() OVER (ORDER BY ts, session_id, ord, product_id), session_id, user_id, event_type, product_id, query, ts
FROM (
    -- 40% of sessions start with a search for the first viewed category
    SELECT v.session_id, v.user_id, 'search' AS event_type, NULL::bigint AS product_id,
           lower(c.name) AS query, v.ts - interval '30 seconds' AS ts, 0 AS ord
    FROM views v JOIN shop.products p USING (product_id) JOIN shop.categories c USING (category_id)
    WHERE v.step = 1 AND shop.u01(v.session_id, 61) < 0.4
    UNION ALL
    SELECT session_id, user_id, 'view', product_id, NULL, ts, 1 FROM views
    UNION ALL
    SELECT session_id, user_id, 'cart', product_id, NULL, ts, 2 FROM carts
    UNION ALL
    SELECT session_id, user_id, 'remove', product_id, NULL, ts + interval '40 seconds', 3 FROM carts WHERE removed
    UNION ALL
    SELECT c.session_id, c.user_id, 'purchase', c.product_id, NULL, v.ts, 4
    FROM carts c JOIN conversions v USING (session_id) WHERE NOT c.removed
) e;
CREATE INDEX ON shop.events (session_id, ts);
CREATE INDEX ON shop.events (user_id, ts);

-- ---- orders and payments ----
CREATE TABLE shop.orders (
    order_id bigint PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES shop.users,
    session_id bigint REFERENCES shop.sessions,
    created_at timestamptz NOT NULL,
    total numeric(12, 2) NOT NULL
);
CREATE TABLE shop.order_items (
    order_id bigint NOT NULL REFERENCES shop.orders,
    product_id bigint NOT NULL REFERENCES shop.products,
    price numeric(10, 2) NOT NULL,
    PRIMARY KEY (order_id, product_id)
);
INSERT INTO shop.orders
SELECT e.session_id, e.user_id, e.session_id, min(e.ts), sum(p.price)
FROM shop.events e JOIN shop.products p USING (product_id)
WHERE e.event_type = 'purchase'
GROUP BY e.session_id, e.user_id;
INSERT INTO shop.order_items
SELECT e.session_id, e.product_id, p.price
FROM shop.events e JOIN shop.products p USING (product_id)
WHERE e.event_type = 'purchase';

CREATE TABLE shop.payments (
    payment_id bigint PRIMARY KEY,
    order_id bigint NOT NULL REFERENCES shop.orders,
    user_id bigint NOT NULL REFERENCES shop.users,
    amount numeric(12, 2) NOT NULL,
    card_id bigint NOT NULL,
    card_country text NOT NULL,
    ip_country text NOT NULL,
    device_id bigint NOT NULL,
    created_at timestamptz NOT NULL,
    is_fraud boolean NOT NULL,    -- the label the shop knows (chargebacks so far)
    fraud_pattern text            -- generator ground truth: which planted pattern
);
-- Honest payments: the user's card (a second card for 10%), one of the
-- user's two devices, from home (4% abroad).
INSERT INTO shop.payments
SELECT o.order_id, o.order_id, o.user_id, o.total,
       o.user_id * 10 + (shop.u01(o.order_id, 71) < 0.1)::int, u.country,
       CASE WHEN shop.u01(o.order_id, 72) < 0.04 THEN (ARRAY['ES', 'IT', 'PT', 'TR'])[1 + floor(shop.u01(o.order_id, 74) * 4)::int]
            ELSE u.country END,
       o.user_id * 10 + (shop.u01(o.order_id, 73) < 0.3)::int,
       -- friendly fraud: a few honest buyers charge back anyway
       o.created_at, shop.u01(o.order_id, 75) < 0.004, NULL
FROM shop.orders o JOIN shop.users u USING (user_id);

-- Planted fraud, about 2% of payments.  Fraudsters' accounts are new users
-- (signed up the day they pay); stolen cards belong to real users.
CREATE TEMP TABLE fraud AS
WITH n AS (SELECT count(*) AS orders, (SELECT n_users FROM shop.params) AS users,
                  (SELECT t0 FROM shop.params) AS t0, (SELECT days FROM shop.params) AS days
           FROM shop.orders),
-- (a) large first purchases from a new device in another country
a AS (
    SELECT 'large_first_purchase' AS pattern, i AS incident, 1 AS seq,
           n.t0 + floor(shop.u01(i, 81) * n.days) * interval '1 day'
               + floor(shop.u01(i, 82) * 6) * interval '1 hour' + shop.u01(i, 83) * interval '1 hour' AS ts,
           round((400 + 1600 * shop.u01(i, 84))::numeric, 2) AS amount,
           1 + floor(shop.u01(i, 85) * n.users)::bigint AS victim
    FROM n, generate_series(1, greatest(3, (n.orders * 0.008)::int)) i),
-- (b) card testing: bursts of 5-12 tiny charges within minutes, at night
b AS (
    SELECT 'card_testing', 100000 + i, k,
           n.t0 + floor(shop.u01(i, 91) * n.days) * interval '1 day' + floor(shop.u01(i, 92) * 5) * interval '1 hour'
               + k * interval '50 seconds' + shop.u01(i * 100 + k, 93) * interval '40 seconds',
           round((1 + 4 * shop.u01(i * 100 + k, 94))::numeric, 2),
           1 + floor(shop.u01(i, 95) * n.users)::bigint
    FROM n, generate_series(1, greatest(2, (n.orders * 0.0015)::int)) i,
         generate_series(1, 5 + floor(shop.u01(i, 96) * 8)::int) k),
-- (c) account takeover: several mid-size purchases within an hour from a
-- new device abroad, on the victim's own account
c AS (
    SELECT 'velocity_takeover', 200000 + i, k,
           n.t0 + floor(shop.u01(i, 101) * n.days) * interval '1 day' + floor(shop.u01(i, 102) * 24) * interval '1 hour'
               + k * interval '9 minutes' + shop.u01(i * 100 + k, 103) * interval '5 minutes',
           round((80 + 300 * shop.u01(i * 100 + k, 104))::numeric, 2),
           1 + floor(shop.u01(i, 105) * n.users)::bigint
    FROM n, generate_series(1, greatest(2, (n.orders * 0.002)::int)) i,
         generate_series(1, 3 + floor(shop.u01(i, 106) * 4)::int) k)
SELECT row_number() OVER (ORDER BY pattern, incident, seq) AS rn, * FROM (
    SELECT * FROM a UNION ALL SELECT * FROM b UNION ALL SELECT * FROM c) f;

-- fraudsters' accounts for (a) and (b), one per incident
INSERT INTO shop.users
SELECT (SELECT n_users FROM shop.params) + dense_rank() OVER (ORDER BY incident),
       min(ts)::date,
       (ARRAY['US', 'GB', 'DE'])[1 + floor(shop.u01(incident, 111) * 3)::int], 'new'
FROM fraud WHERE pattern <> 'velocity_takeover'
GROUP BY incident;

INSERT INTO shop.orders
SELECT 1000000000 + f.rn,
       CASE WHEN f.pattern = 'velocity_takeover' THEN f.victim
            ELSE (SELECT n_users FROM shop.params) + dense_rank() OVER (PARTITION BY f.pattern = 'velocity_takeover' ORDER BY f.incident) END,
       NULL, f.ts, f.amount
FROM fraud f;
-- each fraudulent order buys one product near its amount
INSERT INTO shop.order_items
SELECT o.order_id,
       (SELECT product_id FROM shop.products p ORDER BY abs(p.price - o.total), p.product_id LIMIT 1),
       o.total
FROM shop.orders o WHERE o.order_id > 1000000000;

INSERT INTO shop.payments
SELECT 1000000000 + f.rn, 1000000000 + f.rn, o.user_id, f.amount,
       f.victim * 10, vu.country,
       -- a third of fraudsters hide behind a proxy in the card's country
       CASE WHEN shop.u01(f.incident, 122) < 0.33 THEN vu.country
            ELSE (ARRAY['RU', 'NG', 'BR', 'VN', 'RO', 'ES', 'TR'])[1 + floor(shop.u01(f.incident, 121) * 7)::int] END,
       -- labels arrive late: one planted fraud in seven has no chargeback yet
       9000000000 + f.incident, f.ts, shop.u01(f.rn, 123) >= 1.0 / 7, f.pattern
FROM fraud f JOIN shop.orders o ON o.order_id = 1000000000 + f.rn
JOIN shop.users vu ON vu.user_id = f.victim;
CREATE INDEX ON shop.payments (card_id, created_at);

-- ---- reviews ----
CREATE TABLE shop.reviews (
    review_id bigint PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES shop.users,
    product_id bigint NOT NULL REFERENCES shop.products,
    rating int NOT NULL CHECK (rating BETWEEN 1 AND 5),
    body text NOT NULL,
    created_at timestamptz NOT NULL
);
INSERT INTO shop.reviews
SELECT row_number() OVER (ORDER BY o.created_at, oi.order_id, oi.product_id), o.user_id, oi.product_id, r.rating,
       (ARRAY['Disappointed, sending it back.', 'Not what I hoped for.', 'Does the job.',
              'Good value, happy with it.', 'Excellent, would buy again!'])[r.rating],
       o.created_at + (2 + floor(shop.u01(oi.order_id * 1000 + oi.product_id % 1000, 131) * 20)) * interval '1 day'
FROM shop.order_items oi JOIN shop.orders o USING (order_id)
JOIN shop.product_departments pd USING (product_id)
JOIN shop.user_taste t ON t.user_id = o.user_id
CROSS JOIN LATERAL (
    SELECT greatest(1, least(5, round(3.3 + 1.0 * (pd.department_id = t.fav_department)::int
                                      + 0.9 * (pd.brand_id = t.fav_brand)::int
                                      - 0.8 * t.price_sensitivity * ln(pd.price / pd.department_price)
                                      + 0.9 * shop.gauss(oi.order_id * 1000 + oi.product_id % 1000, 132))))::int AS rating) r
WHERE o.session_id IS NOT NULL
  AND shop.u01(oi.order_id * 1000 + oi.product_id % 1000, 133) < 0.35;

-- ---- text: descriptions, search queries and review texts ----
-- Each category has three nouns a shopper may use for its products (the
-- synonyms: a title uses one, a query often another) and six attributes.
-- Keyword match alone misses a query whose noun the product text does not
-- use; a text embedding trained on the catalogue learns that the nouns
-- share their attributes.
CREATE TABLE shop.category_words (
    category_id int PRIMARY KEY REFERENCES shop.categories,
    nouns text[] NOT NULL,
    attrs text[] NOT NULL
);
INSERT INTO shop.category_words VALUES
 (9,  '{phone,smartphone,mobile}', '{unlocked,dual-sim,5g,camera,battery,screen}'),
 (10, '{laptop,notebook,ultrabook}', '{lightweight,keyboard,processor,ssd,display,portable}'),
 (11, '{headphones,earbuds,headset}', '{wireless,noise-cancelling,bluetooth,bass,over-ear,microphone}'),
 (12, '{camera,dslr,camcorder}', '{lens,zoom,megapixel,tripod,mirrorless,shutter}'),
 (13, '{pan,saucepan,skillet}', '{non-stick,induction,cookware,frying,lid,cast-iron}'),
 (14, '{sofa,couch,settee}', '{upholstered,seater,cushions,velvet,recliner,armrest}'),
 (15, '{lamp,light,lantern}', '{led,dimmable,bulb,bedside,shade,desk}'),
 (16, '{duvet,quilt,comforter}', '{cotton,pillow,sheets,double,king-size,tog}'),
 (17, '{sneakers,trainers,shoes}', '{leather,sole,laces,comfortable,suede,low-top}'),
 (18, '{jacket,coat,parka}', '{waterproof,hooded,insulated,winter,zip,windproof}'),
 (19, '{dress,gown,frock}', '{floral,evening,maxi,sleeveless,silk,party}'),
 (20, '{bag,handbag,tote}', '{shoulder,strap,crossbody,clutch,purse,zipper}'),
 (21, '{running,jogging,marathon}', '{cushioned,breathable,stride,pace,trail,reflective}'),
 (22, '{bike,bicycle,cycle}', '{helmet,gears,saddle,pedals,frame,brakes}'),
 (23, '{dumbbells,weights,kettlebell}', '{workout,gym,strength,adjustable,resistance,training}'),
 (24, '{tent,camping,hiking}', '{backpack,sleeping,outdoor,trekking,compass,poles}'),
 (25, '{moisturiser,cream,lotion}', '{hydrating,serum,spf,sensitive,face,anti-ageing}'),
 (26, '{lipstick,mascara,foundation}', '{matte,shade,lashes,palette,eyeliner,blush}'),
 (27, '{perfume,fragrance,cologne}', '{scent,eau,floral,musk,citrus,spray}'),
 (28, '{shampoo,conditioner,haircare}', '{curly,frizz,scalp,repair,volume,keratin}'),
 (29, '{puzzle,jigsaw,brainteaser}', '{pieces,1000-piece,landscape,challenging,picture,edges}'),
 (30, '{bricks,blocks,construction}', '{build,set,kit,pieces,engineering,creative}'),
 (31, '{doll,figure,dollhouse}', '{outfit,accessories,pretend,play,hair,collectible}'),
 (32, '{boardgame,tabletop,strategy}', '{dice,players,cards,family,tiles,cooperative}'),
 (33, '{novel,fiction,thriller}', '{paperback,author,chapters,plot,bestseller,mystery}'),
 (34, '{cookbook,recipes,cookery}', '{baking,vegetarian,dishes,chef,meals,kitchen}'),
 (35, '{guidebook,travel,itinerary}', '{maps,destinations,city,walks,sights,phrasebook}'),
 (36, '{science,physics,astronomy}', '{universe,experiments,quantum,biology,discoveries,space}'),
 (37, '{coffee,espresso,beans}', '{roast,arabica,ground,decaf,blend,aroma}'),
 (38, '{tea,infusion,chai}', '{herbal,green,teabags,loose-leaf,earl,matcha}'),
 (39, '{snacks,crisps,chips}', '{salted,crunchy,nuts,popcorn,savoury,pretzels}'),
 (40, '{pasta,rice,flour}', '{organic,wholegrain,spaghetti,olive,oil,grains}');

-- A description: "<brand> <noun> <attribute> <attribute> <attribute>", the
-- noun one of the three at random, and one product in ten misspells it
-- (a letter dropped), as sellers do.
ALTER TABLE shop.products ADD COLUMN description text;
UPDATE shop.products p SET description = d.description
FROM (SELECT p.product_id,
             b.name || ' ' ||
             CASE WHEN shop.u01(p.product_id, 501) < 0.1
                  THEN overlay(n.noun PLACING '' FROM greatest(2, length(n.noun) - 1) FOR 1) ELSE n.noun END
             || ' ' || w.attrs[1 + floor(shop.u01(p.product_id, 502) * 6)::int]
             || ' ' || w.attrs[1 + floor(shop.u01(p.product_id, 503) * 6)::int]
             || ' ' || w.attrs[1 + floor(shop.u01(p.product_id, 504) * 6)::int] AS description
      FROM shop.products p
      JOIN shop.brands b USING (brand_id)
      JOIN shop.category_words w USING (category_id),
      LATERAL (SELECT w.nouns[1 + floor(shop.u01(p.product_id, 500) * 3)::int] AS noun) n) d
WHERE d.product_id = p.product_id;
ALTER TABLE shop.products ALTER COLUMN description SET NOT NULL;

-- What shoppers type: for each category, a noun (any of the three) with an
-- attribute, a bare noun, and a misspelt noun; the category is the hidden
-- truth a result is judged by.
CREATE TABLE shop.search_queries (
    query_id int PRIMARY KEY,
    query text NOT NULL,
    category_id int NOT NULL REFERENCES shop.categories
);
INSERT INTO shop.search_queries
SELECT row_number() OVER (ORDER BY w.category_id, k), q, w.category_id
FROM shop.category_words w,
     LATERAL (VALUES
        (1, w.attrs[1 + floor(shop.u01(w.category_id, 510) * 6)::int] || ' ' || w.nouns[1 + floor(shop.u01(w.category_id, 511) * 3)::int]),
        (2, w.nouns[1 + floor(shop.u01(w.category_id, 512) * 3)::int]),
        (3, overlay(w.nouns[1 + floor(shop.u01(w.category_id, 513) * 3)::int] PLACING ''
                    FROM greatest(2, length(w.nouns[1 + floor(shop.u01(w.category_id, 513) * 3)::int]) - 1) FOR 1)
            || ' ' || w.attrs[1 + floor(shop.u01(w.category_id, 514) * 6)::int])) v(k, q);

-- Review texts written from the rating: praise, mixed or complaints about
-- the product's noun, with negations ("not great") in the low ratings.
UPDATE shop.reviews rr SET body = t.body
FROM (SELECT r.review_id, initcap(
    CASE r.rating
      WHEN 5 THEN (ARRAY['love this', 'excellent', 'perfect', 'brilliant'])[1 + floor(shop.u01(r.review_id, 520) * 4)::int]
                  || ' ' || n.noun || ', ' || (ARRAY['would buy again', 'highly recommend', 'exceeded expectations', 'great quality'])[1 + floor(shop.u01(r.review_id, 521) * 4)::int]
      WHEN 4 THEN (ARRAY['good', 'nice', 'solid', 'happy with this'])[1 + floor(shop.u01(r.review_id, 520) * 4)::int]
                  || ' ' || n.noun || ', ' || (ARRAY['good value', 'works well', 'arrived quickly', 'recommend'])[1 + floor(shop.u01(r.review_id, 521) * 4)::int]
      WHEN 3 THEN (ARRAY['okay', 'average', 'decent', 'fine'])[1 + floor(shop.u01(r.review_id, 520) * 4)::int]
                  || ' ' || n.noun || ', ' || (ARRAY['does the job', 'nothing special', 'not great not bad', 'as expected'])[1 + floor(shop.u01(r.review_id, 521) * 4)::int]
      WHEN 2 THEN (ARRAY['not great', 'not good', 'disappointing', 'not worth it'])[1 + floor(shop.u01(r.review_id, 520) * 4)::int]
                  || ' ' || n.noun || ', ' || (ARRAY['would not recommend', 'poor quality', 'not as described', 'returned it'])[1 + floor(shop.u01(r.review_id, 521) * 4)::int]
      ELSE (ARRAY['terrible', 'awful', 'broken', 'useless'])[1 + floor(shop.u01(r.review_id, 520) * 4)::int]
                  || ' ' || n.noun || ', ' || (ARRAY['sending it back', 'waste of money', 'fell apart', 'avoid'])[1 + floor(shop.u01(r.review_id, 521) * 4)::int]
    END) AS body
      FROM shop.reviews r
      JOIN shop.products p USING (product_id)
      JOIN shop.category_words w USING (category_id),
      LATERAL (SELECT w.nouns[1 + floor(shop.u01(r.review_id, 522) * 3)::int] AS noun) n) t
WHERE t.review_id = rr.review_id;

-- ---- feature views, as a shop would write them ----

-- Payment features for fraud scoring: amounts, time of day, how new the
-- device and the account are, country mismatch, and velocity from window
-- functions.
CREATE VIEW shop.payment_features AS
SELECT p.payment_id, p.is_fraud, p.created_at,
       ARRAY[ln(1 + p.amount::float8),
             extract(hour FROM p.created_at AT TIME ZONE 'UTC'),
             extract(epoch FROM p.created_at - min(p.created_at) OVER (PARTITION BY p.device_id)) / 3600,
             (p.created_at::date - u.signup_date),
             (p.card_country <> p.ip_country)::int,
             count(*) OVER (PARTITION BY p.card_id ORDER BY p.created_at
                            RANGE BETWEEN interval '1 hour' PRECEDING AND CURRENT ROW) - 1,
             count(*) OVER (PARTITION BY p.device_id ORDER BY p.created_at
                            RANGE BETWEEN interval '1 day' PRECEDING AND CURRENT ROW) - 1,
             (row_number() OVER (PARTITION BY p.user_id ORDER BY p.created_at) = 1)::int
            ]::real[] AS features
FROM shop.payments p JOIN shop.users u USING (user_id);

-- Session features for purchase probability, from the events up to the
-- first cart (what is known while the shopper is still browsing).
CREATE VIEW shop.session_features AS
SELECT s.session_id, s.user_id, s.started_at,
       coalesce(bool_or(e.event_type = 'purchase'), false) AS purchased,
       ARRAY[count(*) FILTER (WHERE e.event_type = 'view'),
             count(*) FILTER (WHERE e.event_type = 'cart'),
             count(*) FILTER (WHERE e.event_type = 'search'),
             count(DISTINCT p.category_id) FILTER (WHERE e.event_type = 'view'),
             coalesce(ln(avg(p.price) FILTER (WHERE e.event_type = 'view')), 0),
             (s.device = 'mobile')::int, (s.device = 'desktop')::int,
             (u.segment = 'vip')::int, (u.segment = 'new')::int,
             extract(hour FROM s.started_at AT TIME ZONE 'UTC')
            ]::real[] AS features
FROM shop.sessions s
JOIN shop.users u USING (user_id)
LEFT JOIN shop.events e ON e.session_id = s.session_id AND e.event_type IN ('search', 'view', 'cart', 'purchase')
LEFT JOIN shop.products p ON p.product_id = e.product_id
GROUP BY s.session_id, s.user_id, s.started_at, s.device, u.segment;

-- Interactions for recommendations: views 1, carts 3, purchases 5, summed.
CREATE VIEW shop.interactions AS
SELECT user_id, product_id AS item_id,
       sum(CASE event_type WHEN 'view' THEN 1 WHEN 'cart' THEN 3 WHEN 'purchase' THEN 5 ELSE 0 END)::real AS value
FROM shop.events
WHERE product_id IS NOT NULL AND event_type IN ('view', 'cart', 'purchase')
GROUP BY user_id, product_id;

ANALYZE;
RESET search_path;

SELECT (SELECT count(*) FROM shop.users) AS users,
       (SELECT count(*) FROM shop.products) AS products,
       (SELECT count(*) FROM shop.sessions) AS sessions,
       (SELECT count(*) FROM shop.events) AS events,
       (SELECT count(*) FROM shop.orders) AS orders,
       (SELECT count(*) FROM shop.payments) AS payments,
       (SELECT round(100.0 * avg(is_fraud::int), 2) FROM shop.payments) AS fraud_pct,
       (SELECT count(*) FROM shop.reviews) AS reviews,
       (SELECT count(*) FROM shop.search_queries) AS search_queries;
