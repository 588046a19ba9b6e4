/* Matrix-multiply micro-kernels for x86-64 CPUs with AVX2 and FMA (used by GradBytecode's
 * VM after it has checked the CPU: GradBytecode/CPUFeatures.swift).
 *
 * Each function computes C[0..<rows, 0..<columns] = (first ? 0 : C) + A·B over kl steps:
 * - a: a packed micro-panel of A, element (r, p) at p·6 + r (rows ≥ `rows` are zero);
 * - b: a packed panel of B, element (p, j) at p·nr + j, nr = 8 (f64) or 16 (f32)
 *   (columns ≥ `columns` are zero);
 * - c: row-major with ldc elements per row; only rows < `rows`, columns < `columns` are
 *   read or written (rows ≤ 6, columns ≤ nr);
 * - fused: each step is one fused multiply-add (rounds once). Otherwise a multiply and an
 *   add, in the reference evaluator's order: the result is then bitwise the reference's.
 */
#ifndef GRAD_KERNELS_AVX2_H
#define GRAD_KERNELS_AVX2_H

#include <stdbool.h>
#include <stddef.h>

#if !defined(__clang__)
#define _Nonnull /* a Clang nullability annotation (the Swift import reads it) */
#endif

#if defined(__x86_64__)
void grad_avx2_matmul_f64(ptrdiff_t kl, const void *_Nonnull a, const void *_Nonnull b, void *_Nonnull c,
                          ptrdiff_t ldc, ptrdiff_t rows, ptrdiff_t columns, bool first, bool fused);
void grad_avx2_matmul_f32(ptrdiff_t kl, const void *_Nonnull a, const void *_Nonnull b, void *_Nonnull c,
                          ptrdiff_t ldc, ptrdiff_t rows, ptrdiff_t columns, bool first, bool fused);
#endif

#endif
