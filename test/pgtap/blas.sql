-- BLIS runs optimized kernels, not its generic fallback: on CPUs that
-- BLIS 0.9 does not recognise (AMD family 0x1a onwards) ecml names a kernel
-- set itself (ecml.c, ecml_choose_blas_arch).
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SELECT plan(2);
SELECT isnt(ecml.blas_info()->>'arch', 'generic', 'BLIS uses a CPU-specific kernel set');
SELECT ok((ecml.blas_info()->'arch_chosen_by_ecml') IS NOT NULL, 'blas_info says whether ecml chose the kernels');
SELECT * FROM finish();
ROLLBACK;
