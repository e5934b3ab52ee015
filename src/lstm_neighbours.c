/*
 * lstm_neighbours.c
 *	  The neighbourhood component of the session recommender: the items of
 *	  the training sessions most like the current one, as session-based
 *	  kNN (VSKNN, Ludewig & Jannach 2018) scores them.  The successor table
 *	  looks at the session's last item only and the network learns the
 *	  frequent items best; sessions that share several of this session's
 *	  items also vote for the items that came with them.  The final
 *	  next-item distribution mixes the neighbours' in:
 *
 *		p'(c) = (1 - v) p(c) + v k(c),
 *		k(c) = sum_{s in N, c in s} sim(s) / sum_{s in N} sim(s) |s|
 *
 *	  where p is the distribution of the softmax, the successors and the
 *	  repeat mechanism, and N the LSTM_KNN_NEIGHBOURS candidate sessions of
 *	  the highest similarity; sim(s) sums, over the session's items that s
 *	  holds, their position weights (j + 1) / n (the last item 1: VSKNN's
 *	  linear decay).  The candidates are at most LSTM_KNN_SAMPLE sessions
 *	  that hold one of the session's items, those of its latest items
 *	  first (VSKNN takes the most recent sessions; the aggregate knows no
 *	  time, so each item keeps a fixed sample of its sessions).  When no
 *	  training session shares an item, p is left alone.  v is fitted by
 *	  maximum likelihood on held-out sequences with the other weights
 *	  (lstm_fit.c), so v = 0 where the neighbours do not help.
 *
 *	  The model stores the training sessions' distinct items (lstm.h); the
 *	  sessions of each item are rebuilt when the model is parsed.  Scoring
 *	  needs nothing from training code.
 */
#include "postgres.h"

#include <limits.h>

#include "ecml.h"
#include "lstm.h"
#include "miscadmin.h"
#include "model.h"

static int
int32_cmp(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return (x > y) - (x < y);
}

/*
 * The sessions of each item, at most LSTM_KNN_SAMPLE of them (the later
 * ones of k's order), into k->ioff and k->isess; palloc'd, charged to mem
 * when mem is given.
 */
