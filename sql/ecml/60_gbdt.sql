-- Fraud scoring: gradient-boosted decision trees.

CREATE FUNCTION ecml.fraud_train_transfn(internal, real[], boolean, jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'fraud_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.fraud_train_transfn(internal, real[], boolean, jsonb) IS
    'Support function of ecml.fraud_train: buffers one row.';
CREATE FUNCTION ecml.fraud_train_transfn(internal, real[], boolean)
    RETURNS internal AS 'MODULE_PATHNAME', 'fraud_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.fraud_train_transfn(internal, real[], boolean) IS
    'Support function of ecml.fraud_train: buffers one row.';
CREATE FUNCTION ecml.fraud_train_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'fraud_train_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.fraud_train_combinefn(internal, internal) IS
    'Support function of ecml.fraud_train: merges partial states of parallel workers.';
CREATE FUNCTION ecml.fraud_train_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'fraud_train_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.fraud_train_serialfn(internal) IS
    'Support function of ecml.fraud_train: serializes a partial state.';
CREATE FUNCTION ecml.fraud_train_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'fraud_train_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.fraud_train_deserialfn(bytea, internal) IS
    'Support function of ecml.fraud_train: deserializes a partial state.';
CREATE FUNCTION ecml.fraud_train_finalfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'fraud_train_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.fraud_train_finalfn(internal) IS
    'Support function of ecml.fraud_train: boosts trees over the buffered rows and returns the model.';

CREATE AGGREGATE ecml.fraud_train(features real[], is_fraud boolean, options jsonb) (
    SFUNC = ecml.fraud_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.fraud_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.fraud_train_combinefn,
    SERIALFUNC = ecml.fraud_train_serialfn,
    DESERIALFUNC = ecml.fraud_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.fraud_train(real[], boolean, jsonb) IS
    'Trains gradient-boosted decision trees (histogram boosting, log loss) to score fraud. Options: n_trees (100), learning_rate (0.1), max_depth (6), max_leaves (0: no limit), max_bins (256, the missing-value bin included), min_child_weight (1), l2 (1), min_split_gain (0), subsample (1), colsample (1, per tree), scale_pos_weight (1) or class_weight ("none", "balanced"), validation_fraction (0), early_stopping_rounds (10, 0 = off), seed (0), feature_names. NaN and NULL elements are missing values; rows with a NULL feature vector or label are skipped and counted.';

CREATE AGGREGATE ecml.fraud_train(features real[], is_fraud boolean) (
    SFUNC = ecml.fraud_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.fraud_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.fraud_train_combinefn,
    SERIALFUNC = ecml.fraud_train_serialfn,
    DESERIALFUNC = ecml.fraud_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.fraud_train(real[], boolean) IS
    'Trains gradient-boosted decision trees for fraud scoring with default options; see the three-argument form.';

CREATE FUNCTION ecml.fraud_score(model bytea, features real[])
    RETURNS double precision AS 'MODULE_PATHNAME', 'fraud_score'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.fraud_score(bytea, real[]) IS
    'Probability of fraud in [0, 1] from a model of ecml.fraud_train. NaN and NULL elements are missing values and follow each split''s learned default direction. The model is parsed once per query, not per row.';

CREATE FUNCTION ecml.fraud_explain(model bytea, features real[])
    RETURNS jsonb AS 'MODULE_PATHNAME', 'fraud_explain'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.fraud_explain(bytea, real[]) IS
    'Explains a fraud score: {"base_value", "margin", "contributions": {feature: value}} with exact TreeSHAP contributions to the log-odds (Lundberg et al. 2018); base_value + sum of contributions = margin.';

CREATE FUNCTION ecml.fraud_explain(model bytea, features real[], k integer)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'fraud_explain'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.fraud_explain(bytea, real[], integer) IS
    'Explains a fraud score keeping only the k contributions largest by absolute value; see the two-argument form.';

CREATE FUNCTION ecml.fraud_feature_importance(model bytea)
    RETURNS TABLE(feature text, gain double precision, splits integer)
    AS 'MODULE_PATHNAME', 'fraud_feature_importance'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 30;
COMMENT ON FUNCTION ecml.fraud_feature_importance(bytea) IS
    'Feature importance of a fraud_train model: every feature with its total split gain (loss reduction) and number of splits, largest gain first.';

-- 0.1.0's name, kept for one release (CHANGELOG.md)
CREATE FUNCTION ecml.feature_importance(model bytea)
    RETURNS TABLE(feature text, gain double precision, splits integer)
    AS 'MODULE_PATHNAME', 'fraud_feature_importance'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 30;
COMMENT ON FUNCTION ecml.feature_importance(bytea) IS
    'Deprecated, use ecml.fraud_feature_importance (same result); removed in 1.0.';
