-- Next-action prediction: an LSTM over token sequences.

CREATE FUNCTION ecml.lstm_train_transfn(internal, bigint[], jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'lstm_train_transfn_int8'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_train_transfn(internal, bigint[], jsonb) IS
    'Support function of ecml.lstm_train: buffers one sequence.';
CREATE FUNCTION ecml.lstm_train_transfn(internal, bigint[])
    RETURNS internal AS 'MODULE_PATHNAME', 'lstm_train_transfn_int8'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_train_transfn(internal, bigint[]) IS
    'Support function of ecml.lstm_train: buffers one sequence.';
CREATE FUNCTION ecml.lstm_train_transfn(internal, text[], jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'lstm_train_transfn_text'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_train_transfn(internal, text[], jsonb) IS
    'Support function of ecml.lstm_train: buffers one sequence.';
CREATE FUNCTION ecml.lstm_train_transfn(internal, text[])
    RETURNS internal AS 'MODULE_PATHNAME', 'lstm_train_transfn_text'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_train_transfn(internal, text[]) IS
    'Support function of ecml.lstm_train: buffers one sequence.';
CREATE FUNCTION ecml.lstm_train_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'lstm_train_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_train_combinefn(internal, internal) IS
    'Support function of ecml.lstm_train: merges partial states of parallel workers.';
CREATE FUNCTION ecml.lstm_train_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'lstm_train_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_train_serialfn(internal) IS
    'Support function of ecml.lstm_train: serializes a partial state.';
CREATE FUNCTION ecml.lstm_train_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'lstm_train_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_train_deserialfn(bytea, internal) IS
    'Support function of ecml.lstm_train: deserializes a partial state.';
CREATE FUNCTION ecml.lstm_train_finalfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'lstm_train_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_train_finalfn(internal) IS
    'Support function of ecml.lstm_train: trains on the buffered sequences and returns the model.';

CREATE AGGREGATE ecml.lstm_train(sequence bigint[], options jsonb) (
    SFUNC = ecml.lstm_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.lstm_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.lstm_train_combinefn,
    SERIALFUNC = ecml.lstm_train_serialfn,
    DESERIALFUNC = ecml.lstm_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.lstm_train(bigint[], jsonb) IS
    'Trains an LSTM next-token model on sequences (one row per sequence, tokens in time order). Options: embedding_dim (hidden_size), hidden_size (128), layers (1), epochs (20), batch_size (64), learning_rate (5e-3, Adam), max_length (200), min_count (1), max_vocab (100000), clip_norm (5), validation_fraction (0.1, with early stopping), patience (3), seed (42), softmax ("auto", "full", "sampled"), softmax_threshold (20000), num_sampled (512), bptt (0 = whole sequence), dropout (0.25), weight_decay (0), repeat ("auto": mix in the items of the sequence, RepeatNet-style, fitted on the validation sequences; "off"), cell ("lstm" or "gru" cells), tied (the output layer is the embedding; true when embedding_dim = hidden_size), batching ("sequences", or "session_parallel" lanes advancing session_steps (5) clicks per mini-batch); successors, neighbours, loss, bpr_reg and output_bias are in docs/next-action.md. NULL sequences and sequences of fewer than 2 tokens are skipped and counted.';
CREATE AGGREGATE ecml.lstm_train(sequence bigint[]) (
    SFUNC = ecml.lstm_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.lstm_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.lstm_train_combinefn,
    SERIALFUNC = ecml.lstm_train_serialfn,
    DESERIALFUNC = ecml.lstm_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.lstm_train(bigint[]) IS
    'Trains an LSTM next-token model on bigint sequences with default options; see the two-argument form.';
CREATE AGGREGATE ecml.lstm_train(sequence text[], options jsonb) (
    SFUNC = ecml.lstm_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.lstm_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.lstm_train_combinefn,
    SERIALFUNC = ecml.lstm_train_serialfn,
    DESERIALFUNC = ecml.lstm_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.lstm_train(text[], jsonb) IS
    'Trains an LSTM next-token model on text sequences (action types such as view, cart, purchase); the model keeps text tokens. Options as for the bigint[] form.';
CREATE AGGREGATE ecml.lstm_train(sequence text[]) (
    SFUNC = ecml.lstm_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.lstm_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.lstm_train_combinefn,
    SERIALFUNC = ecml.lstm_train_serialfn,
    DESERIALFUNC = ecml.lstm_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.lstm_train(text[]) IS
    'Trains an LSTM next-token model on text sequences with default options; see the two-argument form.';

CREATE FUNCTION ecml.lstm_top(model bytea, sequence bigint[], k integer,
    exclude_seen boolean DEFAULT false)
    RETURNS TABLE(token bigint, probability real) AS 'MODULE_PATHNAME', 'lstm_top'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.lstm_top(bytea, bigint[], integer, boolean) IS
    'The k most likely next tokens after a sequence, with their probabilities, best first; exclude_seen leaves out tokens of the sequence. Unknown tokens read as the unknown token, which is never returned; an empty sequence scores from the initial state.';
CREATE FUNCTION ecml.lstm_top(model bytea, sequence text[], k integer,
    exclude_seen boolean DEFAULT false)
    RETURNS TABLE(token text, probability real) AS 'MODULE_PATHNAME', 'lstm_top'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.lstm_top(bytea, text[], integer, boolean) IS
    'The k most likely next tokens after a text sequence, with their probabilities, best first; see the bigint[] form.';

-- 0.1.0's set-returning name, kept for one release (CHANGELOG.md)
CREATE FUNCTION ecml.lstm_predict(model bytea, sequence bigint[], k integer,
    exclude_seen boolean DEFAULT false)
    RETURNS TABLE(token bigint, probability real) AS 'MODULE_PATHNAME', 'lstm_top'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.lstm_predict(bytea, bigint[], integer, boolean) IS
    'Deprecated, use ecml.lstm_top (same rows); removed in 1.0.';
CREATE FUNCTION ecml.lstm_predict(model bytea, sequence text[], k integer,
    exclude_seen boolean DEFAULT false)
    RETURNS TABLE(token text, probability real) AS 'MODULE_PATHNAME', 'lstm_top'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.lstm_predict(bytea, text[], integer, boolean) IS
    'Deprecated, use ecml.lstm_top (same rows); removed in 1.0.';

CREATE FUNCTION ecml.lstm_next(model bytea, sequence bigint[]) RETURNS bigint
    AS 'MODULE_PATHNAME', 'lstm_next'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_next(bytea, bigint[]) IS
    'The most likely next token after a sequence (never the unknown token).';
CREATE FUNCTION ecml.lstm_next(model bytea, sequence text[]) RETURNS text
    AS 'MODULE_PATHNAME', 'lstm_next'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_next(bytea, text[]) IS
    'The most likely next token after a text sequence (never the unknown token).';

CREATE FUNCTION ecml.lstm_embed(model bytea, sequence bigint[]) RETURNS real[]
    AS 'MODULE_PATHNAME', 'lstm_embed'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_embed(bytea, bigint[]) IS
    'Session embedding: the top LSTM layer''s final hidden state after the sequence (hidden_size values; zeros for an empty sequence).';
CREATE FUNCTION ecml.lstm_embed(model bytea, sequence text[]) RETURNS real[]
    AS 'MODULE_PATHNAME', 'lstm_embed'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_embed(bytea, text[]) IS
    'Session embedding of a text sequence: the top LSTM layer''s final hidden state.';
