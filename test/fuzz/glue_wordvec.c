/* glue_wordvec.c: word_vectors_parse, then what word_vector, similar_words
 * and embed_text do with it: a known word, an unseen word through its
 * character n-grams, a SIF embedding, and cosines against every word */
#include "../../src/text_vectors.c"
#include "glue.h"

void
fuzz_wordvec(const EcmlModel *model)
{
	WordVectors *m = word_vectors_parse(model, CurrentMemoryContext);
	float	   *v = palloc(sizeof(float) * m->dim);
	char	   *words[2] = {m->vocab.strs[0], "qzxjwaterprof"};
	int			lens[2] = {m->vocab.lens[0], 13};

	for (int i = 0; i < 2; i++)
		if (word_vectors_lookup(m, words[i], lens[i], v))
			for (int w = 0; w < m->V; w++)
				for (int j = 0; j < m->dim; j++)
					fuzz_sink += v[j] * m->unit[(Size) w * m->dim + j];
	fuzz_sink += word_vectors_sif(m, words, lens, 2, v);
	for (int j = 0; j < m->dim; j++)
		fuzz_sink += v[j] * m->common[j];
}
