-- Evaluation: log loss, a float8[] state {count, sum, compensation}.

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
