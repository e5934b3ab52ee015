-- Recommendations: matrix factorization (implicit weighted ALS with a
-- conjugate-gradient or Cholesky solver; explicit biased ALS for ratings).

CREATE FUNCTION ecml.mf_train_transfn(internal, bigint, bigint, real, jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'mf_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.mf_train_transfn(internal, bigint, bigint, real, jsonb) IS
    'Support function of ecml.mf_train: buffers one interaction.';
CREATE FUNCTION ecml.mf_train_transfn(internal, bigint, bigint, real)
    RETURNS internal AS 'MODULE_PATHNAME', 'mf_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.mf_train_transfn(internal, bigint, bigint, real) IS
    'Support function of ecml.mf_train: buffers one interaction.';
CREATE FUNCTION ecml.mf_train_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'mf_train_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.mf_train_combinefn(internal, internal) IS
    'Support function of ecml.mf_train: merges partial states of parallel workers.';
CREATE FUNCTION ecml.mf_train_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'mf_train_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.mf_train_serialfn(internal) IS
    'Support function of ecml.mf_train: serializes a partial state.';
CREATE FUNCTION ecml.mf_train_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'mf_train_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.mf_train_deserialfn(bytea, internal) IS
    'Support function of ecml.mf_train: deserializes a partial state.';
CREATE FUNCTION ecml.mf_train_finalfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'mf_train_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.mf_train_finalfn(internal) IS
    'Support function of ecml.mf_train: factorizes the buffered interactions and returns the model.';

CREATE AGGREGATE ecml.mf_train(user_id bigint, item_id bigint, value real, options jsonb) (
    SFUNC = ecml.mf_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.mf_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.mf_train_combinefn,
    SERIALFUNC = ecml.mf_train_serialfn,
    DESERIALFUNC = ecml.mf_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.mf_train(bigint, bigint, real, jsonb) IS
    'Trains a matrix factorization on (user, item, value) interactions; duplicate pairs add up; ids are any bigints. Options: factors (64), iterations (15), regularization (0.1), implicit (true: weighted ALS with confidence 1 + alpha*value, Hu et al. 2008; false: biased ALS on ratings), alpha (1), solver ("cg" with cg_steps (3), or "cholesky"), biases (true, explicit mode), seed (42), store_interactions (true, needed to exclude seen items). Rows with a NULL are skipped and counted.';

CREATE AGGREGATE ecml.mf_train(user_id bigint, item_id bigint, value real) (
    SFUNC = ecml.mf_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.mf_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.mf_train_combinefn,
    SERIALFUNC = ecml.mf_train_serialfn,
    DESERIALFUNC = ecml.mf_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.mf_train(bigint, bigint, real) IS
    'Trains an implicit-feedback matrix factorization with default options; see the four-argument form.';

CREATE FUNCTION ecml.mf_recommend(model bytea, user_id bigint, k integer,
    exclude_seen boolean DEFAULT true)
    RETURNS TABLE (item_id bigint, score real)
    AS 'MODULE_PATHNAME', 'mf_recommend'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.mf_recommend(bytea, bigint, integer, boolean) IS
    'The k items of highest score for a user, best first (ties by smaller item id), leaving out the items of the user''s training interactions unless exclude_seen is false. An unknown user gives no rows (and a NOTICE pointing to ecml.mf_fold_in); k larger than the item count returns every item.';

CREATE FUNCTION ecml.mf_recommend_all(model bytea, k integer,
    exclude_seen boolean DEFAULT true)
    RETURNS TABLE (user_id bigint, item_id bigint, rank integer, score real)
    AS 'MODULE_PATHNAME', 'mf_recommend_all'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 100000;
COMMENT ON FUNCTION ecml.mf_recommend_all(bytea, integer, boolean) IS
    'The top k items of every user in the model (rank 1 = best), for batch jobs: scores come from sgemm over blocks of users and items with a bounded heap per user, never a users x items matrix.';

CREATE FUNCTION ecml.mf_similar_items(model bytea, item_id bigint, k integer)
    RETURNS TABLE (item_id bigint, score real)
    AS 'MODULE_PATHNAME', 'mf_similar_items'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.mf_similar_items(bytea, bigint, integer) IS
    'The k items whose factor vectors have the highest cosine similarity to the item''s, itself excluded; no rows for an unknown item.';

CREATE FUNCTION ecml.mf_predict(model bytea, user_id bigint, item_id bigint)
    RETURNS real AS 'MODULE_PATHNAME', 'mf_predict'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.mf_predict(bytea, bigint, bigint) IS
    'Predicted score of a (user, item) pair: the factor dot product (implicit: a preference near 0..1), plus global mean and biases for an explicit model (a predicted rating). NULL when the user or the item is not in the model.';

CREATE FUNCTION ecml.mf_fold_in(model bytea, item_ids bigint[], "values" real[])
    RETURNS real[] AS 'MODULE_PATHNAME', 'mf_fold_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.mf_fold_in(bytea, bigint[], real[]) IS
    'A user vector from a few events (item ids and values, as in training) against the model''s fixed item factors: one least-squares solve, no retraining. Factors, then the user bias for an explicit model with biases. Unknown items are ignored; NULL when none is known.';

CREATE FUNCTION ecml.mf_recommend_vector(model bytea, user_vector real[], k integer,
    exclude bigint[] DEFAULT '{}')
    RETURNS TABLE (item_id bigint, score real)
    AS 'MODULE_PATHNAME', 'mf_recommend_vector'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.mf_recommend_vector(bytea, real[], integer, bigint[]) IS
    'The k items of highest score for a user vector (from ecml.mf_fold_in), best first, leaving out the item ids in exclude.';

CREATE FUNCTION ecml.mf_user_factors(model bytea)
    RETURNS TABLE (id bigint, factors real[], bias real)
    AS 'MODULE_PATHNAME', 'mf_user_factors'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION ecml.mf_user_factors(bytea) IS
    'Every user id of the model with its factor vector and bias (NULL without biases), ids ascending.';

CREATE FUNCTION ecml.mf_item_factors(model bytea)
    RETURNS TABLE (id bigint, factors real[], bias real)
    AS 'MODULE_PATHNAME', 'mf_item_factors'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION ecml.mf_item_factors(bytea) IS
    'Every item id of the model with its factor vector (an embedding for similarity search) and bias (NULL without biases), ids ascending.';
