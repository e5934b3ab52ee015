-- ecml.train('lstm'): a vocabulary pass (token counters in a bytea, exact
-- while the distinct tokens fit, else a mergeable Misra-Gries summary),
-- then per epoch a training pass whose state is the weights and Adam
-- moments (a bytea checkpoint changed in place) and whose combine function
-- averages two partial states' weights (model averaging, local SGD).
CREATE FUNCTION ecml.lstm_vocab_pass_transfn(state bytea, sequence bigint[], params double precision[])
    RETURNS bytea AS 'MODULE_PATHNAME', 'lstm_vocab_pass_transfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_vocab_pass_transfn(bytea, bigint[], double precision[]) IS
    'Support function of ecml.lstm_vocab_pass: counts the tokens of one sequence (its last max_length).';
CREATE FUNCTION ecml.lstm_vocab_pass_transfn(state bytea, sequence text[], params double precision[])
    RETURNS bytea AS 'MODULE_PATHNAME', 'lstm_vocab_pass_transfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_vocab_pass_transfn(bytea, text[], double precision[]) IS
    'Support function of ecml.lstm_vocab_pass: counts the tokens of one sequence (its last max_length).';
CREATE FUNCTION ecml.lstm_vocab_pass_combinefn(state bytea, other bytea)
    RETURNS bytea AS 'MODULE_PATHNAME', 'lstm_vocab_pass_combinefn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_vocab_pass_combinefn(bytea, bytea) IS
    'Support function of ecml.lstm_vocab_pass: adds two partial token counts, keeping at most capacity counters (Misra-Gries merge).';
CREATE AGGREGATE ecml.lstm_vocab_pass(sequence bigint[], params double precision[]) (
    SFUNC = ecml.lstm_vocab_pass_transfn,
    STYPE = bytea,
    COMBINEFUNC = ecml.lstm_vocab_pass_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.lstm_vocab_pass(bigint[], double precision[]) IS
    'The vocabulary pass of ecml.train(''lstm'', source): counts the tokens of the sequences, each cut to its last max_length tokens, in a bytea of at most capacity counters whose partial states merge. params = {max_length, capacity}. Exact while the distinct tokens fit; beyond, a Misra-Gries summary whose counts are low by at most the tokens / (capacity + 1). ecml.train calls it and keeps the most frequent tokens.';
CREATE AGGREGATE ecml.lstm_vocab_pass(sequence text[], params double precision[]) (
    SFUNC = ecml.lstm_vocab_pass_transfn,
    STYPE = bytea,
    COMBINEFUNC = ecml.lstm_vocab_pass_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.lstm_vocab_pass(text[], double precision[]) IS
    'The vocabulary pass of ecml.train(''lstm'', source) for text tokens: as ecml.lstm_vocab_pass(bigint[], double precision[]).';

CREATE FUNCTION ecml.lstm_pass_transfn(state bytea, sequence bigint[], vocabulary bigint[], checkpoint bytea)
    RETURNS bytea AS 'MODULE_PATHNAME', 'lstm_pass_transfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_pass_transfn(bytea, bigint[], bigint[], bytea) IS
    'Support function of ecml.lstm_pass: buffers one sequence and, when the shuffle buffer is full, trains the state''s weights on a mini-batch drawn from it (or scores a mini-batch, in a validation or repeat pass).';
CREATE FUNCTION ecml.lstm_pass_transfn(state bytea, sequence text[], vocabulary text[], checkpoint bytea)
    RETURNS bytea AS 'MODULE_PATHNAME', 'lstm_pass_transfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_pass_transfn(bytea, text[], text[], bytea) IS
    'Support function of ecml.lstm_pass: buffers one sequence and, when the shuffle buffer is full, trains the state''s weights on a mini-batch drawn from it (or scores a mini-batch, in a validation or repeat pass).';
CREATE FUNCTION ecml.lstm_pass_combinefn(state bytea, other bytea)
    RETURNS bytea AS 'MODULE_PATHNAME', 'lstm_pass_combinefn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_pass_combinefn(bytea, bytea) IS
    'Support function of ecml.lstm_pass: trains on what each side still buffers, then averages the two sides'' weights and Adam moments, weighted by the sequences each trained on.';
CREATE FUNCTION ecml.lstm_pass_finalfn(state bytea)
    RETURNS bytea AS 'MODULE_PATHNAME', 'lstm_pass_finalfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_pass_finalfn(bytea) IS
    'Support function of ecml.lstm_pass: trains on the sequences still buffered and returns the checkpoint.';
CREATE AGGREGATE ecml.lstm_pass(sequence bigint[], vocabulary bigint[], checkpoint bytea) (
    SFUNC = ecml.lstm_pass_transfn,
    STYPE = bytea,
    FINALFUNC = ecml.lstm_pass_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.lstm_pass_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.lstm_pass(bigint[], bigint[], bytea) IS
    'One epoch (or one slice of an epoch) of ecml.train(''lstm'', source) by model averaging: from the weights and Adam moments in checkpoint, trains on the sequences in mini-batches drawn at random from a shuffle buffer (the step of ecml.lstm_train), each partition (parallel worker, Citus shard) on its own rows; partial states average their weights, weighted by the sequences each trained on. vocabulary: the tokens of indices 1, 2, ... Returns the next checkpoint. The same aggregate scores the validation sequences and collects the targets of the repeat mechanism''s fit. ecml.train calls it; its state merges, so parallel and Citus workers compute it in parts.';
CREATE AGGREGATE ecml.lstm_pass(sequence text[], vocabulary text[], checkpoint bytea) (
    SFUNC = ecml.lstm_pass_transfn,
    STYPE = bytea,
    FINALFUNC = ecml.lstm_pass_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.lstm_pass_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.lstm_pass(text[], text[], bytea) IS
    'One epoch of ecml.train(''lstm'', source) for text tokens: as ecml.lstm_pass(bigint[], bigint[], bytea).';

COMMENT ON FUNCTION ecml.train(text, text, jsonb) IS
    'Trains a model of the given kind (logreg, gbdt, mf, iforest, lstm) on the rows of source, a SELECT whose columns are the kind''s aggregate arguments in order, in passes whose memory is O(model), not O(rows): each pass is one aggregate query (for mf, one grouped aggregate per ALS half-step; for gbdt, a bin-edge sketch then one histogram pass per tree level; for lstm, a vocabulary pass, one model-averaging pass per epoch or per slice of it, a validation pass per epoch and a repeat-fit pass) that parallel query and Citus push down. All passes read the calling statement''s snapshot. options: the kind''s training options, save_as (a name: the model is also stored as a new version in ecml.models) and the lifecycle options (holdout, validation_fraction, promote, tolerance, metric; docs/lifecycle.md). Returns the model.';
