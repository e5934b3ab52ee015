/*
 * lstm_successors.c
 *	  The transition component of the session recommender: the items that
 *	  followed the session's last item in the training sequences.  Where a
 *	  first-order Markov chain is strong, the network's softmax learns those
 *	  transitions for the frequent items only, so the next-item
 *	  distribution mixes in the successor distribution of the last item a:
 *
 *		e'(c) = (1 - u) e(c) + u s(c),
 *		s(c) = (n(a, c) + k e(c)) / (sum_c' n(a, c') + k)
 *
 *	  where e is the distribution the repeat mechanism mixes with (the
 *	  softmax, or in explore mode the softmax over the items not in the
 *	  session, lstm_repeat.c) and n(a, c) the count of a followed by c
 *	  (with successor_window w > 1, c up to w clicks later, weighted 1/gap
 *	  as sequential rules do), kept for the K most frequent successors of
 *	  each item and smoothed towards e by k pseudo-transitions (additive
 *	  smoothing: an item seen followed only a few times counts for less).
 *	  In explore mode s is restricted to the items not in the session, or,
 *	  where the fit finds shoppers going back (after x, y comes x, y's
 *	  successor), keeps them: a seen item then has successor mass besides
 *	  its repeat mass.  When a has no such successor (an item never
 *	  followed by another, the unknown token), e is left alone.  u, k and
 *	  that choice are fitted with the repeat mechanism by maximum
 *	  likelihood on held-out sequences (lstm_fit.c): EM for the weights of
 *	  a three-component mixture of the repeat mode, e and s, for each k in
 *	  LSTM_SUCC_SMOOTHS.  s alone is a first-order Markov chain estimated
 *	  by counting, the baseline the recommender has to match.
 *
 *	  Training builds the table (lstm_successors_build); the model stores
 *	  it as two optional sections (lstm.h), so models without them load
 *	  and score as before.  Scoring needs nothing from training code.
 */
#include "postgres.h"

#include <limits.h>

#include "ecml.h"
#include "lstm.h"
#include "miscadmin.h"
#include "model.h"

/* one successor of an item while the table is built */
typedef struct SuccPair
{
	int32		next;
	int32		count;
} SuccPair;

/* most frequent first, ties by the lower index (the more frequent token) */
static int
pair_cmp(const void *a, const void *b)
{
	const SuccPair *x = (const SuccPair *) a;
	const SuccPair *y = (const SuccPair *) b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return (x->next > y->next) - (x->next < y->next);
}

/* a pair's key: a * V + b above the gap's bits (gap - 1; gaps up to 16) */
#define SUCC_GAP_BITS 4
#define SUCC_PAIR(key) ((key) >> SUCC_GAP_BITS)
#define SUCC_GAP(key) ((int) ((key) & ((1 << SUCC_GAP_BITS) - 1)) + 1)

/*
 * The pairs a -> b with b at most `window` clicks after a (both known
 * tokens, a != b: returning to an item is the repeat mechanism's) of the
 * sequences seqs[0..n), as sorted keys (SUCC_PAIR, SUCC_GAP); *nkeys their
 * count, *nalloc the keys allocated (and charged).
 */
static int64 *
successor_keys(int V, int window, const int64 *off, const int32 *tok, const int64 *seqs,
			   int64 n, int64 *nkeys, int64 *nalloc, EcmlTrainMemory *mem)
{
	int64		total = 0;
	int64		m = 0;
	int64	   *keys;

	for (int64 i = 0; i < n; i++)
		for (int g = 1; g <= window; g++)
			total += Max(off[seqs[i] + 1] - off[seqs[i]] - g, 0);
	*nalloc = Max(total, 1);
	keys = ecml_train_alloc(mem, *nalloc, sizeof(int64), 0, "successor transitions");
	for (int64 i = 0; i < n; i++)
	{
		const int32 *t = tok + off[seqs[i]];
		int64		len = off[seqs[i] + 1] - off[seqs[i]];

		if ((i & 0xfff) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int64 j = 0; j + 1 < len; j++)
			for (int64 k = j + 1; k < len && k - j <= window; k++)
				if (t[j] != LSTM_UNKNOWN && t[k] != LSTM_UNKNOWN && t[j] != t[k])
					keys[m++] = (((int64) t[j] * V + t[k]) << SUCC_GAP_BITS) | (k - j - 1);
	}
	pg_qsort(keys, m, sizeof(int64), ecml_int64_cmp);
	*nkeys = m;
	return keys;
}

