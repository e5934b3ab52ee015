-- Ranking metrics over arrays, and the RMSE aggregate for ratings.

CREATE FUNCTION ecml.precision_at_k(recommended bigint[], relevant bigint[], k integer)
    RETURNS double precision AS 'MODULE_PATHNAME', 'ecml_precision_at_k'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.precision_at_k(bigint[], bigint[], integer) IS
    'Distinct relevant ids among the first k recommended, divided by k (a list shorter than k counts its missing places as misses).';

CREATE FUNCTION ecml.recall_at_k(recommended bigint[], relevant bigint[], k integer)
    RETURNS double precision AS 'MODULE_PATHNAME', 'ecml_recall_at_k'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.recall_at_k(bigint[], bigint[], integer) IS
    'Distinct relevant ids among the first k recommended, divided by the number of distinct relevant ids; NULL when relevant is empty.';

CREATE FUNCTION ecml.ndcg_at_k(recommended bigint[], relevant bigint[], k integer)
    RETURNS double precision AS 'MODULE_PATHNAME', 'ecml_ndcg_at_k'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.ndcg_at_k(bigint[], bigint[], integer) IS
    'Normalized discounted cumulative gain of the first k recommended with binary relevance: sum of 1/log2(rank+1) over hits, divided by its ideal value for min(k, |relevant|) hits; NULL when relevant is empty.';

CREATE FUNCTION ecml.hit_rate_at_k(recommended bigint[], relevant bigint[], k integer)
    RETURNS double precision AS 'MODULE_PATHNAME', 'ecml_hit_rate_at_k'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.hit_rate_at_k(bigint[], bigint[], integer) IS
    '1 when any relevant id is among the first k recommended, else 0; its average over users is the hit rate.';

CREATE FUNCTION ecml.rmse_transfn(double precision[], double precision, double precision)
    RETURNS double precision[] AS 'MODULE_PATHNAME', 'ecml_rmse_transfn'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.rmse_transfn(double precision[], double precision, double precision) IS
    'Support function of ecml.rmse: adds one squared error to the state {count, sum, compensation}.';
CREATE FUNCTION ecml.rmse_combinefn(double precision[], double precision[])
    RETURNS double precision[] AS 'MODULE_PATHNAME', 'ecml_rmse_combinefn'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.rmse_combinefn(double precision[], double precision[]) IS
    'Support function of ecml.rmse: adds two partial states.';
CREATE FUNCTION ecml.rmse_finalfn(double precision[])
    RETURNS double precision AS 'MODULE_PATHNAME', 'ecml_rmse_finalfn'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.rmse_finalfn(double precision[]) IS
    'Support function of ecml.rmse: the square root of the mean squared error, NULL without rows.';

CREATE AGGREGATE ecml.rmse(prediction double precision, actual double precision) (
    SFUNC = ecml.rmse_transfn,
    STYPE = double precision[],
    INITCOND = '{0,0,0}',
    FINALFUNC = ecml.rmse_finalfn,
    COMBINEFUNC = ecml.rmse_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.rmse(double precision, double precision) IS
    'Root mean squared error of predictions against actual values (compensated summation). Rows with a NULL are skipped; NULL when no rows are left; NaN or infinity is an error.';
