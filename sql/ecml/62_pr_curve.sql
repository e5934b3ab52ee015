-- Deciding: precision/recall curves and the threshold that reaches a
-- precision, over the score histogram that roc_auc and average_precision
-- share (40_metrics.sql).

CREATE FUNCTION ecml.pr_curve_finalfn(state bytea)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'pr_curve_finalfn'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.pr_curve_finalfn(bytea) IS
    'Support function of ecml.pr_curve: the precision/recall curve of a score histogram.';

CREATE AGGREGATE ecml.pr_curve(score double precision, label boolean) (
    SFUNC = ecml.score_bins_transfn,
    STYPE = bytea,
    FINALFUNC = ecml.pr_curve_finalfn,
    FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = ecml.score_bins_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.pr_curve(double precision, boolean) IS
    'Precision/recall curve of scores against boolean labels (true = positive class) as a jsonb array of {"threshold", "precision", "recall", "tp", "fp"}, one element per distinct score, highest first; at threshold t the rows with score >= t are selected, precision = tp / (tp + fp), recall = tp / (all positives). Beyond 65,536 distinct scores neighbouring scores share bins: fewer points, each still an exact point of the curve. Read it with jsonb_to_recordset. Rows with a NULL score or label are skipped; NULL when no rows are left; recall is null without positive rows. A NaN score is an error; an infinite threshold is the string "Infinity" or "-Infinity". The jsonb costs about 2 kB a point until built (ecml.train_memory_limit); for many distinct scores use the max_points form.';

-- The forms with a constant third argument keep it in the same state.
CREATE FUNCTION ecml.pr_curve_points_transfn(state bytea, score double precision, label boolean, max_points integer)
    RETURNS bytea AS 'MODULE_PATHNAME', 'pr_curve_points_transfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.pr_curve_points_transfn(bytea, double precision, boolean, integer) IS
    'Support function of ecml.pr_curve(score, label, max_points): adds one (score, label) row to the score histogram.';
CREATE FUNCTION ecml.threshold_for_precision_transfn(state bytea, score double precision, label boolean, target_precision double precision)
    RETURNS bytea AS 'MODULE_PATHNAME', 'threshold_for_precision_transfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.threshold_for_precision_transfn(bytea, double precision, boolean, double precision) IS
    'Support function of ecml.threshold_for_precision: adds one (score, label) row to the score histogram.';
CREATE FUNCTION ecml.pr_curve_points_finalfn(state bytea)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'pr_curve_points_finalfn'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.pr_curve_points_finalfn(bytea) IS
    'Support function of ecml.pr_curve(score, label, max_points): at most max_points points of the curve.';
CREATE FUNCTION ecml.threshold_for_precision_finalfn(state bytea)
    RETURNS double precision AS 'MODULE_PATHNAME', 'threshold_for_precision_finalfn'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.threshold_for_precision_finalfn(bytea) IS
    'Support function of ecml.threshold_for_precision: the lowest threshold that reaches the target precision.';

CREATE AGGREGATE ecml.pr_curve(score double precision, label boolean, max_points integer) (
    SFUNC = ecml.pr_curve_points_transfn,
    STYPE = bytea,
    FINALFUNC = ecml.pr_curve_points_finalfn,
    FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = ecml.score_bins_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.pr_curve(double precision, boolean, integer) IS
    'Precision/recall curve with at most max_points points (2 to 100000000, the same in every row): the exact points whose rank (rows scored at least the threshold) first reaches each of max_points evenly spaced marks, highest threshold first; the lowest threshold (recall 1) is always included. Otherwise as ecml.pr_curve(score, label).';

CREATE AGGREGATE ecml.threshold_for_precision(score double precision, label boolean, target_precision double precision) (
    SFUNC = ecml.threshold_for_precision_transfn,
    STYPE = bytea,
    FINALFUNC = ecml.threshold_for_precision_finalfn,
    FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = ecml.score_bins_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.threshold_for_precision(double precision, boolean, double precision) IS
    'The lowest score threshold t whose precision (positives among the rows with score >= t) is at least target_precision, so that WHERE score >= t selects the most positives at that precision; t is one of the scores (beyond 65,536 distinct scores, the lowest score of a bin of neighbouring scores, the precision still exact). target_precision must be in (0, 1] and the same in every row. NULL when no threshold reaches it or no rows are left. Rows with a NULL score or label are skipped; a NaN score is an error.';
