-- Evaluation aggregates: ROC AUC, average precision and log loss, with ties
-- treated as scikit-learn 1.2 does.

-- roc_auc, average_precision, pr_curve, threshold_for_precision and
-- score_summary share one state: a histogram of scores by label, a bytea of
-- at most 65,536 bins (2.2 MB) with a combine function, so parallel workers
-- and Citus workers build partial states.  It holds one bin per distinct
-- score, and the metrics are exact, until 65,536 distinct scores are seen;
-- past that, neighbouring scores share bins and score_summary reports the
-- error bound.  A query asking for several of them keeps one state.
CREATE FUNCTION ecml.score_bins_transfn(state bytea, score double precision, label boolean)
    RETURNS bytea AS 'MODULE_PATHNAME', 'score_bins_transfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.score_bins_transfn(bytea, double precision, boolean) IS
    'Support function of ecml.roc_auc, ecml.average_precision, ecml.pr_curve(score, label) and ecml.score_summary: adds one (score, label) row to the score histogram.';
CREATE FUNCTION ecml.score_bins_combinefn(state bytea, other bytea)
    RETURNS bytea AS 'MODULE_PATHNAME', 'score_bins_combinefn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.score_bins_combinefn(bytea, bytea) IS
    'Support function of the ranking metrics (ecml.roc_auc, ecml.average_precision, ecml.pr_curve, ecml.threshold_for_precision, ecml.score_summary): merges two partial score histograms.';
CREATE FUNCTION ecml.roc_auc_finalfn(state bytea)
    RETURNS double precision AS 'MODULE_PATHNAME', 'roc_auc_finalfn'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.roc_auc_finalfn(bytea) IS
    'Support function of ecml.roc_auc: the area under the ROC curve of a score histogram.';
CREATE FUNCTION ecml.average_precision_finalfn(state bytea)
    RETURNS double precision AS 'MODULE_PATHNAME', 'average_precision_finalfn'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.average_precision_finalfn(bytea) IS
    'Support function of ecml.average_precision: the average precision of a score histogram.';
CREATE FUNCTION ecml.score_summary_finalfn(state bytea)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'score_summary_finalfn'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.score_summary_finalfn(bytea) IS
    'Support function of ecml.score_summary: counts, exactness and error bounds of a score histogram.';

CREATE AGGREGATE ecml.roc_auc(score double precision, label boolean) (
    SFUNC = ecml.score_bins_transfn,
    STYPE = bytea,
    FINALFUNC = ecml.roc_auc_finalfn,
    FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = ecml.score_bins_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.roc_auc(double precision, boolean) IS
    'Area under the ROC curve of scores against boolean labels (true = positive class): the fraction of (positive, negative) pairs the score ranks right, a tie counting one half; equals scikit-learn 1.2 roc_auc_score. Exact up to 65,536 distinct scores; beyond, neighbouring scores share one of 65,536 bins and ecml.score_summary gives the bound on the error. Rows with a NULL score or label are skipped; NULL when no rows are left or only one class is present (where scikit-learn raises). A NaN score is an error; infinite scores rank as usual. Its state (at most 2.2 MB) merges, so parallel and Citus workers compute it in parts.';

CREATE AGGREGATE ecml.average_precision(score double precision, label boolean) (
    SFUNC = ecml.score_bins_transfn,
    STYPE = bytea,
    FINALFUNC = ecml.average_precision_finalfn,
    FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = ecml.score_bins_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.average_precision(double precision, boolean) IS
    'Average precision of scores against boolean labels (true = positive class): the sum over distinct score thresholds, highest first, of (recall gained) x (precision at that threshold), rows with equal scores forming one threshold, without interpolation; equals scikit-learn 1.2 average_precision_score. Exact up to 65,536 distinct scores; beyond, see ecml.score_summary for the error bound. Rows with a NULL score or label are skipped; NULL when no rows or no positive rows are left (recall is undefined; scikit-learn warns and returns 0), 1 when all rows are positive. A NaN score is an error; infinite scores rank as usual. Its state (at most 2.2 MB) merges, so parallel and Citus workers compute it in parts.';

CREATE AGGREGATE ecml.score_summary(score double precision, label boolean) (
    SFUNC = ecml.score_bins_transfn,
    STYPE = bytea,
    FINALFUNC = ecml.score_summary_finalfn,
    FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = ecml.score_bins_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.score_summary(double precision, boolean) IS
    'How exact the ranking metrics are over these rows: jsonb {"rows", "positives", "bins", "inexact_bins", "key_bits", "roc_auc", "roc_auc_error_bound", "average_precision", "average_precision_error_bound"}. The bins hold one distinct score each (inexact_bins = 0, bounds 0) up to 65,536 distinct scores; beyond, neighbouring scores share bins and each metric is within its bound of the exact value. NULL without rows.';
