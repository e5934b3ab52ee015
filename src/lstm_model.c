/*
 * lstm_model.c
 *	  The LSTM model: the layout of its parameters in one allocation
 *	  (lstm_param_count, lstm_net_layout), shared by training and scoring,
 *	  and the parser that checks a model and decodes its network and
 *	  vocabulary.  Training writes the model; the ecml.lstm_* scorers read
 *	  it through this file.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "arrays.h"
#include "catalog/pg_type.h"
#include "ecml.h"
#include "lstm.h"
#include "miscadmin.h"
#include "nn.h"
#include "utils/array.h"
#include "utils/builtins.h"

/* the largest weight magnitude a model may hold (see lstm_parse) */
#define LSTM_MAX_ABS_WEIGHT 1e9f

size_t
lstm_param_count(int V, int E, int H, int L, int cell)
{
	size_t		n = (size_t) V * E + (size_t) V * H + V;
	int			G = rnn_gates((NnCell) cell, H);

	for (int l = 0; l < L; l++)
		n += (size_t) ((l == 0 ? E : H) + H) * G + G;
	return n;
}

void
lstm_net_layout(LstmNet *net, float *params)
{
	float	   *p = params;
	int			G = rnn_gates((NnCell) net->cell, net->H);

	net->params = params;
	net->nparams = lstm_param_count(net->V, net->E, net->H, net->L, net->cell);
	net->emb = p;
	p += (size_t) net->V * net->E;
	for (int l = 0; l < net->L; l++)
	{
		int			I = l == 0 ? net->E : net->H;

		net->W[l] = p;
		p += (size_t) (I + net->H) * G;
		net->b[l] = p;
		p += G;
	}
	net->Wo = p;
	p += (size_t) net->V * net->H;
	net->bo = p;
}

/* "invalid ecml model: lstm <what>" (data_corrupted), model.c */
#define MODEL_CORRUPTED(what) \
	ecml_model_kind_corrupted("lstm", (what), \
							  "Pass a model produced by ecml.lstm_train, unmodified.")

/* the recurrent cell (NnCell): LSTM unless the model has a cell section */
static int
lstm_parse_cell(const EcmlModel *model)
{
	const EcmlSection *s = ecml_model_section(model, LSTM_TAG_CELL, ECML_SECTION_INT32, false);
	int32		cell;

	if (s == NULL)
		return NN_CELL_LSTM;
	if (s->length != sizeof(cell))
		MODEL_CORRUPTED("cell section has the wrong length");
	memcpy(&cell, s->data, sizeof(cell));
	if (cell != NN_CELL_LSTM && cell != NN_CELL_GRU)
		MODEL_CORRUPTED("cell out of range");
	return cell;
}

/* Parse a validated lstm model into its network and vocabulary (in mcxt). */
void *
lstm_parse(const EcmlModel *model, MemoryContext mcxt)
{
	LstmModel  *m = palloc0(sizeof(LstmModel));
	const EcmlSection *s = ecml_model_section(model, LSTM_TAG_SHAPE, ECML_SECTION_INT32, true);
	int32		shape[6];
	int			V;
	size_t		P;
	float	   *params;

	if (s->length != sizeof(shape))
		MODEL_CORRUPTED("shape section has the wrong length");
	memcpy(shape, s->data, sizeof(shape));
	if ((shape[0] != LSTM_TOKENS_BIGINT && shape[0] != LSTM_TOKENS_TEXT) ||
		shape[1] < 2 || shape[1] > LSTM_MAX_VOCAB_MAX ||
		shape[2] < 1 || shape[2] > LSTM_DIM_MAX ||
		shape[3] < 1 || shape[3] > LSTM_DIM_MAX ||
		shape[4] < 1 || shape[4] > LSTM_LAYERS_MAX ||
		shape[5] < 2 || shape[5] > LSTM_MAX_LENGTH_MAX)
		MODEL_CORRUPTED("shape out of range");
	m->token_type = shape[0];
	m->max_length = shape[5];
	V = shape[1];
	m->net.V = V;
	m->net.E = shape[2];
	m->net.H = shape[3];
	m->net.L = shape[4];
	m->net.cell = lstm_parse_cell(model);
	P = lstm_param_count(V, m->net.E, m->net.H, m->net.L, m->net.cell);
	params = ecml_section_floats(model, LSTM_TAG_WEIGHTS, P);
	if (!ecml_all_finite(params, (int) Min(P, (size_t) INT_MAX)))
		MODEL_CORRUPTED("weights are not finite");
	/*
	 * Finite weights can still overflow a gate's sum to infinity and then
	 * NaN; with |w| <= 1e9 no sum over 2 * 4096 inputs comes near FLT_MAX,
	 * and no training run gets anywhere near the bound.
	 */
	for (size_t i = 0; i < P; i++)
	{
		if ((i & 0xfffff) == 0)
			CHECK_FOR_INTERRUPTS();
		if (fabsf(params[i]) > LSTM_MAX_ABS_WEIGHT)
			MODEL_CORRUPTED("weights are out of range");
	}
	lstm_net_layout(&m->net, params);

	s = ecml_model_section(model, LSTM_TAG_REPEAT, ECML_SECTION_FLOAT32, false);
	if (s != NULL)
	{
		float		rep[3];

		if (s->length != sizeof(rep))
			MODEL_CORRUPTED("repeat section has the wrong length");
		memcpy(rep, s->data, sizeof(rep));
		if (!(rep[0] >= 0.0f && rep[0] <= 1.0f && rep[1] > 0.0f && rep[1] <= 1.0f &&
			  (rep[2] == 0.0f || rep[2] == 1.0f)))
			MODEL_CORRUPTED("repeat weight, decay or mode out of range");
		m->repeat_weight = rep[0];
		m->repeat_decay = rep[1];
		m->repeat_explore = rep[2] == 1.0f;
	}

	lstm_successors_parse(model, V, m->repeat_explore, &m->succ, m->succ_params);
	lstm_neighbours_parse(model, V, &m->knn, &m->knn_weight);

	lstm_vocab_init(&m->vocab, m->token_type, V - 1);
	if (m->token_type == LSTM_TOKENS_BIGINT)
	{
		int64	   *ids = ecml_section_int64s(model, LSTM_TAG_VOCAB, V - 1);

		for (int i = 0; i < V - 1; i++)
		{
			if ((i & 0xffff) == 0)
				CHECK_FOR_INTERRUPTS();
			if (lstm_vocab_add(&m->vocab, ids[i], NULL, 0) != i)
				MODEL_CORRUPTED("vocabulary has a repeated token");
		}
	}
	else
	{
		int			n;
		char	  **strs = ecml_section_texts(model, LSTM_TAG_VOCAB, &n);

		if (strs == NULL || n != V - 1)
			MODEL_CORRUPTED("vocabulary has the wrong size");
		for (int i = 0; i < n; i++)
		{
			if ((i & 0xffff) == 0)
				CHECK_FOR_INTERRUPTS();
			if (lstm_vocab_add(&m->vocab, 0, strs[i], strlen(strs[i])) != i)
				MODEL_CORRUPTED("vocabulary has a repeated token");
		}
	}
	return m;
}
