-- ecml.train('word2vec'): a vocabulary pass (a grouped count of the
-- tokens), then per epoch a training pass whose state is the checkpoint
-- (the word and n-gram input rows and the output rows, a bytea changed in
-- place) and whose combine function averages two partial states' weights
-- row by row, weighted by each side's use of the row (model averaging), then a pass for
-- the documents' common component.
CREATE FUNCTION ecml.word2vec_pass_transfn(state bytea, tokens text[], vocabulary text[], checkpoint bytea)
    RETURNS bytea AS 'MODULE_PATHNAME', 'word2vec_pass_transfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word2vec_pass_transfn(bytea, text[], text[], bytea) IS
    'Support function of ecml.word2vec_pass: trains the state''s word vectors on one document (or adds its SIF embedding''s second moments, in the last pass).';
CREATE FUNCTION ecml.word2vec_pass_combinefn(state bytea, other bytea)
    RETURNS bytea AS 'MODULE_PATHNAME', 'word2vec_pass_combinefn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word2vec_pass_combinefn(bytea, bytea) IS
    'Support function of ecml.word2vec_pass: averages the two sides'' weights row by row, each row weighted by how often each side''s documents used it, and adds their counters and moments.';
CREATE AGGREGATE ecml.word2vec_pass(tokens text[], vocabulary text[], checkpoint bytea) (
    SFUNC = ecml.word2vec_pass_transfn,
    STYPE = bytea,
    COMBINEFUNC = ecml.word2vec_pass_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.word2vec_pass(text[], text[], bytea) IS
    'One epoch of ecml.train(''word2vec'', source) by model averaging: from the word vectors in checkpoint, trains on the documents with ecml.word2vec_train''s steps (the learning rate decaying linearly by the words trained on so far), each partition (parallel worker, Citus shard) on its own documents; partial states average their weights row by row, each weighted by how often each side''s documents used it. vocabulary: the words of indices 1, 2, ... Returns the next checkpoint. ecml.train calls it; its state merges, so parallel and Citus workers compute it in parts.';

COMMENT ON FUNCTION ecml.train(text, text, jsonb) IS
    'Trains a model of the given kind (logreg, gbdt, mf, iforest, lstm, word2vec) on the rows of source, a SELECT whose columns are the kind''s aggregate arguments in order, in passes whose memory is O(model), not O(rows): each pass is one aggregate query (for mf, one grouped aggregate per ALS half-step; for gbdt, a bin-edge sketch then one histogram pass per tree level; for lstm, a vocabulary pass then one model-averaging pass per epoch; for word2vec, a vocabulary count, one model-averaging pass per epoch and one for the common component) that parallel query and Citus push down. All passes read the calling statement''s snapshot. options: the kind''s training options, save_as (a name: the model is also stored as a new version in ecml.models) and the lifecycle options (holdout, validation_fraction, promote, tolerance, metric; docs/lifecycle.md). Returns the model.';
