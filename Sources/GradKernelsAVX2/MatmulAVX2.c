// Matrix-multiply micro-kernels for x86-64 CPUs with AVX2 and FMA (see the header).
//
// Only the functions of this file carry `target("avx2,fma")`; the rest of the package is
// compiled for baseline x86-64, and GradBytecode calls these only after `CPUFeatures` has
// checked the CPU. Every function here is named `grad_avx2_…` (a test checks that no other
// function of the binary holds AVX instructions). The register tile: 6 rows × 2 vectors of
// accumulators (12 ymm registers) + 2 B vectors + 1 broadcast = 15 of the 16.
#include "GradKernelsAVX2.h"

#if defined(__x86_64__)
#include <immintrin.h>

// The separate variant must stay a multiply and an add (bitwise the reference's).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define GRAD_AVX2 __attribute__((target("avx2,fma")))
#define GRAD_INLINE static inline __attribute__((always_inline))
enum { grad_avx2_rows = 6 };

// One kernel pair per element type. T: element, V: vector type, L: lanes, S: intrinsic
// suffix (pd/ps). `tile` is the register-blocked loop over all 6 × 2L elements of c; `micro`
// runs it in place on full tiles and on a zero-initialized copy at the edges, so the loop
// itself never tests bounds. `fused` is a constant after inlining: each variant gets its own
// loop with nothing to test inside it.
#define GRAD_AVX2_KERNELS(T, V, L, S, NAME)                                                          \
    GRAD_INLINE GRAD_AVX2 void grad_avx2_tile_##NAME(ptrdiff_t kl, const T *a, const T *b, T *c,     \
                                                     ptrdiff_t ldc, bool first, bool fused) {        \
        V x[grad_avx2_rows][2];                                                                      \
        for (int r = 0; r < grad_avx2_rows; r++) {                                                   \
            x[r][0] = first ? _mm256_setzero_##S() : _mm256_loadu_##S(c + r * ldc);                  \
            x[r][1] = first ? _mm256_setzero_##S() : _mm256_loadu_##S(c + r * ldc + L);              \
        }                                                                                            \
        for (ptrdiff_t p = 0; p < kl; p++) {                                                         \
            const V b0 = _mm256_loadu_##S(b);                                                        \
            const V b1 = _mm256_loadu_##S(b + L);                                                    \
            for (int r = 0; r < grad_avx2_rows; r++) {                                               \
                const V s = _mm256_set1_##S(a[r]);                                                   \
                if (fused) {                                                                         \
                    x[r][0] = _mm256_fmadd_##S(s, b0, x[r][0]);                                      \
                    x[r][1] = _mm256_fmadd_##S(s, b1, x[r][1]);                                      \
                } else {                                                                             \
                    x[r][0] = _mm256_add_##S(x[r][0], _mm256_mul_##S(s, b0));                        \
                    x[r][1] = _mm256_add_##S(x[r][1], _mm256_mul_##S(s, b1));                        \
                }                                                                                    \
            }                                                                                        \
            a += grad_avx2_rows;                                                                     \
            b += 2 * L;                                                                              \
        }                                                                                            \
        for (int r = 0; r < grad_avx2_rows; r++) {                                                   \
            _mm256_storeu_##S(c + r * ldc, x[r][0]);                                                 \
            _mm256_storeu_##S(c + r * ldc + L, x[r][1]);                                             \
        }                                                                                            \
    }                                                                                                \
                                                                                                     \
    GRAD_INLINE GRAD_AVX2 void grad_avx2_micro_##NAME(ptrdiff_t kl, const T *a, const T *b, T *c,    \
                                                      ptrdiff_t ldc, ptrdiff_t rows, ptrdiff_t columns, \
                                                      bool first, bool fused) {                      \
        if (rows == grad_avx2_rows && columns == 2 * L) {                                            \
            grad_avx2_tile_##NAME(kl, a, b, c, ldc, first, fused);                                   \
            return;                                                                                  \
        }                                                                                            \
        _Alignas(64) T t[grad_avx2_rows * 2 * L] = {0};                                              \
        if (!first) {                                                                                \
            for (ptrdiff_t r = 0; r < rows; r++)                                                     \
                for (ptrdiff_t j = 0; j < columns; j++) t[r * 2 * L + j] = c[r * ldc + j];           \
        }                                                                                            \
        grad_avx2_tile_##NAME(kl, a, b, t, 2 * L, first, fused);                                     \
        for (ptrdiff_t r = 0; r < rows; r++)                                                         \
            for (ptrdiff_t j = 0; j < columns; j++) c[r * ldc + j] = t[r * 2 * L + j];               \
    }                                                                                                \
                                                                                                     \
    GRAD_AVX2 void grad_avx2_matmul_##NAME(ptrdiff_t kl, const void *a, const void *b, void *c,      \
                                           ptrdiff_t ldc, ptrdiff_t rows, ptrdiff_t columns,         \
                                           bool first, bool fused) {                                 \
        if (fused) {                                                                                 \
            grad_avx2_micro_##NAME(kl, (const T *)a, (const T *)b, (T *)c, ldc, rows, columns, first, true); \
        } else {                                                                                     \
            grad_avx2_micro_##NAME(kl, (const T *)a, (const T *)b, (T *)c, ldc, rows, columns, first, false); \
        }                                                                                            \
    }

GRAD_AVX2_KERNELS(double, __m256d, 4, pd, f64)
GRAD_AVX2_KERNELS(float, __m256, 8, ps, f32)

#endif