/* least common multiple of 1 .. w: the weight of a gap of one click */
static int32
successor_unit(int w)
{
	int			unit = 1;

	for (int i = 2; i <= w; i++)
	{
		int			g = unit;
		int			b = i;

		/* Euclid: g = gcd(unit, i) */
		while (b != 0)
		{
			int			rem = g % b;

			g = b;
			b = rem;
		}
		unit = unit / g * i;
	}
	return unit;
}

/*
 * The distinct successors of each item into s->off (as counts, not yet
 * offsets); returns the most any item has.
 */
static int64
successor_row_sizes(LstmSuccessors *s, const int64 *keys, int64 m)
{
	int64		widest = 0;

	for (int64 i = 0; i < m; i++)
	{
		int32		a = (int32) (SUCC_PAIR(keys[i]) / s->V);

		if (i == 0 || SUCC_PAIR(keys[i]) != SUCC_PAIR(keys[i - 1]))
		{
			s->off[a + 1]++;
			widest = Max(widest, s->off[a + 1]);
		}
	}
	return widest;
}

/*
 * Build the table of the sequences seqs[0..n) of a vocabulary of V tokens
 * (off, tok as in LstmData): each item's at most K most frequent
 * successors within `window` clicks, a successor g clicks later counting
 * 1/g of one right after (as sequential rules weigh them), in units of
 * s->unit = lcm(1 .. window) so that the counts stay integers.  Allocated
 * in CurrentMemoryContext, charged to mem.
 */
