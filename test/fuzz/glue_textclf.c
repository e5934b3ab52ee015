/* glue_textclf.c: text_clf_parse, then text_classify's work on a document
 * of every word row and every n-gram bucket row the model has */
#include "../../src/text_clf.c"
#include "glue.h"

void
fuzz_textclf(const EcmlModel *model)
{
	TextClf    *m = text_clf_parse(model, CurrentMemoryContext);
	ClfDoc		doc;
	float	   *h = palloc(sizeof(float) * m->dim);
	float	   *p = palloc(sizeof(float) * m->L);

	doc.n = m->V + m->nbuckets;
	doc.rows = palloc(sizeof(int32) * Max(doc.n, 1));
	doc.names = NULL;
	for (int r = 0; r < doc.n; r++)
		doc.rows[r] = r;
	clf_hidden(m, &doc, h);
	clf_probs(m, h, p);
	fuzz_sink += p[clf_best(m, p)];
	if (m->V > 0)
		fuzz_sink += text_vocab_find(&m->words, m->words.strs[0], m->words.lens[0]);
	fuzz_sink += text_vocab_find(&m->labels, m->labels.strs[m->L - 1], m->labels.lens[m->L - 1]);
}
