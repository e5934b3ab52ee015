/*
 * lstm_predict.c
 *	  Scoring with an LSTM model: ecml.lstm_top() (and its deprecated
 *	  0.1.0 name ecml.lstm_predict()), ecml.lstm_next() and
 *	  ecml.lstm_embed(), each with a bigint[] and a text[] form (the model
 *	  says which it was trained on).  The model is parsed once (model
 *	  cache); a sequence costs one pass of the network over its last
 *	  max_length tokens and one matrix-vector product with the output layer.
 */
#include "postgres.h"

#include <math.h>

#include "arrays.h"
#include "blas.h"
#include "catalog/pg_type.h"
#include "ecml.h"
#include "funcapi.h"
#include "lstm.h"
#include "miscadmin.h"
#include "nn.h"
#include "topk.h"
#include "utils/array.h"
#include "utils/builtins.h"

static const char *
token_type_name(int token_type)
{
	return token_type == LSTM_TOKENS_TEXT ? "text" : "bigint";
}

/*
 * The vocabulary indices of a scoring sequence (unknown tokens map to the
 * unknown token), cut to its last max_length tokens; *n_out their count.
 */
static int32 *
sequence_indices(const LstmModel *m, ArrayType *arr, int *n_out)
{
	Oid			elemtype = ARR_ELEMTYPE(arr);
	int			want = m->token_type == LSTM_TOKENS_TEXT ? TEXTOID : INT8OID;
	int32	   *ids;
	int			n;
	int			first;

	if (elemtype != want)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the model was trained on %s tokens, the sequence is %s[]",
						token_type_name(m->token_type), format_type_be(elemtype)),
				 errhint("Pass the sequence as %s[], the token type ecml.model_info() shows.",
						 token_type_name(m->token_type))));
	if (m->token_type == LSTM_TOKENS_BIGINT)
	{
		int64	   *tok = ecml_array_int8(arr, "sequence", -1, &n);

		first = Max(0, n - m->max_length);
		ids = palloc(sizeof(int32) * Max(n - first, 1));
		for (int i = first; i < n; i++)
		{
			int			e = lstm_vocab_find(&m->vocab, tok[i], NULL, 0);

			ids[i - first] = e < 0 ? LSTM_UNKNOWN : e + 1;
		}
	}
	else
	{
		Datum	   *elems;
		bool	   *nulls;

		if (ARR_NDIM(arr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("sequence must be a one-dimensional array, got %d dimensions",
							ARR_NDIM(arr))));
		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		first = Max(0, n - m->max_length);
		ids = palloc(sizeof(int32) * Max(n - first, 1));
		for (int i = 0; i < n; i++)
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("sequence must not contain NULL elements")));
		for (int i = first; i < n; i++)
		{
			text	   *t = (text *) DatumGetPointer(elems[i]);
			int			e = lstm_vocab_find(&m->vocab, 0, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));

			ids[i - first] = e < 0 ? LSTM_UNKNOWN : e + 1;
		}
	}
	*n_out = n - first;
	return ids;
}

/*
 * The top layer's hidden state after reading ids (n); zeros (the initial
 * state) when n = 0.  Returns H floats.
 *
 * Time-major: all layers advance one token at a time, each keeping only
 * its own state, so memory stays O(L (E + H)) however long the sequence
 * (all steps' activations of a hidden size 4096 model over 10,000 tokens
 * would be 1.5 GB).  The cost, n L (I + H) G multiply-adds (G = 4H, or
 * 3H for GRU cells), is the model's to choose (hours for that model), so
 * it can be cancelled at every token.
 */
static float *
lstm_final_state(const LstmModel *m, const int32 *ids, int n)
{
	const LstmNet *net = &m->net;
	int			H = net->H;
	static const int one = 1;
	LstmActs	acts[LSTM_LAYERS_MAX];
	float	   *x = palloc(sizeof(float) * net->E);

	for (int l = 0; l < net->L; l++)
	{
		int			I = l == 0 ? net->E : H;

		lstm_acts_layout(&acts[l], palloc0(sizeof(float) * lstm_acts_floats(1, 1, I, H)),
						 1, 1, I, H);
	}
	ecml_blas_prepare();
	for (int t = 0; t < n; t++)
	{
		const float *in = x;

		CHECK_FOR_INTERRUPTS();
		embedding_forward(x, ids + t, 1, net->emb, net->E);
		for (int l = 0; l < net->L; l++)
		{
			LstmActs   *a = &acts[l];

			rnn_forward((NnCell) net->cell, a, in, &one, 1, 1, l == 0 ? net->E : H, H,
						net->W[l], net->b[l]);
			/* this step's state is the next step's initial state */
			memcpy(a->h, a->h + H, sizeof(float) * H);
			memcpy(a->c, a->c + H, sizeof(float) * H);
			in = a->h;
		}
	}
	return acts[net->L - 1].h;
}

