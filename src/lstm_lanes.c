/*
 * lstm_lanes.c
 *	  Session-parallel mini-batches (Hidasi et al., "Session-based
 *	  recommendations with recurrent neural networks", ICLR 2016).
 *
 * batch_size lanes each walk through the epoch's sessions one after
 * another.  A mini-batch is the next session_steps clicks of every lane
 * (GRU4Rec's is one click; the default is lstm.h's):
 * the recurrent state starts from where the lane's last mini-batch left it
 * (a constant, so the gradient stops there) and from zero where a new
 * session enters the lane, as scoring starts a session.  The optimiser
 * steps every few clicks instead of once per batch of whole sequences, and
 * a mini-batch is padded only within its few steps.
 */
#include "postgres.h"

#include "lstm_fit.h"
#include "miscadmin.h"

size_t
lstm_lanes_bytes(const LstmNet *net, int B)
{
	return (size_t) B * (sizeof(int64) + 3 * sizeof(int)) +
		(size_t) net->L * 2 * B * net->H * sizeof(float);
}

void
lstm_lanes_init(LstmLanes *ln, const LstmNet *net, int B, int K)
{
	ln->B = B;
	ln->K = K;
	ln->L = net->L;
	ln->H = net->H;
	ln->seq = palloc(sizeof(int64) * B);
	ln->pos = palloc(sizeof(int) * B);
	ln->steps = palloc(sizeof(int) * B);
	ln->perm = palloc(sizeof(int) * B);
	for (int l = 0; l < net->L; l++)
	{
		ln->h[l] = palloc_extended(sizeof(float) * B * net->H, MCXT_ALLOC_HUGE);
		ln->c[l] = palloc_extended(sizeof(float) * B * net->H, MCXT_ALLOC_HUGE);
	}
}

/*
 * Empty lanes take the next sessions of order (from *next) that have a
 * target, with a zero state; returns how many lanes are busy.
 */
static int
lanes_fill(LstmLanes *ln, const LstmData *d, const int64 *order, int64 n, int64 *next)
{
	int			busy = 0;

	for (int k = 0; k < ln->B; k++)
	{
		while (ln->seq[k] < 0 && *next < n)
		{
			int64		s = order[(*next)++];

			if (d->off[s + 1] - d->off[s] < 2)
				continue;
			ln->seq[k] = s;
			ln->pos[k] = 0;
			for (int l = 0; l < ln->L; l++)
			{
				memset(ln->h[l] + (size_t) k * ln->H, 0, sizeof(float) * ln->H);
				memset(ln->c[l] + (size_t) k * ln->H, 0, sizeof(float) * ln->H);
			}
		}
		busy += ln->seq[k] >= 0;
	}
	return busy;
}

/* longest window first (nact's rows are a prefix), then by lane */
static int
lane_cmp(const void *a, const void *b, void *arg)
{
	const int  *steps = (const int *) arg;
	int			la = *(const int *) a;
	int			lb = *(const int *) b;

	if (steps[la] != steps[lb])
		return steps[la] > steps[lb] ? -1 : 1;
	return la < lb ? -1 : (la > lb);
}

/*
 * The busy lanes' next clicks as w's batch (rows in perm's order), their
 * states as the layers' initial rows; returns the step count.
 */
static int
lanes_gather(LstmLanes *ln, LstmWork *w, const LstmData *d, int busy, int64 *ntargets)
{
	int			B = w->B;
	int			H = ln->H;
	int			r = 0;
	int			T;

	for (int k = 0; k < ln->B; k++)
	{
		int64		s = ln->seq[k];

		if (s < 0)
			continue;
		ln->steps[k] = Min(ln->K, (int) (d->off[s + 1] - d->off[s]) - 1 - ln->pos[k]);
		ln->perm[r++] = k;
	}
	qsort_arg(ln->perm, busy, sizeof(int), lane_cmp, ln->steps);
	T = ln->steps[ln->perm[0]];
	*ntargets = 0;
	for (int t = 0; t < T; t++)
	{
		int			a = 0;

		while (a < busy && ln->steps[ln->perm[a]] > t)
		{
			int			k = ln->perm[a];
			const int32 *tok = d->tok + d->off[ln->seq[k]] + ln->pos[k] + t;

			w->x[t * B + a] = tok[0];
			w->y[t * B + a] = tok[1];
			a++;
		}
		w->nact[t] = a;
		*ntargets += a;
	}
	for (int l = 0; l < ln->L; l++)
		for (r = 0; r < busy; r++)
		{
			memcpy(w->acts[l].h + (size_t) r * H, ln->h[l] + (size_t) ln->perm[r] * H,
				   sizeof(float) * H);
			memcpy(w->acts[l].c + (size_t) r * H, ln->c[l] + (size_t) ln->perm[r] * H,
				   sizeof(float) * H);
		}
	return T;
}

/* Each lane keeps the state after its last click and moves on. */
static void
lanes_advance(LstmLanes *ln, const LstmWork *w, const LstmData *d, int busy)
{
	int			B = w->B;
	int			H = ln->H;

	for (int r = 0; r < busy; r++)
	{
		int			k = ln->perm[r];
		size_t		at = ((size_t) ln->steps[k] * B + r) * H;
		int64		s = ln->seq[k];

		for (int l = 0; l < ln->L; l++)
		{
			memcpy(ln->h[l] + (size_t) k * H, w->acts[l].h + at, sizeof(float) * H);
			memcpy(ln->c[l] + (size_t) k * H, w->acts[l].c + at, sizeof(float) * H);
		}
		ln->pos[k] += ln->steps[k];
		if (ln->pos[k] >= d->off[s + 1] - d->off[s] - 1)
			ln->seq[k] = -1;
	}
}

double
lstm_lanes_epoch(LstmLanes *ln, LstmNet *net, LstmNet *grads, float *m, float *v,
				 int *step, LstmWork *w, const LstmData *d, const int64 *order, int64 n,
				 EcmlRng *rng, bool sampled, const LstmOptions *o, int64 *ntargets)
{
	double		loss = 0.0;
	int64		next = 0;
	int			busy;

	Assert(ln->B <= w->B && ln->K <= w->T);
	*ntargets = 0;
	for (int k = 0; k < ln->B; k++)
		ln->seq[k] = -1;
	while ((busy = lanes_fill(ln, d, order, n, &next)) > 0)
	{
		int64		nt;
		int			T = lanes_gather(ln, w, d, busy, &nt);

		lstm_grads_begin(net, grads, w, sampled);
		w->keep_state = true;
		loss += lstm_batch_run(net, grads, w, d, T, nt, rng, sampled, o->bptt);
		w->keep_state = false;
		lstm_grads_apply(net, grads, m, v, step, w, sampled, o);
		lanes_advance(ln, w, d, busy);
		*ntargets += nt;
	}
	return loss;
}
