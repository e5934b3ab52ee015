/*
 * glue_vectors.c: vectors_parse, then ecml.search's scan and its filtered
 * form for one query (ones, never all-zero, so cosine is defined).
 */
#include "../../src/vectors_search.c"
#include "glue.h"

void
fuzz_vectors(const EcmlModel *model)
{
	VectorsModel *m = vectors_parse(model, CurrentMemoryContext);
	float	   *q = palloc(sizeof(float) * m->d);
	float	   *buf = palloc(sizeof(float) * m->d);
	int64		filter[3];
	SearchQuery sq;
	EcmlTopK	heap;

	for (int j = 0; j < m->d; j++)
		q[j] = 1.0f;
	/* a pack whose norms overflow with this query is a data exception */
	prepare_query(m, q, m->d, buf, "query", &sq);
	ecml_topk_init(&heap, Min(5, m->n));
	search_scan(m, &sq, &heap);
	for (int j = 0, n = ecml_topk_sort(&heap); j < n; j++)
		fuzz_sink += heap.key[j] + ecml_find_int64(m->ids, m->n, heap.id[j]);
	filter[0] = m->ids[m->n - 1];
	filter[1] = m->ids[0];
	filter[2] = m->ids[0] - 1;
	ecml_topk_init(&heap, 2);
	search_filtered(m, &sq, &heap, filter, 3);
	for (int j = 0, n = ecml_topk_sort(&heap); j < n; j++)
		fuzz_sink += key_distance(m, heap.key[j]);
}
