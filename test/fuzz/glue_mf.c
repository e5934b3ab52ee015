/*
 * glue_mf.c: mf_parse, then what ecml.mf_recommend (seen items excluded),
 * ecml.mf_similar_items and ecml.mf_predict do for a first and a last user.
 */
#include "../../src/mf_recommend.c"
#include "glue.h"

static void
recommend(const MfModel *m, int u, float *x, float *scores)
{
	EcmlTopK	heap;
	const int32 *skip = NULL;
	int64		nskip = 0;

	user_vector(m, u, x);
	mf_item_scores(m, x, scores);
	if (m->seen_ptr != NULL)
	{
		skip = m->seen_idx + m->seen_ptr[u];
		nskip = m->seen_ptr[u + 1] - m->seen_ptr[u];
	}
	ecml_topk_init(&heap, Min(3, m->nitems));
	mf_select(m, scores, skip, nskip, &heap);
	for (int j = 0, n = ecml_topk_sort(&heap); j < n; j++)
		fuzz_sink += heap.key[j] + ecml_find_int64(m->item_ids, m->nitems, heap.id[j]);
}

void
fuzz_mf(const EcmlModel *model)
{
	MfModel    *m = mf_parse(model, CurrentMemoryContext);
	float	   *x = palloc(sizeof(float) * user_dims(m));
	float	   *scores = palloc(sizeof(float) * m->nitems);
	int			i = m->nitems - 1;

	recommend(m, 0, x, scores);
	recommend(m, m->nusers - 1, x, scores);
	/* similar items: cosine against the last item */
	ecml_inner_products_f32(m->item_factors, m->nitems, m->factors,
							m->item_factors + (Size) i * m->factors, scores);
	for (int j = 0; j < m->nitems; j++)
		fuzz_sink += scores[j] * m->item_norm[j];
	/* predict: the last user and item, by id */
	fuzz_sink += ecml_find_int64(m->user_ids, m->nusers, m->user_ids[m->nusers - 1]);
	fuzz_sink += ecml_find_int64(m->item_ids, m->nitems, m->item_ids[i]);
	fuzz_sink += m->gram[m->factors * m->factors - 1];
}
