-- Evaluation aggregates: roc_auc, average_precision, log_loss.
-- The expected values were checked against scikit-learn 1.2.1
-- (roc_auc_score, average_precision_score, log_loss) on the same inputs;
-- the sklearn value is noted where it is not obvious.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ecml;

CREATE TABLE m (g text, s float8, y boolean);
INSERT INTO m VALUES
    -- scikit-learn's docstring example
    ('doc', 0.1, false), ('doc', 0.4, false), ('doc', 0.35, true), ('doc', 0.8, true),
    -- ties across the classes
    ('ties', 0.9, true), ('ties', 0.6, true), ('ties', 0.6, false), ('ties', 0.6, false),
    ('ties', 0.3, true), ('ties', 0.3, false), ('ties', 0.6, true), ('ties', 0.1, false),
    ('ties', 0.9, false), ('ties', 0.3, true),
    -- one score for everything: AUC 1/2, AP the share of positives
    ('alltie', 0.5, true), ('alltie', 0.5, false), ('alltie', 0.5, false),
    ('alltie', 0.5, true), ('alltie', 0.5, false),
    ('perfect', 1, false), ('perfect', 2, false), ('perfect', 3, true), ('perfect', 4, true),
    ('reversed', 4, false), ('reversed', 3, false), ('reversed', 2, true), ('reversed', 1, true),
    -- infinities rank like any score (sklearn refuses them; checked with +-1e308)
    ('inf', '-Infinity', false), ('inf', 0, true), ('inf', 'Infinity', true), ('inf', 'Infinity', false),
    -- one class only
    ('onepos', 0.2, true), ('onepos', 0.7, true),
    ('oneneg', 0.2, false), ('oneneg', 0.7, false),
    -- nothing but NULLs
    ('nulls', NULL, true), ('nulls', 0.5, NULL), ('nulls', NULL, NULL);

-- sklearn: doc 0.75 / 0.8333333333333333, ties 0.54 / 0.5222222222222223,
-- alltie 0.5 / 0.4, perfect 1 / 1, reversed 0 / 0.41666666666666663,
-- inf 0.625 / 0.5833333333333333, onepos: roc_auc raises, AP 1; oneneg:
-- roc_auc raises, AP -0.0 with a warning.  The exact APs of doc, reversed
-- and inf are 5/6, 5/12 and 7/12: sklearn's float sums land one ulp below
-- them, ecml returns them correctly rounded (0.8333333333333334 etc.).
SELECT g, ecml.roc_auc(s, y), ecml.average_precision(s, y), count(s) AS rows
FROM m GROUP BY g ORDER BY g;

-- the same through hashed grouping
SET enable_sort = off;
SELECT g, ecml.roc_auc(s, y), ecml.average_precision(s, y)
FROM m WHERE g IN ('doc', 'ties') GROUP BY g ORDER BY g;
RESET enable_sort;

-- NULL rows are skipped: adding them changes nothing
SELECT ecml.roc_auc(s, y) AS auc, ecml.average_precision(s, y) AS ap
FROM m WHERE g IN ('ties', 'nulls');

-- no rows at all
SELECT ecml.roc_auc(s, y), ecml.average_precision(s, y), ecml.log_loss(s, y)
FROM m WHERE false;

-- the AUC is the Mann-Whitney statistic: pairs ranked right, ties counting 1/2
SELECT ecml.roc_auc(s, y) = (SELECT avg(CASE WHEN p.s > n.s THEN 1.0 WHEN p.s = n.s THEN 0.5 ELSE 0 END)
                             FROM m p, m n WHERE p.g = 'ties' AND n.g = 'ties' AND p.y AND NOT n.y)::float8 AS mann_whitney
FROM m WHERE g = 'ties';

-- integer scores work through the implicit cast; the order of rows does not matter
SELECT ecml.roc_auc(r, y), ecml.average_precision(r, y)
FROM (SELECT (s * 10)::int AS r, y FROM m WHERE g = 'ties' ORDER BY random()) x;

-- as a window function over a growing frame, and over a moving one
SELECT i, ecml.roc_auc(s, y) OVER w AS auc, ecml.average_precision(s, y) OVER w AS ap,
       ecml.roc_auc(s, y) OVER (ORDER BY i ROWS 2 PRECEDING) AS auc3
FROM (SELECT row_number() OVER () AS i, s, y FROM (VALUES (0.9, true), (0.8, false), (0.7, true), (0.2, false), (0.5, true)) v(s, y)) x
WINDOW w AS (ORDER BY i)
ORDER BY i;

-- log loss: sklearn gives 0.47228795380917615 for the docstring example, ln 2 for
-- p = 1/2, and clips p to [eps, 1 - eps] (eps = 2^-52): a confident miss costs
-- -ln(eps) = 36.04365338911715, a confident hit -ln(1 - eps) = 2.220446049250313e-16;
-- mixed: 9.118994284619578
SELECT ecml.log_loss(s, y) FROM m WHERE g = 'doc';
SELECT ecml.log_loss(p, y) FROM (VALUES (0.5, true), (0.5, false), (0.5, true)) v(p, y);
SELECT ecml.log_loss(p, y) FROM (VALUES (0.0, true)) v(p, y);
SELECT ecml.log_loss(p, y) FROM (VALUES (1.0, true), (0.0, false)) v(p, y);
SELECT ecml.log_loss(p, y)
FROM (VALUES (0.9, true), (0.1, false), (0.8, true), (0.35, false),
             (0.0, true), (1.0, true), (1.0, false), (0.0, false)) v(p, y);