/*
 * probabilities (V) of the next token after ids (n): the softmax, mixed
 * with the last token's successors when the model has a successor table,
 * then with the sequence's own tokens when it has a repeat weight, then
 * with the neighbour sessions' items when it has those.  In
 * explore mode the seen tokens' softmax mass goes to the others first, and
 * the successors are those not seen, unless the fit found that they may
 * be seen tokens.
 */
static float *
lstm_next_probs(const LstmModel *m, const int32 *ids, int n)
{
	const LstmNet *net = &m->net;
	float	   *h = lstm_final_state(m, ids, n);
	float	   *p = palloc(sizeof(float) * net->V);
	float		mx = -INFINITY;
	double		sum = 0.0;

	memcpy(p, net->bo, sizeof(float) * net->V);
	/* logits (V) = W_o (V,H) . h (H) + b_o */
	ecml_sgemv(net->V, net->H, 1.0f, net->Wo, net->H, h, 1.0f, p);
	for (int c = 0; c < net->V; c++)
		mx = Max(mx, p[c]);
	for (int c = 0; c < net->V; c++)
	{
		p[c] = expf(p[c] - mx);
		sum += p[c];
	}
	for (int c = 0; c < net->V; c++)
		p[c] = (float) (p[c] / sum);
	if (m->repeat_explore)
		lstm_explore_base(p, net->V, ids, n);
	lstm_successors_mix(p, net->V, &m->succ, ids, n, m->succ_params[0], m->succ_params[1],
						m->repeat_explore && m->succ_params[2] != 1.0f);
	lstm_repeat_mix(p, net->V, ids, n, m->repeat_weight, m->repeat_decay);
	lstm_neighbours_mix(p, net->V, &m->knn, ids, n, m->knn_weight);
	return p;
}

static Datum
token_datum(const LstmModel *m, int index)
{
	if (m->token_type == LSTM_TOKENS_TEXT)
		return PointerGetDatum(cstring_to_text_with_len(m->vocab.strs[index - 1],
														m->vocab.lens[index - 1]));
	return Int64GetDatum(m->vocab.ids[index - 1]);
}

/*
 * ecml.lstm_top(model, sequence, k [, exclude_seen]) → the k most likely
 * next tokens with their probabilities, best first (the unknown token is
 * never returned).  The deprecated ecml.lstm_predict binds the same entry
 * point; 0.1.0's symbol lstm_predict is in compat.c.
 */
PG_FUNCTION_INFO_V1(lstm_top);
Datum
lstm_top(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LstmModel  *m;
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	int32		k = PG_GETARG_INT32(2);
	bool		exclude_seen = PG_NARGS() > 3 ? PG_GETARG_BOOL(3) : false;
	int32	   *ids;
	int			n;
	float	   *p;
	bool	   *skip;
	EcmlTopK	top;
	int			found;

	if (k <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be positive, got %d", k)));
	InitMaterializedSRF(fcinfo, 0);
	m = ecml_model_cached(fcinfo, 0, ECML_KIND_LSTM, lstm_parse);
	ids = sequence_indices(m, arr, &n);
	p = lstm_next_probs(m, ids, n);

	skip = palloc0(sizeof(bool) * m->net.V);
	skip[LSTM_UNKNOWN] = true;
	if (exclude_seen)
		for (int t = 0; t < n; t++)
			skip[ids[t]] = true;
	ecml_topk_init(&top, Min(k, m->net.V - 1));
	for (int c = 1; c < m->net.V; c++)
		if (!skip[c] && -p[c] <= ecml_topk_bound(&top))
			ecml_topk_push(&top, -p[c], c);
	found = ecml_topk_sort(&top);
	for (int i = 0; i < found; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = token_datum(m, (int) top.id[i]);
		values[1] = Float4GetDatum(-top.key[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ecml.lstm_next(model, sequence) → the most likely next token */
PG_FUNCTION_INFO_V1(lstm_next);
Datum
lstm_next(PG_FUNCTION_ARGS)
{
	LstmModel  *m = ecml_model_cached(fcinfo, 0, ECML_KIND_LSTM, lstm_parse);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	int			n;
	int32	   *ids = sequence_indices(m, arr, &n);
	float	   *p = lstm_next_probs(m, ids, n);
	int			best = 1;

	/* ties go to the more frequent token (the lower index) */
	for (int c = 2; c < m->net.V; c++)
		if (p[c] > p[best])
			best = c;
	PG_RETURN_DATUM(token_datum(m, best));
}

/* ecml.lstm_embed(model, sequence) → the top layer's final hidden state */
PG_FUNCTION_INFO_V1(lstm_embed);
Datum
lstm_embed(PG_FUNCTION_ARGS)
{
	LstmModel  *m = ecml_model_cached(fcinfo, 0, ECML_KIND_LSTM, lstm_parse);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	int			n;
	int32	   *ids = sequence_indices(m, arr, &n);

	PG_RETURN_ARRAYTYPE_P(ecml_float4_array(lstm_final_state(m, ids, n), m->net.H));
}
