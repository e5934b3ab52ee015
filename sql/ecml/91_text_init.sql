-- text_classifier_train starting from word vectors: the input rows of the
-- words a word_vectors model knows start from its vectors (fastText's
-- -pretrainedVectors).  A model is bytea, so it is an argument of its own,
-- not an option.

CREATE FUNCTION ecml.text_classifier_train_transfn(internal, text[], text, jsonb, bytea)
    RETURNS internal AS 'MODULE_PATHNAME', 'text_classifier_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.text_classifier_train_transfn(internal, text[], text, jsonb, bytea) IS
    'Support function of ecml.text_classifier_train: buffers one labelled document (and the word vectors to start from, the same on every row).';

CREATE AGGREGATE ecml.text_classifier_train(tokens text[], label text, options jsonb, word_vectors bytea) (
    SFUNC = ecml.text_classifier_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.text_classifier_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.text_classifier_train_combinefn,
    SERIALFUNC = ecml.text_classifier_train_serialfn,
    DESERIALFUNC = ecml.text_classifier_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.text_classifier_train(text[], text, jsonb, bytea) IS
    'Trains a text classifier like the three-argument form, with the input rows of its words starting from a word_vectors model (ecml.word2vec_train or ecml.word_vectors_load; the same on every row) instead of at random: each word with a vector there (its own, or from its character n-grams) starts from it. dim defaults to the word vectors'' dimension; another dim is an error. NULL word_vectors: a random start.';