void
lstm_successors_build(LstmSuccessors *s, int V, int K, int window, const int64 *off,
					  const int32 *tok, const int64 *seqs, int64 n, EcmlTrainMemory *mem)
{
	int64		m;
	int64		nalloc;
	int64	   *keys = successor_keys(V, window, off, tok, seqs, n, &m, &nalloc, mem);
	SuccPair   *row;
	int64		widest;
	int64		nnz = 0;
	int64		i = 0;

	Assert(K >= 1 && K <= LSTM_MAX_SUCCESSORS_MAX);
	Assert(window >= 1 && window <= LSTM_SUCCESSOR_WINDOW_MAX);
	s->V = V;
	s->unit = successor_unit(window);
	s->off = ecml_train_alloc(mem, (Size) V + 1, sizeof(int32), MCXT_ALLOC_ZERO,
							  "successor table");
	widest = successor_row_sizes(s, keys, m);
	row = palloc_extended(sizeof(SuccPair) * Max(widest, 1), MCXT_ALLOC_HUGE);
	for (int a = 0; a < V; a++)
		nnz += Min(s->off[a + 1], K);
	s->next = ecml_train_alloc(mem, Max(nnz, 1), sizeof(int32) * 2, 0, "successor table");
	s->count = s->next + nnz;
	s->nnz = (int32) nnz;
	for (int a = 0; a < V; a++)
	{
		int			width = 0;

		if ((a & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		/* the row's distinct successors with their counts, from the sorted keys */
		for (; i < m && SUCC_PAIR(keys[i]) / V == a; i++)
		{
			int32		b = (int32) (SUCC_PAIR(keys[i]) % V);
			int32		w = s->unit / SUCC_GAP(keys[i]);

			if (width == 0 || row[width - 1].next != b)
			{
				row[width].next = b;
				row[width++].count = 0;
			}
			row[width - 1].count += Min(w, INT32_MAX - row[width - 1].count);
		}
		qsort(row, width, sizeof(SuccPair), pair_cmp);
		width = Min(width, K);
		s->off[a + 1] = s->off[a] + width;
		for (int j = 0; j < width; j++)
		{
			s->next[s->off[a] + j] = row[j].next;
			s->count[s->off[a] + j] = row[j].count;
		}
	}
	pfree(row);
	ecml_train_free(mem, keys, nalloc, sizeof(int64));
}

/* give back a table lstm_successors_build made */
void
lstm_successors_free(LstmSuccessors *s, EcmlTrainMemory *mem)
{
	ecml_train_free(mem, s->off, (Size) s->V + 1, sizeof(int32));
	ecml_train_free(mem, s->next, Max(s->nnz, 1), sizeof(int32) * 2);
	memset(s, 0, sizeof(*s));
}

/*
 * The transitions of the last item `last` to y (*num) and to all its
 * successors (returned); with mark, over the successors not marked
 * (mark[c] == stamp: in the session).  0 when none is left (the mixture
 * then keeps e alone).
 */
double
lstm_successor_counts(const LstmSuccessors *s, int32 last, int32 y, const int32 *mark,
					  int32 stamp, double *num)
{
	double		total = 0.0;

	*num = 0.0;
	if (s->nnz == 0 || last < 0 || last >= s->V)
		return 0.0;
	for (int32 j = s->off[last]; j < s->off[last + 1]; j++)
	{
		if (mark && mark[s->next[j]] == stamp)
			continue;
		total += s->count[j];
		if (s->next[j] == y)
			*num = s->count[j];
	}
	return total;
}

/*
 * p (V), the base distribution e (in explore mode lstm_explore_base's, 0
 * on the tokens of ids), <- e mixed with the successors of ids' last token
 * at weight u, over the successors not in ids when unseen_only.  The
 * successor distribution is smoothed towards e by `smooth` pseudo-
 * transitions, (n(a, c) + smooth e(c)) / (T + smooth), so that an item
 * seen followed a few times only counts for less.
 */
void
lstm_successors_mix(float *p, int V, const LstmSuccessors *s, const int32 *ids, int n,
					float weight, float smooth, bool unseen_only)
{
	int32	   *mark;
	int32		last;
	double		total = 0.0;

	if (n <= 0 || weight <= 0.0f || s->nnz == 0)
		return;
	last = ids[n - 1];
	mark = palloc0(sizeof(int32) * V);
	if (unseen_only)
		for (int j = 0; j < n; j++)
			mark[ids[j]] = 1;
	for (int32 j = s->off[last]; j < s->off[last + 1]; j++)
		if (mark[s->next[j]] == 0)
			total += s->count[j];
	if (total > 0.0)
	{
		float		scale = (float) (1.0 - weight + weight * smooth / (total + smooth));

		for (int c = 0; c < V; c++)
			p[c] *= scale;
		for (int32 j = s->off[last]; j < s->off[last + 1]; j++)
			if (mark[s->next[j]] == 0)
				p[s->next[j]] += (float) (weight * s->count[j] / (total + smooth));
	}
	pfree(mark);
}

/* "invalid ecml model: lstm <what>" (data_corrupted), model.c */
#define SUCC_CORRUPTED(what) \
	ecml_model_kind_corrupted("lstm", (what), \
							  "Pass a model produced by ecml.lstm_train, unmodified.")

/* every row's successors known tokens, distinct, most frequent first */
static void
successors_check_rows(const LstmSuccessors *s)
{
	for (int a = 0; a < s->V; a++)
	{
		if ((a & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		if (s->off[a + 1] < s->off[a] || s->off[a + 1] > s->nnz ||
			s->off[a + 1] - s->off[a] > LSTM_MAX_SUCCESSORS_MAX)
			SUCC_CORRUPTED("successor table rows out of order");
		for (int32 j = s->off[a]; j < s->off[a + 1]; j++)
		{
			if (s->next[j] < 1 || s->next[j] >= s->V || s->next[j] == a || s->count[j] < 1)
				SUCC_CORRUPTED("successor out of range");
			/* most frequent first, ties by index: distinct and in pair_cmp's order */
			if (j > s->off[a] &&
				(s->count[j - 1] < s->count[j] ||
				 (s->count[j - 1] == s->count[j] && s->next[j - 1] >= s->next[j])))
				SUCC_CORRUPTED("successors not distinct or not in order");
		}
	}
}

/*
 * The successor table and its weight of a model of V tokens, checked; nnz
 * 0 and weight 0 when the model has none.  Allocated in
 * CurrentMemoryContext (the model cache's).
 */
void
lstm_successors_parse(const EcmlModel *model, int V, bool explore, LstmSuccessors *s,
					  float params[3])
{
	const EcmlSection *t = ecml_model_section(model, LSTM_TAG_SUCC_TABLE, ECML_SECTION_INT32, false);
	const EcmlSection *w = ecml_model_section(model, LSTM_TAG_SUCC_WEIGHT, ECML_SECTION_FLOAT32, false);
	const EcmlSection *seen = ecml_model_section(model, LSTM_TAG_SUCC_SEEN, ECML_SECTION_FLOAT32, false);
	Size		words;
	int32	   *all;

	memset(s, 0, sizeof(*s));
	s->V = V;
	params[0] = params[1] = params[2] = 0.0f;
	if (t == NULL && w == NULL && seen == NULL)
		return;
	if (t == NULL || w == NULL || w->length != 2 * sizeof(float))
		SUCC_CORRUPTED("successor sections incomplete");
	memcpy(params, w->data, 2 * sizeof(float));
	if (!(params[0] >= 0.0f && params[0] <= 1.0f && params[1] >= 0.0f && params[1] <= 1e6f))
		SUCC_CORRUPTED("successor weight or smoothing out of range");
	if (seen != NULL)
	{
		if (seen->length != sizeof(float))
			SUCC_CORRUPTED("successor scope has the wrong length");
		memcpy(&params[2], seen->data, sizeof(float));
		if (!(params[2] == 0.0f || params[2] == 1.0f) || !explore)
			SUCC_CORRUPTED("successor scope out of range");
	}
	words = t->length / sizeof(int32);
	if (t->length % sizeof(int32) != 0 || words < (Size) V + 1 ||
		(words - V - 1) % 2 != 0)
		SUCC_CORRUPTED("successor table has the wrong length");
	all = palloc_extended(t->length, MCXT_ALLOC_HUGE);
	memcpy(all, t->data, t->length);
	s->off = all;
	s->nnz = (int32) ((words - V - 1) / 2);
	s->next = all + V + 1;
	s->count = s->next + s->nnz;
	if (s->off[0] != 0 || s->off[V] != s->nnz)
		SUCC_CORRUPTED("successor table offsets out of range");
	successors_check_rows(s);
}

/*
 * The table, its weight and smoothing as the sections lstm_successors_parse
 * reads; whether the successors may be seen items in a third, written only
 * when they may (an older ecml ignores it and scores them as unseen only).
 */
void
lstm_successors_write(EcmlModelBuilder *b, const LstmSuccessors *s, const float params[3])
{
	Size		words = (Size) s->V + 1 + 2 * (Size) s->nnz;
	int32	   *all = palloc_extended(sizeof(int32) * words, MCXT_ALLOC_HUGE);

	memcpy(all, s->off, sizeof(int32) * (s->V + 1));
	memcpy(all + s->V + 1, s->next, sizeof(int32) * (Size) s->nnz);
	memcpy(all + s->V + 1 + s->nnz, s->count, sizeof(int32) * (Size) s->nnz);
	ecml_builder_add(b, LSTM_TAG_SUCC_TABLE, ECML_SECTION_INT32, all, sizeof(int32) * words);
	ecml_builder_add(b, LSTM_TAG_SUCC_WEIGHT, ECML_SECTION_FLOAT32, params, 2 * sizeof(float));
	if (params[2] == 1.0f)
		ecml_builder_add(b, LSTM_TAG_SUCC_SEEN, ECML_SECTION_FLOAT32, &params[2], sizeof(float));
}