-- NULLs skipped, one value per group
SELECT g, ecml.log_loss(s, y), count(*) AS rows
FROM m WHERE g IN ('doc', 'alltie', 'nulls') GROUP BY g ORDER BY g;
-- mean of -ln(probability of the true label)
SELECT abs(ecml.log_loss(s, y) - avg(-ln(CASE WHEN y THEN s ELSE 1 - s END))) < 1e-15 AS mean_cross_entropy
FROM m WHERE g IN ('doc', 'alltie', 'ties');

-- errors
SELECT ecml.roc_auc(s, y) FROM (VALUES (0.5, true), ('NaN', false)) v(s, y);
SELECT ecml.average_precision(s, y) FROM (VALUES ('NaN'::float8, true)) v(s, y);
SELECT ecml.log_loss(p, true) FROM (VALUES (1.5)) v(p);
SELECT ecml.log_loss(p, false) FROM (VALUES (-0.01)) v(p);
SELECT ecml.log_loss(p, true) FROM (VALUES ('NaN'::float8)) v(p);
SELECT ecml.log_loss(p, true) FROM (VALUES ('Infinity'::float8)) v(p);
-- the log_loss support functions can be called directly; a made-up state is refused
SELECT ecml.log_loss_finalfn(ecml.log_loss_transfn('{0,0,0}', 0.25, false)) = -ln(0.75) AS direct;
SELECT ecml.log_loss_transfn('{1,2}', 0.5, true);
-- NaN scores can be skipped explicitly
SELECT ecml.roc_auc(NULLIF(s, 'NaN'), y) FROM (VALUES (0.5, true), ('NaN', false), (0.1, false)) v(s, y);
-- the state is bounded and needs no memory limit: exact up to 65,536
-- distinct scores, then bins of neighbouring scores within a stated bound.
-- Exact AUC of distinct scores: (rank sum of positives - P(P+1)/2) / (P N)
SET ecml.train_memory_limit = '1MB';
CREATE TEMP VIEW auc_exact AS
SELECT n, (sum(i) FILTER (WHERE i % 2 = 0) - (n / 2)::bigint * (n / 2 + 1) / 2.0) / ((n / 2)::bigint * (n - n / 2))::float8 AS exact
FROM (VALUES (65536), (140000)) v(n), generate_series(1, n) i GROUP BY n;
SELECT n, s->>'rows' AS rows, s->>'bins' AS bins, s->>'inexact_bins' AS inexact,
       (s->>'roc_auc')::float8 = a.exact AS auc_exact,
       abs((s->>'roc_auc')::float8 - a.exact) <= (s->>'roc_auc_error_bound')::float8 AS auc_within_bound,
       (s->>'roc_auc_error_bound')::float8 < 1e-4 AS small_bound,
       (s->>'roc_auc')::float8 = auc AS same_as_roc_auc
FROM (SELECT n, ecml.score_summary(i, i % 2 = 0) s, ecml.roc_auc(i, i % 2 = 0) auc
      FROM (VALUES (65536), (140000)) v(n), generate_series(1, n) i GROUP BY n) q
JOIN auc_exact a USING (n) ORDER BY n;
RESET ecml.train_memory_limit;
SELECT ecml.score_summary(s, y) FROM (VALUES (0.9, true), (0.1, false), (0.5, true)) v(s, y);
SELECT ecml.score_summary(s, y) FROM (VALUES (0.9, NULL::boolean)) v(s, y);
-- the support functions work on states passed by hand, and check them
SELECT ecml.roc_auc_finalfn(ecml.score_bins_combinefn(
         ecml.score_bins_transfn(ecml.score_bins_transfn(NULL, 0.9, true), 0.2, false),
         ecml.score_bins_transfn(NULL, 0.4, true)));
SELECT ecml.roc_auc_finalfn('\x00'::bytea);
SELECT ecml.average_precision_finalfn(decode(repeat('00', 56), 'hex'));
SELECT ecml.score_bins_transfn('\xdeadbeef'::bytea, 0.5, true);
SELECT ecml.score_bins_combinefn(ecml.score_bins_transfn(NULL, 0.5, true), '\x0102'::bytea);
SELECT ecml.score_bins_combinefn(ecml.pr_curve_points_transfn(NULL, 0.5, true, 10),
                                 ecml.pr_curve_points_transfn(NULL, 0.5, true, 20));
SELECT ecml.score_bins_combinefn(NULL, NULL) IS NULL AS null_state;

-- every function and aggregate is documented
SELECT p.proname, p.prokind, obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'ecml' AND (p.proname LIKE '%roc_auc%' OR p.proname LIKE '%average_precision%'
                              OR p.proname LIKE '%log_loss%' OR p.proname LIKE 'score_label%')
ORDER BY 1;
