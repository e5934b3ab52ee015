/*
 * topk.c
 *	  Bounded max-heap selection of the k smallest (key, id) pairs.
 */
#include "postgres.h"

#include "topk.h"

/* Pair a ranks after pair b: larger key, or equal key and larger id. */
static inline bool
topk_worse(float ka, int64 ia, float kb, int64 ib)
{
	return ka > kb || (ka == kb && ia > ib);
}

void
ecml_topk_init(EcmlTopK *t, int k)
{
	Assert(k >= 1);
	t->k = k;
	t->n = 0;
	t->key = palloc(sizeof(float) * k);
	t->id = palloc(sizeof(int64) * k);
}

/* Restore the heap below position i (children 2i+1, 2i+2) among n pairs. */
static void
topk_sift_down(float *key, int64 *id, int n, int i)
{
	float		k0 = key[i];
	int64		i0 = id[i];

	for (;;)
	{
		int			c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && topk_worse(key[c + 1], id[c + 1], key[c], id[c]))
			c++;
		if (!topk_worse(key[c], id[c], k0, i0))
			break;
		key[i] = key[c];
		id[i] = id[c];
		i = c;
	}
	key[i] = k0;
	id[i] = i0;
}

void
ecml_topk_push(EcmlTopK *t, float key, int64 id)
{
	if (t->n < t->k)
	{
		/* sift up from the new leaf */
		int			i = t->n++;

		while (i > 0)
		{
			int			p = (i - 1) / 2;

			if (!topk_worse(key, id, t->key[p], t->id[p]))
				break;
			t->key[i] = t->key[p];
			t->id[i] = t->id[p];
			i = p;
		}
		t->key[i] = key;
		t->id[i] = id;
	}
	else if (topk_worse(t->key[0], t->id[0], key, id))
	{
		t->key[0] = key;
		t->id[0] = id;
		topk_sift_down(t->key, t->id, t->n, 0);
	}
}

int
ecml_topk_sort(EcmlTopK *t)
{
	int			n = t->n;

	/* heapsort: repeatedly move the worst pair to the end */
	for (int end = n - 1; end > 0; end--)
	{
		float		k = t->key[0];
		int64		i = t->id[0];

		t->key[0] = t->key[end];
		t->id[0] = t->id[end];
		t->key[end] = k;
		t->id[end] = i;
		topk_sift_down(t->key, t->id, end, 0);
	}
	return n;
}
