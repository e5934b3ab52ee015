-- Text: tokens through text search configurations, word vectors (trained or
-- loaded) and text embeddings, and a fastText-style text classifier.

CREATE FUNCTION ecml.tokenize(document text)
    RETURNS text[] AS 'MODULE_PATHNAME', 'ecml_tokenize'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.tokenize(text) IS
    'The lexemes of a document in document order, through the text search configuration default_text_search_config (as to_tsvector(document) makes them, but in order and with repeats).';
CREATE FUNCTION ecml.tokenize(document text, config regconfig, ngrams integer DEFAULT 1)
    RETURNS text[] AS 'MODULE_PATHNAME', 'ecml_tokenize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.tokenize(text, regconfig, integer) IS
    'The lexemes of a document in document order through a text search configuration (english: stemmed, stop words removed; simple: lower-cased only). ngrams > 1 (up to 5) appends every run of 2..ngrams consecutive lexemes joined by a space. An empty document or one of stop words only gives an empty array.';

-- word vectors: training
CREATE FUNCTION ecml.word2vec_train_transfn(internal, text[], jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'word2vec_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word2vec_train_transfn(internal, text[], jsonb) IS
    'Support function of ecml.word2vec_train: buffers one document.';
CREATE FUNCTION ecml.word2vec_train_transfn(internal, text[])
    RETURNS internal AS 'MODULE_PATHNAME', 'word2vec_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word2vec_train_transfn(internal, text[]) IS
    'Support function of ecml.word2vec_train: buffers one document.';
CREATE FUNCTION ecml.word2vec_train_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'text_rows_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word2vec_train_combinefn(internal, internal) IS
    'Support function of ecml.word2vec_train: merges partial states of parallel workers.';
CREATE FUNCTION ecml.word2vec_train_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'text_rows_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word2vec_train_serialfn(internal) IS
    'Support function of ecml.word2vec_train: serializes a partial state.';
CREATE FUNCTION ecml.word2vec_train_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'text_rows_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word2vec_train_deserialfn(bytea, internal) IS
    'Support function of ecml.word2vec_train: deserializes a partial state.';
CREATE FUNCTION ecml.word2vec_train_finalfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'word2vec_train_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word2vec_train_finalfn(internal) IS
    'Support function of ecml.word2vec_train: trains on the buffered documents and returns the model.';

CREATE AGGREGATE ecml.word2vec_train(tokens text[], options jsonb) (
    SFUNC = ecml.word2vec_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.word2vec_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.word2vec_train_combinefn,
    SERIALFUNC = ecml.word2vec_train_serialfn,
    DESERIALFUNC = ecml.word2vec_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.word2vec_train(text[], jsonb) IS
    'Trains word vectors on documents (one row per document, its tokens from ecml.tokenize) by skip-gram or CBOW with negative sampling, with character n-gram subwords (fastText) so unseen and misspelt words get vectors. Options: method ("skipgram", "cbow"), dim (100), window (5), negative (5), epochs (5), min_count (5), max_vocab (100000: the most frequent words are kept), sample (1e-3, 0 = no subsampling), learning_rate (0.025, decays linearly), minn (3), maxn (6, 0 = no subwords), buckets (2000000), sif_a (1e-3, for embed_text), seed (42). NULL documents and documents without tokens are skipped and counted.';
CREATE AGGREGATE ecml.word2vec_train(tokens text[]) (
    SFUNC = ecml.word2vec_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.word2vec_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.word2vec_train_combinefn,
    SERIALFUNC = ecml.word2vec_train_serialfn,
    DESERIALFUNC = ecml.word2vec_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.word2vec_train(text[]) IS
    'Trains word vectors with default options; see the two-argument form.';

-- word vectors: loading pretrained rows
CREATE FUNCTION ecml.word_vectors_load_transfn(internal, text, real[], jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'word_vectors_load_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word_vectors_load_transfn(internal, text, real[], jsonb) IS
    'Support function of ecml.word_vectors_load: buffers one word and its vector.';
CREATE FUNCTION ecml.word_vectors_load_transfn(internal, text, real[])
    RETURNS internal AS 'MODULE_PATHNAME', 'word_vectors_load_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word_vectors_load_transfn(internal, text, real[]) IS
    'Support function of ecml.word_vectors_load: buffers one word and its vector.';
CREATE FUNCTION ecml.word_vectors_load_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'text_rows_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word_vectors_load_combinefn(internal, internal) IS
    'Support function of ecml.word_vectors_load: merges partial states of parallel workers.';
CREATE FUNCTION ecml.word_vectors_load_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'text_rows_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word_vectors_load_serialfn(internal) IS
    'Support function of ecml.word_vectors_load: serializes a partial state.';
CREATE FUNCTION ecml.word_vectors_load_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'text_rows_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word_vectors_load_deserialfn(bytea, internal) IS
    'Support function of ecml.word_vectors_load: deserializes a partial state.';
CREATE FUNCTION ecml.word_vectors_load_finalfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'word_vectors_load_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word_vectors_load_finalfn(internal) IS
    'Support function of ecml.word_vectors_load: returns the model.';

CREATE AGGREGATE ecml.word_vectors_load(word text, vector real[], options jsonb) (
    SFUNC = ecml.word_vectors_load_transfn,
    STYPE = internal,
    FINALFUNC = ecml.word_vectors_load_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.word_vectors_load_combinefn,
    SERIALFUNC = ecml.word_vectors_load_serialfn,
    DESERIALFUNC = ecml.word_vectors_load_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.word_vectors_load(text, real[], jsonb) IS
    'A word_vectors model from pretrained vectors (GloVe or fastText rows loaded with COPY), one row per word, for word_vector, similar_words and embed_text. Every vector must have the same length; a repeated word is an error; rows with a NULL word or vector, or an empty word, are skipped and counted. Without counts, embed_text weighs every word 1. Options: sif_a (1e-3).';
CREATE AGGREGATE ecml.word_vectors_load(word text, vector real[]) (
    SFUNC = ecml.word_vectors_load_transfn,
    STYPE = internal,
    FINALFUNC = ecml.word_vectors_load_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.word_vectors_load_combinefn,
    SERIALFUNC = ecml.word_vectors_load_serialfn,
    DESERIALFUNC = ecml.word_vectors_load_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.word_vectors_load(text, real[]) IS
    'A word_vectors model from pretrained vectors with default options; see the three-argument form.';

-- word vectors: scoring
CREATE FUNCTION ecml.word_vector(model bytea, word text)
    RETURNS real[] AS 'MODULE_PATHNAME', 'ecml_word_vector'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word_vector(bytea, text) IS
    'The vector of a word: its own, or for a word not in the vocabulary the average of its character n-grams (models trained with subwords); NULL when it has neither.';
CREATE FUNCTION ecml.similar_words(model bytea, word text, k integer)
    RETURNS TABLE(word text, similarity real) AS 'MODULE_PATHNAME', 'ecml_similar_words'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.similar_words(bytea, text, integer) IS
    'The k vocabulary words nearest a word by cosine similarity, best first, the word itself left out; no rows for a word without a vector.';
CREATE FUNCTION ecml.similar_words(model bytea, vector real[], k integer)
    RETURNS TABLE(word text, similarity real) AS 'MODULE_PATHNAME', 'ecml_similar_words_vec'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.similar_words(bytea, real[], integer) IS
    'The k vocabulary words nearest a vector (of the model''s dimension) by cosine similarity, best first (for analogies: vector arithmetic on word_vector results).';
CREATE FUNCTION ecml.embed_text(model bytea, tokens text[])
    RETURNS real[] AS 'MODULE_PATHNAME', 'ecml_embed_text_tokens'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.embed_text(bytea, text[]) IS
    'A text embedding of tokens: the SIF weighted average a/(a + p(w)) of their word vectors with the training corpus'' common component removed (Arora et al. 2017), at unit length, for ecml.search, pack_vectors and ecml_hnsw; NULL when no token has a vector.';
CREATE FUNCTION ecml.embed_text(model bytea, document text)
    RETURNS real[] AS 'MODULE_PATHNAME', 'ecml_embed_text_document'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.embed_text(bytea, text) IS
    'embed_text of ecml.tokenize(document) under default_text_search_config.';
CREATE FUNCTION ecml.embed_text(model bytea, document text, config regconfig)
    RETURNS real[] AS 'MODULE_PATHNAME', 'ecml_embed_text_document'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.embed_text(bytea, text, regconfig) IS
    'embed_text of ecml.tokenize(document, config); tokenize the training documents with the same configuration.';

-- text classifier
CREATE FUNCTION ecml.text_classifier_train_transfn(internal, text[], text, jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'text_classifier_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.text_classifier_train_transfn(internal, text[], text, jsonb) IS
    'Support function of ecml.text_classifier_train: buffers one labelled document.';
CREATE FUNCTION ecml.text_classifier_train_transfn(internal, text[], text)
    RETURNS internal AS 'MODULE_PATHNAME', 'text_classifier_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.text_classifier_train_transfn(internal, text[], text) IS
    'Support function of ecml.text_classifier_train: buffers one labelled document.';
CREATE FUNCTION ecml.text_classifier_train_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'text_rows_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.text_classifier_train_combinefn(internal, internal) IS
    'Support function of ecml.text_classifier_train: merges partial states of parallel workers.';
CREATE FUNCTION ecml.text_classifier_train_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'text_rows_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.text_classifier_train_serialfn(internal) IS
    'Support function of ecml.text_classifier_train: serializes a partial state.';
CREATE FUNCTION ecml.text_classifier_train_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'text_rows_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.text_classifier_train_deserialfn(bytea, internal) IS
    'Support function of ecml.text_classifier_train: deserializes a partial state.';
CREATE FUNCTION ecml.text_classifier_train_finalfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'text_classifier_train_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.text_classifier_train_finalfn(internal) IS
    'Support function of ecml.text_classifier_train: trains on the buffered documents and returns the model.';

CREATE AGGREGATE ecml.text_classifier_train(tokens text[], label text, options jsonb) (
    SFUNC = ecml.text_classifier_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.text_classifier_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.text_classifier_train_combinefn,
    SERIALFUNC = ecml.text_classifier_train_serialfn,
    DESERIALFUNC = ecml.text_classifier_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.text_classifier_train(text[], text, jsonb) IS
    'Trains a fastText-style text classifier (averaged word and hashed word n-gram embeddings, softmax over the labels) on labelled documents, one row per document (sentiment, stars, topics: 2 to 10000 labels). Options: dim (100), epochs (5), learning_rate (0.1, decays linearly), word_ngrams (1: words only; 2 adds word pairs), buckets (2000000), min_count (1), max_vocab (100000), seed (42). Rows with a NULL document or label, or without tokens, are skipped and counted.';
CREATE AGGREGATE ecml.text_classifier_train(tokens text[], label text) (
    SFUNC = ecml.text_classifier_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.text_classifier_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.text_classifier_train_combinefn,
    SERIALFUNC = ecml.text_classifier_train_serialfn,
    DESERIALFUNC = ecml.text_classifier_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.text_classifier_train(text[], text) IS
    'Trains a text classifier with default options; see the three-argument form.';

CREATE FUNCTION ecml.text_classify(model bytea, tokens text[])
    RETURNS TABLE(label text, probability real) AS 'MODULE_PATHNAME', 'ecml_text_classify'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 5;
COMMENT ON FUNCTION ecml.text_classify(bytea, text[]) IS
    'Every label of a text classifier with its probability for a document, most probable first. Unknown tokens are ignored; a document without a known token gets every label with probability 1/labels (ties: the more frequent label first).';
CREATE FUNCTION ecml.text_label(model bytea, tokens text[])
    RETURNS text AS 'MODULE_PATHNAME', 'ecml_text_label'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.text_label(bytea, text[]) IS
    'The most probable label of a document (the first row of ecml.text_classify).';
CREATE FUNCTION ecml.text_explain(model bytea, tokens text[], label text DEFAULT NULL)
    RETURNS TABLE(token text, contribution real) AS 'MODULE_PATHNAME', 'ecml_text_explain'
    LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 20;
COMMENT ON FUNCTION ecml.text_explain(bytea, text[], text) IS
    'Why a document gets a label (the most probable one when label is NULL): each known token (and word n-gram, as "a b") with its contribution (1/n) x_t . (W_label - mean of W), largest first; the contributions add up to the label''s score minus the average label''s. No rows for a document without a known token.';
