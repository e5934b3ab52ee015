/*
 * lstm_repeat.c
 *	  The repeat mechanism of the session recommender: shoppers return to
 *	  items they have just viewed, which a softmax over the whole catalogue
 *	  learns poorly.  As in RepeatNet (Ren et al., AAAI 2019), the next-item
 *	  distribution mixes the network's softmax with a distribution over the
 *	  items of the current sequence:
 *
 *		p(c) = (1 - w) softmax(c) + w r(c),
 *		r(c) = sum_{j : x_j = c} d^(n-1-j) / sum_j d^(n-1-j)
 *
 *	  where the recency decay d in (0,1] favours the latest events.  Where
 *	  RepeatNet learns the mixture with attention, w and d here are two
 *	  scalars fitted by maximum likelihood on held-out sequences after
 *	  training (lstm_train.c), which costs no training time and cannot hurt
 *	  the held-out likelihood (w = 0 is the plain model).
 *
 *	  Scoring (lstm_predict.c) and fitting both use these functions; nothing
 *	  here depends on training code.
 */
#include "postgres.h"

#include <math.h>

#include "lstm.h"

/* r(y) after ids (n): the recency-weighted share of y among the events */
double
lstm_repeat_prob(const int32 *ids, int n, int32 y, double decay)
{
	double		w = 1.0;
	double		num = 0.0;
	double		den = 0.0;

	for (int j = n - 1; j >= 0; j--)
	{
		if (ids[j] == y)
			num += w;
		den += w;
		w *= decay;
	}
	return den > 0.0 ? num / den : 0.0;
}

/*
 * The probability mass of p on the distinct tokens of ids (n); marks them
 * mark[c] = stamp (mark has V entries, none equal to stamp on entry).
 */
double
lstm_seen_mass(const float *p, const int32 *ids, int n, int32 *mark, int32 stamp)
{
	double		s = 0.0;

	for (int j = 0; j < n; j++)
		if (mark[ids[j]] != stamp)
		{
			mark[ids[j]] = stamp;
			s += p[ids[j]];
		}
	return s;
}

/*
 * p (V), a distribution, <- the explore mode's: 0 on the tokens of ids (n),
 * the rest renormalised
 */
void
lstm_explore_base(float *p, int V, const int32 *ids, int n)
{
	int32	   *mark = palloc0(sizeof(int32) * V);
	float		scale = (float) (1.0 / Max(1.0 - lstm_seen_mass(p, ids, n, mark, 1), 1e-12));

	for (int c = 0; c < V; c++)
		p[c] = mark[c] == 1 ? 0.0f : p[c] * scale;
	pfree(mark);
}

/*
 * p (V), the base distribution (in explore mode already lstm_explore_base's),
 * <- the mixture after ids (n): (1 - weight) p + weight r
 */
void
lstm_repeat_mix(float *p, int V, const int32 *ids, int n, float weight, float decay)
{
	double		w = 1.0;
	double		den = 0.0;

	if (n <= 0 || weight <= 0.0f)
		return;
	for (int c = 0; c < V; c++)
		p[c] *= 1.0f - weight;
	for (int j = n - 1; j >= 0; j--)
	{
		den += w;
		w *= decay;
	}
	w = 1.0;
	for (int j = n - 1; j >= 0; j--)
	{
		Assert(ids[j] >= 0 && ids[j] < V);
		p[ids[j]] += (float) (weight * w / den);
		w *= decay;
	}
}
