/*
 * init.c
 *	  Module initialisation: the GUCs every capability reads, the BLIS kernel
 *	  choice, and ecml.blas_info() which reports that choice.  The root of
 *	  the module: it calls into the capabilities (hnsw_init) and nothing
 *	  calls into it.
 */
#include "postgres.h"

#include <cpuid.h>
#include <limits.h>
#include <stdlib.h>

#include "blas.h"
#include "ecml.h"
#include "hnsw.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * BLIS 0.9 picks its kernels from the CPU's vendor and family once, on its
 * first call, and AMD families after Zen 3/4 (0x1a, Zen 5, onwards) fall
 * back to its slow generic kernels, several times slower for sgemm.  On
 * such CPUs, when the server's environment doesn't already choose, name a
 * kernel set the CPU runs: Skylake-X's with AVX-512, else Zen 3's (AVX2 and
 * FMA).  Only environment is touched here, so BLIS still starts lazily.
 */
static const char *blas_arch_override = NULL;

static void
ecml_choose_blas_arch(void)
{
	unsigned int eax,
				ebx,
				ecx,
				edx;
	unsigned int family;
	bool		amd;

	if (getenv("BLIS_ARCH_TYPE") != NULL || !__get_cpuid(0, &eax, &ebx, &ecx, &edx))
		return;
	/* "AuthenticAMD" */
	amd = (ebx == 0x68747541 && edx == 0x69746e65 && ecx == 0x444d4163);
	__get_cpuid(1, &eax, &ebx, &ecx, &edx);
	family = (eax >> 8) & 0xf;
	if (family == 0xf)
		family += (eax >> 20) & 0xff;
	if (!amd || family <= 0x19)
		return;
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
		__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
		blas_arch_override = "skx";
	else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		blas_arch_override = "zen3";
	if (blas_arch_override)
		setenv("BLIS_ARCH_TYPE", blas_arch_override, 0);
}

/*
 * Only GUC definitions and the BLIS kernel choice here: BLIS is initialised
 * lazily by the first call that needs it, never in a process that may fork.
 */
void
_PG_init(void)
{
	ecml_choose_blas_arch();
	/*
	 * Both guard the server against one session, so only a superuser (or a
	 * role granted SET on the parameter) may change them: a limit that its
	 * own subject can raise limits nobody, and a thread count any role can
	 * raise lets one query take every core.  Superuser-set also keeps an
	 * ordinary role from lowering them for itself, which nothing needs.
	 */
	DefineCustomIntVariable("ecml.train_memory_limit",
							"Most memory an ecml training aggregate may hold.",
							"Buffered rows, working buffers and the model count together; "
							"an aggregate that would hold more stops with an error.",
							&ecml_train_memory_limit_kb,
							1024 * 1024, 1024, INT_MAX,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("ecml.blas_threads",
							"Number of BLIS worker threads for ecml's linear algebra.",
							NULL,
							&ecml_blas_threads,
							1, 1, 64,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("ecml.progress",
							 "Report training progress as NOTICE messages.",
							 NULL,
							 &ecml_progress,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	/*
	 * Retention is a per-database or per-job decision (a pg_cron job's
	 * SET), so any role may set it; it prunes only versions the role may
	 * delete anyway.
	 */
	DefineCustomIntVariable("ecml.keep_versions",
							"Number of versions of a model that ecml.save_version() keeps (0: all).",
							"The newest versions are kept, and the live version always.",
							&ecml_keep_versions,
							0, 0, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	hnsw_init();
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("ecml");
#else
	EmitWarningsOnPlaceholders("ecml");
#endif
}

/* ecml.blas_info() → jsonb: the BLIS build, kernel set and thread count */
PG_FUNCTION_INFO_V1(ecml_blas_info);
Datum
ecml_blas_info(PG_FUNCTION_ARGS)
{
	StringInfoData buf;
	const char *threading;

	ecml_blas_prepare();
	if (bli_info_get_enable_pthreads())
		threading = "pthreads";
	else if (bli_info_get_enable_openmp())
		threading = "openmp";
	else
		threading = "none";

	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "{\"library\": \"BLIS\", \"version\": \"%s\", \"arch\": \"%s\", "
					 "\"arch_chosen_by_ecml\": %s, "
					 "\"threading\": \"%s\", \"threads\": %d}",
					 bli_info_get_version_str(),
					 bli_arch_string(bli_arch_query_id()),
					 blas_arch_override ? "true" : "false",
					 threading, (int) bli_thread_get_num_threads());
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
