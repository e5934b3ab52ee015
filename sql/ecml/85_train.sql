-- Training in bounded memory: one aggregate query per pass over a source query.

CREATE FUNCTION ecml.train(kind text, source text, options jsonb DEFAULT '{}')
    RETURNS bytea AS 'MODULE_PATHNAME', 'ecml_train'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION ecml.train(text, text, jsonb) IS
    'Trains a model of the given kind (logreg) on the rows of source, a SELECT whose columns are the kind''s aggregate arguments in order, in passes whose memory is O(model), not O(rows): each pass is one aggregate query that parallel query and Citus push down. All passes read the calling statement''s snapshot. options: the kind''s training options, and save_as (a name: the model is also stored with ecml.save_model). Returns the model.';