static void
neighbours_index(LstmNeighbours *k, EcmlTrainMemory *mem)
{
	int32	   *fill;

	k->ioff = mem ? ecml_train_alloc(mem, (Size) k->V + 1, sizeof(int32), MCXT_ALLOC_ZERO,
									 "neighbour sessions")
		: palloc_extended(sizeof(int32) * ((Size) k->V + 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (int32 i = 0; i < k->nitems; i++)
		k->ioff[k->items[i] + 1]++;
	/* counts to offsets; at most LSTM_KNN_SAMPLE each, so the sum fits */
	for (int c = 0; c < k->V; c++)
		k->ioff[c + 1] = k->ioff[c] + Min(k->ioff[c + 1], LSTM_KNN_SAMPLE);
	k->npost = k->ioff[k->V];
	k->isess = mem ? ecml_train_alloc(mem, Max(k->npost, 1), sizeof(int32), 0, "neighbour sessions")
		: palloc_extended(sizeof(int32) * Max(k->npost, 1), MCXT_ALLOC_HUGE);
	fill = palloc_extended(sizeof(int32) * (Size) k->V, MCXT_ALLOC_HUGE);
	memcpy(fill, k->ioff, sizeof(int32) * (Size) k->V);
	for (int32 s = k->nsess - 1; s >= 0; s--)
	{
		if ((s & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int32 i = k->soff[s]; i < k->soff[s + 1]; i++)
		{
			int32		c = k->items[i];

			if (fill[c] < k->ioff[c + 1])
				k->isess[fill[c]++] = s;
		}
	}
	pfree(fill);
}

/*
 * The distinct items of the sequences seqs[0..n) (off, tok as in
 * LstmData), at most max_sessions of them, the unknown token left out;
 * then the index.  Allocated in CurrentMemoryContext, charged to mem.
 */
void
lstm_neighbours_build(LstmNeighbours *k, int V, int max_sessions, const int64 *off,
					  const int32 *tok, const int64 *seqs, int64 n, EcmlTrainMemory *mem)
{
	int64		ns = Min(n, (int64) max_sessions);
	int64		total = 0;

	memset(k, 0, sizeof(*k));
	k->V = V;
	for (int64 i = 0; i < ns; i++)
	{
		int64		len = off[seqs[i] + 1] - off[seqs[i]];

		if (total + len > INT32_MAX)
		{
			ns = i;
			break;
		}
		total += len;
	}
	k->nsess = (int32) ns;
	k->soff = ecml_train_alloc(mem, (Size) ns + 1, sizeof(int32), 0, "neighbour sessions");
	k->items = ecml_train_alloc(mem, Max(total, 1), sizeof(int32), 0, "neighbour sessions");
	k->soff[0] = 0;
	for (int64 i = 0; i < ns; i++)
	{
		int32		start = k->soff[i];
		int32		m = 0;

		if ((i & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int64 j = off[seqs[i]]; j < off[seqs[i] + 1]; j++)
			if (tok[j] != LSTM_UNKNOWN)
				k->items[start + m++] = tok[j];
		qsort(k->items + start, m, sizeof(int32), int32_cmp);
		/* distinct, ascending */
		if (m > 1)
		{
			int32		u = 1;

			for (int32 j = 1; j < m; j++)
				if (k->items[start + j] != k->items[start + u - 1])
					k->items[start + u++] = k->items[start + j];
			m = u;
		}
		k->soff[i + 1] = start + m;
	}
	k->nitems = k->soff[ns];
	k->mem_items = total;
	neighbours_index(k, mem);
}

void
lstm_neighbours_free(LstmNeighbours *k, EcmlTrainMemory *mem)
{
	ecml_train_free(mem, k->soff, (Size) k->nsess + 1, sizeof(int32));
	ecml_train_free(mem, k->items, Max(k->mem_items, 1), sizeof(int32));
	ecml_train_free(mem, k->ioff, (Size) k->V + 1, sizeof(int32));
	ecml_train_free(mem, k->isess, Max(k->npost, 1), sizeof(int32));
	memset(k, 0, sizeof(*k));
}

void
lstm_neighbours_work_init(LstmKnnWork *w, const LstmNeighbours *k)
{
	w->wt = palloc0(sizeof(float) * k->V);
	w->taken = palloc0(((Size) k->nsess + 7) / 8);
	w->cand = palloc(sizeof(int32) * LSTM_KNN_SAMPLE);
	w->sim = palloc(sizeof(float) * LSTM_KNN_SAMPLE);
	w->order = palloc(sizeof(int32) * LSTM_KNN_SAMPLE);
}

/* the candidates by similarity, then by session: best first */
static int
cand_cmp(const void *a, const void *b, void *arg)
{
	const LstmKnnWork *w = (const LstmKnnWork *) arg;
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	if (w->sim[x] != w->sim[y])
		return w->sim[x] > w->sim[y] ? -1 : 1;
	return (w->cand[x] > w->cand[y]) - (w->cand[x] < w->cand[y]);
}

/*
 * The neighbours of ids (n): w->order[0..returned) index w->cand and w->sim,
 * best first.  w is left clean for the next call but for those arrays.
 */
int
lstm_neighbours_find(const LstmNeighbours *k, const int32 *ids, int n, LstmKnnWork *w)
{
	int			nc = 0;

	if (k->nsess == 0)
		return 0;
	/* position weights, the latest occurrence's; candidates of the latest items first */
	for (int j = n - 1; j >= 0; j--)
	{
		int32		c = ids[j];

		if (c <= LSTM_UNKNOWN || c >= k->V || w->wt[c] > 0.0f)
			continue;
		w->wt[c] = (float) (j + 1) / n;
		for (int32 i = k->ioff[c]; i < k->ioff[c + 1] && nc < LSTM_KNN_SAMPLE; i++)
		{
			int32		s = k->isess[i];

			if (w->taken[s / 8] & (1 << (s % 8)))
				continue;
			w->taken[s / 8] |= 1 << (s % 8);
			w->cand[nc++] = s;
		}
	}
	for (int i = 0; i < nc; i++)
	{
		float		sim = 0.0f;

		/* a candidate may be a long session */
		CHECK_FOR_INTERRUPTS();
		for (int32 j = k->soff[w->cand[i]]; j < k->soff[w->cand[i] + 1]; j++)
			sim += w->wt[k->items[j]];
		w->sim[i] = sim;
		w->order[i] = i;
		w->taken[w->cand[i] / 8] = 0;
	}
	for (int j = 0; j < n; j++)
		if (ids[j] > LSTM_UNKNOWN && ids[j] < k->V)
			w->wt[ids[j]] = 0.0f;
	qsort_arg(w->order, nc, sizeof(int32), cand_cmp, w);
	return Min(nc, LSTM_KNN_NEIGHBOURS);
}

/*
 * k(y) after ids (n), as lstm_neighbours_mix scores it; -1 when no
 * training session shares an item (the mixture then keeps p).
 */
double
lstm_neighbours_prob(const LstmNeighbours *k, const int32 *ids, int n, int32 y,
					 LstmKnnWork *w)
{
	int			nn = lstm_neighbours_find(k, ids, n, w);
	double		num = 0.0;
	double		den = 0.0;

	for (int i = 0; i < nn; i++)
	{
		int32		s = w->cand[w->order[i]];
		int32		len = k->soff[s + 1] - k->soff[s];

		den += (double) w->sim[w->order[i]] * len;
		if (bsearch(&y, k->items + k->soff[s], len, sizeof(int32), int32_cmp))
			num += w->sim[w->order[i]];
	}
	return den > 0.0 ? num / den : -1.0;
}

/* p (V), a distribution, <- (1 - weight) p + weight k after ids (n) */
void
lstm_neighbours_mix(float *p, int V, const LstmNeighbours *k, const int32 *ids, int n,
					float weight)
{
	LstmKnnWork w;
	int			nn;
	double		den = 0.0;
	float	   *sc;

	if (n <= 0 || weight <= 0.0f || k->nsess == 0)
		return;
	lstm_neighbours_work_init(&w, k);
	nn = lstm_neighbours_find(k, ids, n, &w);
	sc = palloc0(sizeof(float) * V);
	for (int i = 0; i < nn; i++)
	{
		int32		s = w.cand[w.order[i]];
		float		sim = w.sim[w.order[i]];

		den += (double) sim * (k->soff[s + 1] - k->soff[s]);
		for (int32 j = k->soff[s]; j < k->soff[s + 1]; j++)
			sc[k->items[j]] += sim;
	}
	if (den > 0.0)
		for (int c = 0; c < V; c++)
			p[c] = (1.0f - weight) * p[c] + (float) (weight * sc[c] / den);
	pfree(sc);
	pfree(w.wt);
	pfree(w.taken);
	pfree(w.cand);
	pfree(w.sim);
	pfree(w.order);
}

/* "invalid ecml model: lstm <what>" (data_corrupted), model.c */
#define KNN_CORRUPTED(what) \
	ecml_model_kind_corrupted("lstm", (what), \
							  "Pass a model produced by ecml.lstm_train, unmodified.")

/*
 * The sessions and their weight of a model of V tokens, checked, and the
 * index; nsess 0 and weight 0 when the model has none.  Allocated in
 * CurrentMemoryContext (the model cache's).
 */
void
lstm_neighbours_parse(const EcmlModel *model, int V, LstmNeighbours *k, float *weight)
{
	const EcmlSection *t = ecml_model_section(model, LSTM_TAG_KNN_SESSIONS, ECML_SECTION_INT32, false);
	const EcmlSection *w = ecml_model_section(model, LSTM_TAG_KNN_WEIGHT, ECML_SECTION_FLOAT32, false);
	Size		words;
	int32		ns;
	int32	   *all;

	memset(k, 0, sizeof(*k));
	k->V = V;
	*weight = 0.0f;
	if (t == NULL && w == NULL)
		return;
	if (t == NULL || w == NULL || w->length != sizeof(float))
		KNN_CORRUPTED("neighbour sections incomplete");
	memcpy(weight, w->data, sizeof(float));
	if (!(*weight >= 0.0f && *weight <= 1.0f))
		KNN_CORRUPTED("neighbour weight out of range");
	words = t->length / sizeof(int32);
	if (t->length % sizeof(int32) != 0 || words < 1)
		KNN_CORRUPTED("neighbour sessions have the wrong length");
	all = palloc_extended(t->length, MCXT_ALLOC_HUGE);
	memcpy(all, t->data, t->length);
	ns = all[0];
	if (ns < 0 || (Size) ns + 2 > words)
		KNN_CORRUPTED("neighbour sessions have the wrong length");
	k->nsess = ns;
	k->soff = all + 1;
	k->items = all + 2 + ns;
	k->nitems = (int32) (words - 2 - ns);
	if (k->soff[0] != 0 || k->soff[ns] != k->nitems)
		KNN_CORRUPTED("neighbour session offsets out of range");
	for (int32 s = 0; s < ns; s++)
	{
		if ((s & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		if (k->soff[s + 1] < k->soff[s] || k->soff[s + 1] > k->nitems)
			KNN_CORRUPTED("neighbour session offsets out of range");
		/* distinct known tokens, ascending: the bsearch of the fit needs it */
		for (int32 i = k->soff[s]; i < k->soff[s + 1]; i++)
			if (k->items[i] <= LSTM_UNKNOWN || k->items[i] >= V ||
				(i > k->soff[s] && k->items[i - 1] >= k->items[i]))
				KNN_CORRUPTED("neighbour session items out of range or order");
	}
	neighbours_index(k, NULL);
}

/* the sessions as one int32 section (count, offsets, items) and the weight */
void
lstm_neighbours_write(EcmlModelBuilder *b, const LstmNeighbours *k, float weight)
{
	Size		words = 2 + (Size) k->nsess + (Size) k->nitems;
	int32	   *all = palloc_extended(sizeof(int32) * words, MCXT_ALLOC_HUGE);

	all[0] = k->nsess;
	memcpy(all + 1, k->soff, sizeof(int32) * ((Size) k->nsess + 1));
	memcpy(all + 2 + k->nsess, k->items, sizeof(int32) * (Size) k->nitems);
	ecml_builder_add(b, LSTM_TAG_KNN_SESSIONS, ECML_SECTION_INT32, all, sizeof(int32) * words);
	ecml_builder_add(b, LSTM_TAG_KNN_WEIGHT, ECML_SECTION_FLOAT32, &weight, sizeof(float));
	pfree(all);
}
