-- Evaluation aggregates: ROC AUC, average precision and log loss, exact and
-- with ties treated as scikit-learn 1.2 does.

-- roc_auc and average_precision buffer the scores; they share one state
-- (and its support functions), so a query asking for both buffers once.
CREATE FUNCTION ecml.score_label_transfn(internal, double precision, boolean)
    RETURNS internal AS 'MODULE_PATHNAME', 'ecml_score_label_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.score_label_transfn(internal, double precision, boolean) IS
    'Support function of ecml.roc_auc and ecml.average_precision: buffers one (score, label) row.';
CREATE FUNCTION ecml.score_label_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'ecml_score_label_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.score_label_combinefn(internal, internal) IS
    'Support function of ecml.roc_auc and ecml.average_precision: merges sorted partial states of parallel workers.';
CREATE FUNCTION ecml.score_label_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'ecml_score_label_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.score_label_serialfn(internal) IS
    'Support function of ecml.roc_auc and ecml.average_precision: sorts and serializes a partial state.';
CREATE FUNCTION ecml.score_label_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'ecml_score_label_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.score_label_deserialfn(bytea, internal) IS
    'Support function of ecml.roc_auc and ecml.average_precision: deserializes a partial state.';
CREATE FUNCTION ecml.roc_auc_finalfn(internal)
    RETURNS double precision AS 'MODULE_PATHNAME', 'ecml_roc_auc_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.roc_auc_finalfn(internal) IS
    'Support function of ecml.roc_auc: computes the area under the ROC curve from the buffered rows.';
CREATE FUNCTION ecml.average_precision_finalfn(internal)
    RETURNS double precision AS 'MODULE_PATHNAME', 'ecml_average_precision_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.average_precision_finalfn(internal) IS
    'Support function of ecml.average_precision: computes the average precision from the buffered rows.';

CREATE AGGREGATE ecml.roc_auc(score double precision, label boolean) (
    SFUNC = ecml.score_label_transfn,
    STYPE = internal,
    FINALFUNC = ecml.roc_auc_finalfn,
    FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = ecml.score_label_combinefn,
    SERIALFUNC = ecml.score_label_serialfn,
    DESERIALFUNC = ecml.score_label_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.roc_auc(double precision, boolean) IS
    'Area under the ROC curve of scores against boolean labels (true = positive class), exact: the fraction of (positive, negative) pairs the score ranks right, a tie counting one half; equals scikit-learn 1.2 roc_auc_score. Rows with a NULL score or label are skipped; NULL when no rows are left or only one class is present (where scikit-learn raises). A NaN score is an error; infinite scores rank as usual. Buffers 8 bytes per row, limited by ecml.train_memory_limit.';

CREATE AGGREGATE ecml.average_precision(score double precision, label boolean) (
    SFUNC = ecml.score_label_transfn,
    STYPE = internal,
    FINALFUNC = ecml.average_precision_finalfn,
    FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = ecml.score_label_combinefn,
    SERIALFUNC = ecml.score_label_serialfn,
    DESERIALFUNC = ecml.score_label_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.average_precision(double precision, boolean) IS
    'Average precision of scores against boolean labels (true = positive class): the sum over distinct score thresholds, highest first, of (recall gained) x (precision at that threshold), rows with equal scores forming one threshold, without interpolation; equals scikit-learn 1.2 average_precision_score. Rows with a NULL score or label are skipped; NULL when no rows or no positive rows are left (recall is undefined; scikit-learn warns and returns 0), 1 when all rows are positive. A NaN score is an error; infinite scores rank as usual. Buffers 8 bytes per row, limited by ecml.train_memory_limit.';

-- log_loss needs only a count and a sum: a float8[] state that any parallel
-- or distributed plan can carry.
CREATE FUNCTION ecml.log_loss_transfn(double precision[], double precision, boolean)
    RETURNS double precision[] AS 'MODULE_PATHNAME', 'ecml_log_loss_transfn'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.log_loss_transfn(double precision[], double precision, boolean) IS
    'Support function of ecml.log_loss: adds one row''s cross-entropy to the state {count, sum, compensation}.';
CREATE FUNCTION ecml.log_loss_combinefn(double precision[], double precision[])
    RETURNS double precision[] AS 'MODULE_PATHNAME', 'ecml_log_loss_combinefn'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.log_loss_combinefn(double precision[], double precision[]) IS
    'Support function of ecml.log_loss: adds two partial states.';
CREATE FUNCTION ecml.log_loss_finalfn(double precision[])
    RETURNS double precision AS 'MODULE_PATHNAME', 'ecml_log_loss_finalfn'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.log_loss_finalfn(double precision[]) IS
    'Support function of ecml.log_loss: the mean cross-entropy, NULL without rows.';

CREATE AGGREGATE ecml.log_loss(probability double precision, label boolean) (
    SFUNC = ecml.log_loss_transfn,
    STYPE = double precision[],
    INITCOND = '{0,0,0}',
    FINALFUNC = ecml.log_loss_finalfn,
    COMBINEFUNC = ecml.log_loss_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.log_loss(double precision, boolean) IS
    'Mean cross-entropy (natural log) of predicted probabilities of the positive class against boolean labels, probabilities clipped to [eps, 1 - eps] with eps = 2.220446049250313e-16 (float64 machine epsilon); equals scikit-learn 1.2 log_loss(eps="auto"). Rows with a NULL probability or label are skipped; NULL when no rows are left. A probability outside [0, 1] or NaN is an error.';
