/*
 * topk.h
 *	  Bounded selection of the k best (key, id) pairs: a max-heap of size k
 *	  whose root is the worst pair kept, so a candidate is one comparison
 *	  against the root.  Smaller keys are better (distances); callers that
 *	  rank by score push -score.  Equal keys are ordered by id, so results
 *	  are deterministic whatever order candidates arrive in.
 */
#ifndef ECML_TOPK_H
#define ECML_TOPK_H

#include "postgres.h"

#include <math.h>

typedef struct EcmlTopK
{
	int			k;				/* capacity */
	int			n;				/* pairs held, <= k */
	float	   *key;
	int64	   *id;
} EcmlTopK;

/* Allocate in CurrentMemoryContext for up to k >= 1 pairs. */
extern void ecml_topk_init(EcmlTopK *t, int k);

/* Forget the pairs held, keep the storage. */
static inline void
ecml_topk_reset(EcmlTopK *t)
{
	t->n = 0;
}

/*
 * The key a candidate must not exceed to be considered: the worst key held
 * once the heap is full, +infinity before.  Lets a scan skip most
 * candidates with one float comparison.
 */
static inline float
ecml_topk_bound(const EcmlTopK *t)
{
	return t->n < t->k ? INFINITY : t->key[0];
}

/* Offer one pair; kept if the heap is not full or it beats the worst. */
extern void ecml_topk_push(EcmlTopK *t, float key, int64 id);

/*
 * Sort the pairs held best first (key ascending, then id ascending), in
 * place; returns how many there are.  The heap is not usable for pushes
 * afterwards until ecml_topk_reset().
 */
extern int	ecml_topk_sort(EcmlTopK *t);

#endif							/* ECML_TOPK_H */
