#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The one numeric truth for scalars.
//
// Every backend computes an elementwise op with exactly the formula written here, in the
// element type (f32 in `float`, f64 in `double`, never through a wider type), calling the
// same libm functions, with no fused multiply-add (C must be compiled with
// `-ffp-contract=off`). The C emitter mirrors each formula literally; the C spelling is
// given next to each one.

// MARK: - Real scalars

/// `Float` or `Double`: the element types of real tensors. The requirements are thin
/// wrappers over the C math library (`expf`/`exp`, …) so that Swift and C agree bit for bit.
public protocol RealScalar: BinaryFloatingPoint, Sendable {
    /// eˣ — C `expf` / `exp`.
    static func exp(_ x: Self) -> Self
    /// ln x — C `logf` / `log`.
    static func log(_ x: Self) -> Self
    /// ln(1 + x) — C `log1pf` / `log1p`.
    static func log1p(_ x: Self) -> Self
    /// eˣ − 1 — C `expm1f` / `expm1`.
    static func expm1(_ x: Self) -> Self
    /// √x — C `sqrtf` / `sqrt`.
    static func sqrt(_ x: Self) -> Self
    /// C `sinf` / `sin`.
    static func sin(_ x: Self) -> Self
    /// C `cosf` / `cos`.
    static func cos(_ x: Self) -> Self
    /// C `tanf` / `tan`.
    static func tan(_ x: Self) -> Self
    /// C `tanhf` / `tanh`.
    static func tanh(_ x: Self) -> Self
    /// C `erff` / `erf`.
    static func erf(_ x: Self) -> Self
    /// C `erfcf` / `erfc`.
    static func erfc(_ x: Self) -> Self
    /// ln|Γ(x)| — C `lgammaf` / `lgamma` (called as `lgammaf_r` / `lgamma_r`, the same
    /// function without the write to the global `signgam`).
    static func lgamma(_ x: Self) -> Self
    /// C `floorf` / `floor`.
    static func floor(_ x: Self) -> Self
    /// C `ceilf` / `ceil`.
    static func ceil(_ x: Self) -> Self
    /// aᵇ — C `powf` / `pow`.
    static func pow(_ a: Self, _ b: Self) -> Self
    /// atan2(a, b) — C `atan2f` / `atan2`.
    static func atan2(_ a: Self, _ b: Self) -> Self
}

/// The libm functions among `RealScalar`'s requirements whose results are not exact (every
/// one but `sqrt`, `floor`, `ceil`): a C compiler may fold them with constant arguments
/// (correctly rounded, through MPFR) or rewrite them (`pow(x, 2.0)` → `x*x`), where glibc's
/// result can differ in the last bit, so generated C must call them for real. Their float
/// forms carry an `f` suffix.
public let inexactLibmFunctions = ["exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "erf", "erfc", "lgamma", "pow", "atan2"]

extension Float: RealScalar {
    @inlinable public static func exp(_ x: Float) -> Float { expf(x) }
    @inlinable public static func log(_ x: Float) -> Float { logf(x) }
    @inlinable public static func log1p(_ x: Float) -> Float { log1pf(x) }
    @inlinable public static func expm1(_ x: Float) -> Float { expm1f(x) }
    @inlinable public static func sqrt(_ x: Float) -> Float { sqrtf(x) }
    @inlinable public static func sin(_ x: Float) -> Float { sinf(x) }
    @inlinable public static func cos(_ x: Float) -> Float { cosf(x) }
    @inlinable public static func tan(_ x: Float) -> Float { tanf(x) }
    @inlinable public static func tanh(_ x: Float) -> Float { tanhf(x) }
    @inlinable public static func erf(_ x: Float) -> Float { erff(x) }
    @inlinable public static func erfc(_ x: Float) -> Float { erfcf(x) }
    @inlinable public static func lgamma(_ x: Float) -> Float { var sign: Int32 = 0; return lgammaf_r(x, &sign) }
    @inlinable public static func floor(_ x: Float) -> Float { floorf(x) }
    @inlinable public static func ceil(_ x: Float) -> Float { ceilf(x) }
    @inlinable public static func pow(_ a: Float, _ b: Float) -> Float { powf(a, b) }
    @inlinable public static func atan2(_ a: Float, _ b: Float) -> Float { atan2f(a, b) }
}

extension Double: RealScalar {
    @inlinable public static func exp(_ x: Double) -> Double { libm_exp(x) }
    @inlinable public static func log(_ x: Double) -> Double { libm_log(x) }
    @inlinable public static func log1p(_ x: Double) -> Double { libm_log1p(x) }
    @inlinable public static func expm1(_ x: Double) -> Double { libm_expm1(x) }
    @inlinable public static func sqrt(_ x: Double) -> Double { libm_sqrt(x) }
    @inlinable public static func sin(_ x: Double) -> Double { libm_sin(x) }
    @inlinable public static func cos(_ x: Double) -> Double { libm_cos(x) }
    @inlinable public static func tan(_ x: Double) -> Double { libm_tan(x) }
    @inlinable public static func tanh(_ x: Double) -> Double { libm_tanh(x) }
    @inlinable public static func erf(_ x: Double) -> Double { libm_erf(x) }
    @inlinable public static func erfc(_ x: Double) -> Double { libm_erfc(x) }
    @inlinable public static func lgamma(_ x: Double) -> Double { var sign: Int32 = 0; return lgamma_r(x, &sign) }
    @inlinable public static func floor(_ x: Double) -> Double { libm_floor(x) }
    @inlinable public static func ceil(_ x: Double) -> Double { libm_ceil(x) }
    @inlinable public static func pow(_ a: Double, _ b: Double) -> Double { libm_pow(a, b) }
    @inlinable public static func atan2(_ a: Double, _ b: Double) -> Double { libm_atan2(a, b) }
}

// The C functions under names that do not collide with the static requirements above.
@usableFromInline func libm_exp(_ x: Double) -> Double { exp(x) }
@usableFromInline func libm_log(_ x: Double) -> Double { log(x) }
@usableFromInline func libm_log1p(_ x: Double) -> Double { log1p(x) }
@usableFromInline func libm_expm1(_ x: Double) -> Double { expm1(x) }
@usableFromInline func libm_sqrt(_ x: Double) -> Double { sqrt(x) }
@usableFromInline func libm_sin(_ x: Double) -> Double { sin(x) }
@usableFromInline func libm_cos(_ x: Double) -> Double { cos(x) }
@usableFromInline func libm_tan(_ x: Double) -> Double { tan(x) }
@usableFromInline func libm_tanh(_ x: Double) -> Double { tanh(x) }
@usableFromInline func libm_erf(_ x: Double) -> Double { erf(x) }
@usableFromInline func libm_erfc(_ x: Double) -> Double { erfc(x) }
@usableFromInline func libm_floor(_ x: Double) -> Double { floor(x) }
@usableFromInline func libm_ceil(_ x: Double) -> Double { ceil(x) }
@usableFromInline func libm_pow(_ a: Double, _ b: Double) -> Double { pow(a, b) }
@usableFromInline func libm_atan2(_ a: Double, _ b: Double) -> Double { atan2(a, b) }

// MARK: - The scalar semantics of every elementwise op

/// The scalar meaning of each elementwise op, for `Float`, `Double` and (where the op accepts
/// integers) `Int64`. Kernels, constant folding and the VM call these; the C emitter prints
/// the C spelling given in each comment.
public enum ScalarMath {
    // MARK: Real, primitive (one libm call or one IEEE operation)

    /// −x (flips the sign bit; −0 ↔ +0, NaN stays NaN). C: `-x`.
    @inlinable public static func neg<T: RealScalar>(_ x: T) -> T { -x }
    /// |x| (clears the sign bit). C: `fabsf(x)` / `fabs(x)`.
    @inlinable public static func abs<T: RealScalar>(_ x: T) -> T { x.magnitude }
    @inlinable public static func exp<T: RealScalar>(_ x: T) -> T { T.exp(x) }
    @inlinable public static func log<T: RealScalar>(_ x: T) -> T { T.log(x) }
    @inlinable public static func log1p<T: RealScalar>(_ x: T) -> T { T.log1p(x) }
    @inlinable public static func expm1<T: RealScalar>(_ x: T) -> T { T.expm1(x) }
    @inlinable public static func sqrt<T: RealScalar>(_ x: T) -> T { T.sqrt(x) }
    @inlinable public static func sin<T: RealScalar>(_ x: T) -> T { T.sin(x) }
    @inlinable public static func cos<T: RealScalar>(_ x: T) -> T { T.cos(x) }
    @inlinable public static func tan<T: RealScalar>(_ x: T) -> T { T.tan(x) }
    @inlinable public static func tanh<T: RealScalar>(_ x: T) -> T { T.tanh(x) }
    @inlinable public static func erf<T: RealScalar>(_ x: T) -> T { T.erf(x) }
    @inlinable public static func erfc<T: RealScalar>(_ x: T) -> T { T.erfc(x) }
    @inlinable public static func lgamma<T: RealScalar>(_ x: T) -> T { T.lgamma(x) }
    @inlinable public static func floor<T: RealScalar>(_ x: T) -> T { T.floor(x) }
    @inlinable public static func ceil<T: RealScalar>(_ x: T) -> T { T.ceil(x) }
    @inlinable public static func add<T: RealScalar>(_ a: T, _ b: T) -> T { a + b }
    @inlinable public static func sub<T: RealScalar>(_ a: T, _ b: T) -> T { a - b }
    @inlinable public static func mul<T: RealScalar>(_ a: T, _ b: T) -> T { a * b }
    /// a / b, IEEE (x/0 = ±inf, 0/0 = NaN). C: `a / b`.
    @inlinable public static func div<T: RealScalar>(_ a: T, _ b: T) -> T { a / b }
    @inlinable public static func pow<T: RealScalar>(_ a: T, _ b: T) -> T { T.pow(a, b) }
    @inlinable public static func atan2<T: RealScalar>(_ a: T, _ b: T) -> T { T.atan2(a, b) }

    // MARK: Real, composite (written once; the C emitter copies these formulas)

    /// Logistic function.
    /// ```
    /// sigmoid(x) = 1 / (1 + exp(−x))
    /// ```
    /// C: `1.0f / (1.0f + expf(-x))`. Saturates to 0 for x → −inf (exp(−x) = inf) and to 1
    /// for x → +inf; NaN stays NaN.
    @inlinable public static func sigmoid<T: RealScalar>(_ x: T) -> T {
        1 / (1 + T.exp(-x))
    }

    /// ln(1 + eˣ), stable for large |x|.
    /// ```
    /// softplus(x) = (x > 0 ? x : 0) + log1p(exp(−|x|))
    /// ```
    /// C: `(x > 0 ? x : 0.0f) + log1pf(expf(-fabsf(x)))`. NaN gives NaN (through the second
    /// term); +inf gives +inf; −inf gives +0.
    @inlinable public static func softplus<T: RealScalar>(_ x: T) -> T {
        (x > 0 ? x : 0) + T.log1p(T.exp(-x.magnitude))
    }

    /// Rectified linear unit.
    /// ```
    /// relu(x) = x    if x > 0
    ///           x    if x is NaN
    ///           +0   otherwise (so relu(−0) = +0)
    /// ```
    /// C: `x > 0 ? x : (x != x ? x : 0.0f)`.
    @inlinable public static func relu<T: RealScalar>(_ x: T) -> T {
        // One comparison (NaN <= 0 is false): the form that vectorizes, also for f64.
        x <= 0 ? 0 : x
    }

    /// Reciprocal square root.
    /// ```
    /// rsqrt(x) = 1 / sqrt(x)
    /// ```
    /// C: `1.0f / sqrtf(x)` (two correctly rounded operations, not a hardware estimate).
    @inlinable public static func rsqrt<T: RealScalar>(_ x: T) -> T { 1 / T.sqrt(x) }

    /// ```
    /// reciprocal(x) = 1 / x
    /// ```
    /// C: `1.0f / x`.
    @inlinable public static func reciprocal<T: RealScalar>(_ x: T) -> T { 1 / x }

    /// ```
    /// square(x) = x · x
    /// ```
    /// C: `x * x`.
    @inlinable public static func square<T: RealScalar>(_ x: T) -> T { x * x }

    /// Sign.
    /// ```
    /// sign(x) = +1  if x > 0
    ///           −1  if x < 0
    ///           x   otherwise (+0 → +0, −0 → −0, NaN → NaN)
    /// ```
    /// C: `x > 0 ? 1.0f : (x < 0 ? -1.0f : x)`.
    @inlinable public static func sign<T: RealScalar>(_ x: T) -> T {
        if x > 0 { return 1 }
        if x < 0 { return -1 }
        return x
    }

    /// Elementwise maximum, NaN-propagating (unlike C `fmax`).
    /// ```
    /// maximum(a, b) = a        if a is NaN
    ///                 b        if b is NaN
    ///                 b        if b > a
    ///                 a        otherwise (ties, including −0 vs +0, return a)
    /// ```
    /// C: `a != a ? a : (b != b ? b : (b > a ? b : a))`.
    @inlinable public static func maximum<T: RealScalar>(_ a: T, _ b: T) -> T {
        if a.isNaN { return a }
        if b.isNaN { return b }
        return b > a ? b : a
    }

    /// Elementwise minimum, NaN-propagating (unlike C `fmin`).
    /// ```
    /// minimum(a, b) = a        if a is NaN
    ///                 b        if b is NaN
    ///                 b        if b < a
    ///                 a        otherwise (ties, including −0 vs +0, return a)
    /// ```
    /// C: `a != a ? a : (b != b ? b : (b < a ? b : a))`.
    @inlinable public static func minimum<T: RealScalar>(_ a: T, _ b: T) -> T {
        if a.isNaN { return a }
        if b.isNaN { return b }
        return b < a ? b : a
    }

    /// Strong-zero product: a zero `a` wins over an infinite or NaN `b`.
    /// ```
    /// zmul(a, b) = a      if a = ±0 and b is ±inf or NaN
    ///              a · b  otherwise
    /// ```
    /// The derivative rules multiply a cotangent `a` by a local slope `b` with it, so that a
    /// zero cotangent sends back exactly zero even where the slope is infinite (an untaken
    /// `select` branch, `sqrt` at 0), while staying linear in `a` (so second derivatives keep
    /// every term). Equal to `a · b` bit for bit wherever that is not NaN.
    /// Computed as the product, replaced by `a` when it is NaN and `a` is zero (the product is
    /// NaN with a zero `a` exactly when `b` is infinite or NaN): one multiply and a rarely
    /// taken test on the result. C: `(p != p && a == 0) ? a : p` with `p = a * b`.
    @inlinable public static func zmul<T: RealScalar>(_ a: T, _ b: T) -> T {
        let p = a * b
        if _slowPath(p.isNaN) { return a == 0 ? a : p }  // a branch, not a blend: off the dependency chain
        return p
    }

    /// Strong-zero quotient: a zero `a` wins over a zero or NaN `b`.
    /// ```
    /// zdiv(a, b) = a      if a = ±0 and b is ±0 or NaN
    ///              a / b  otherwise
    /// ```
    /// Computed like `zmul`: the quotient, replaced by `a` when it is NaN and `a` is zero (a
    /// zero `a` gives NaN exactly when `b` is ±0 or NaN). C: `(q != q && a == 0) ? a : q`.
    @inlinable public static func zdiv<T: RealScalar>(_ a: T, _ b: T) -> T {
        let q = a / b
        if _slowPath(q.isNaN) { return a == 0 ? a : q }
        return q
    }

    /// Floor division with NumPy's convention (`np.floor_divide` on floats): the quotient
    /// rounded toward −inf, computed from the exact remainder so that
    /// `a == b·floordiv(a, b) + mod(a, b)` as nearly as rounding allows.
    /// ```
    /// floordiv(a, b) = a / b                         if b = ±0 (±inf or NaN)
    ///                  q                             otherwise, where
    ///   r = fmod(a, b);  d = (a − r) / b;  if r ≠ 0 and (b < 0) ≠ (r < 0): d = d − 1
    ///   q = floor(d), plus 1 if d − floor(d) > 0.5   if d ≠ 0
    ///   q = copysign(0, a / b)                       if d = 0
    /// ```
    /// NaN or infinite `a` gives NaN (fmod is NaN). C: `GRADC_floordiv_f64(a, b)`, a static
    /// function of the generated file holding these steps.
    @inlinable public static func floordiv<T: RealScalar>(_ a: T, _ b: T) -> T {
        if b == 0 { return a / b }
        let r = a.truncatingRemainder(dividingBy: b)
        var d = (a - r) / b
        if r != 0 && (b < 0) != (r < 0) { d -= 1 }
        if d == 0 { return T(signOf: a / b, magnitudeOf: 0) }
        var q = T.floor(d)
        if d - q > 0.5 { q += 1 }
        return q
    }

    /// Modulo with NumPy's convention (`np.mod` on floats): the remainder has the sign of the
    /// divisor (a zero remainder is +0 or −0 like b).
    /// ```
    /// mod(a, b) = fmod(a, b)                      if b = ±0 (NaN)
    ///             r + b   if r ≠ 0 and (b < 0) ≠ (r < 0), where r = fmod(a, b)
    ///             r       if r ≠ 0 otherwise
    ///             copysign(0, b)                  if r = 0
    /// ```
    /// C: `GRADC_mod_f64(a, b)`.
    @inlinable public static func mod<T: RealScalar>(_ a: T, _ b: T) -> T {
        let r = a.truncatingRemainder(dividingBy: b)
        if b == 0 { return r }
        if r == 0 { return T(signOf: b, magnitudeOf: 0) }
        return (b < 0) != (r < 0) ? r + b : r
    }

    // MARK: Int64 (wrapping two's-complement arithmetic; never traps)

    /// −x, wrapping: `neg(Int64.min) == Int64.min`. C: `(int64_t)(0 - (uint64_t)x)`.
    @inlinable public static func neg(_ x: Int64) -> Int64 { 0 &- x }
    /// |x|, wrapping: `abs(Int64.min) == Int64.min`. C: `x < 0 ? (int64_t)(0 - (uint64_t)x) : x`.
    @inlinable public static func abs(_ x: Int64) -> Int64 { x < 0 ? 0 &- x : x }
    /// −1, 0 or +1.
    @inlinable public static func sign(_ x: Int64) -> Int64 { x > 0 ? 1 : (x < 0 ? -1 : 0) }
    /// x·x, wrapping.
    @inlinable public static func square(_ x: Int64) -> Int64 { x &* x }
    /// x if x > 0, else 0.
    @inlinable public static func relu(_ x: Int64) -> Int64 { x > 0 ? x : 0 }
    /// a + b, wrapping. C: `(int64_t)((uint64_t)a + (uint64_t)b)`.
    @inlinable public static func add(_ a: Int64, _ b: Int64) -> Int64 { a &+ b }
    /// a − b, wrapping.
    @inlinable public static func sub(_ a: Int64, _ b: Int64) -> Int64 { a &- b }
    /// a · b, wrapping.
    @inlinable public static func mul(_ a: Int64, _ b: Int64) -> Int64 { a &* b }
    /// The larger of a and b (a on a tie).
    @inlinable public static func maximum(_ a: Int64, _ b: Int64) -> Int64 { b > a ? b : a }
    /// The smaller of a and b (a on a tie).
    @inlinable public static func minimum(_ a: Int64, _ b: Int64) -> Int64 { b < a ? b : a }

    /// Floor division rounding toward −inf (NumPy's `floor_divide` on integers): 0 where
    /// b = 0, and `Int64.min` for `Int64.min / −1` (wrapping), never a trap.
    /// ```
    /// floordiv(a, b) = 0                    if b = 0
    ///                  −a (wrapping)        if b = −1
    ///                  q − 1                if a mod b ≠ 0 and a, b have opposite signs
    ///                  q = a / b (truncated) otherwise
    /// ```
    /// C: `GRADC_floordiv_i64(a, b)`.
    @inlinable public static func floordiv(_ a: Int64, _ b: Int64) -> Int64 {
        if b == 0 { return 0 }
        if b == -1 { return 0 &- a }
        let q = a / b
        return a % b != 0 && (a < 0) != (b < 0) ? q - 1 : q
    }
    /// Modulo with the sign of the divisor (NumPy's `mod` on integers): 0 where b = 0.
    /// ```
    /// mod(a, b) = 0        if b = 0 or b = −1
    ///             r + b    if r ≠ 0 and r, b have opposite signs, where r = a % b (truncated)
    ///             r        otherwise
    /// ```
    /// C: `GRADC_mod_i64(a, b)`.
    @inlinable public static func mod(_ a: Int64, _ b: Int64) -> Int64 {
        if b == 0 || b == -1 { return 0 }
        let r = a % b
        return r != 0 && (r < 0) != (b < 0) ? r + b : r
    }

    // MARK: Conversions (the `cast` op and `const` materialization)

    /// Real → i64: truncation toward zero; NaN, ±inf and values whose truncation is outside
    /// the Int64 range give 0.
    /// ```
    /// toInt64(x) = trunc(x)  if −2⁶³ ≤ trunc(x) < 2⁶³
    ///              0         otherwise (NaN, ±inf, out of range)
    /// ```
    /// C: `(x >= -0x1p63 && x < 0x1p63) ? (int64_t)x : 0` (the comparison is false for NaN).
    @inlinable public static func toInt64<T: RealScalar>(_ x: T) -> Int64 {
        guard x >= -0x1p63, x < 0x1p63 else { return 0 }
        return Int64(x)
    }
}

// MARK: - Accumulation (sums, products, matmul, cumsum)

/// Element types that can be added and multiplied by the reduction and linear-algebra
/// kernels: `Float`, `Double` (IEEE) and `Int64` (wrapping). Accumulators start at
/// `kernelZero` (+0) and add in increasing index order.
public protocol KernelNumber: Sendable {
    static var kernelZero: Self { get }
    static var kernelOne: Self { get }
    /// The identity of `max` over no elements: −inf for reals, `Int64.min` for i64.
    static var kernelLowest: Self { get }
    /// The identity of `min` over no elements: +inf for reals, `Int64.max` for i64.
    static var kernelHighest: Self { get }
    static func kernelAdd(_ a: Self, _ b: Self) -> Self
    static func kernelMul(_ a: Self, _ b: Self) -> Self
    static func kernelMaximum(_ a: Self, _ b: Self) -> Self
    static func kernelMinimum(_ a: Self, _ b: Self) -> Self
}

extension KernelNumber where Self: RealScalar {
    @inlinable public static var kernelZero: Self { 0 }
    @inlinable public static var kernelOne: Self { 1 }
    @inlinable public static var kernelLowest: Self { -Self.infinity }
    @inlinable public static var kernelHighest: Self { Self.infinity }
    @inlinable public static func kernelAdd(_ a: Self, _ b: Self) -> Self { a + b }
    @inlinable public static func kernelMul(_ a: Self, _ b: Self) -> Self { a * b }
    @inlinable public static func kernelMaximum(_ a: Self, _ b: Self) -> Self { ScalarMath.maximum(a, b) }
    @inlinable public static func kernelMinimum(_ a: Self, _ b: Self) -> Self { ScalarMath.minimum(a, b) }
}

extension Float: KernelNumber {}
extension Double: KernelNumber {}

extension Int64: KernelNumber {
    @inlinable public static var kernelZero: Int64 { 0 }
    @inlinable public static var kernelOne: Int64 { 1 }
    @inlinable public static var kernelLowest: Int64 { .min }
    @inlinable public static var kernelHighest: Int64 { .max }
    @inlinable public static func kernelAdd(_ a: Int64, _ b: Int64) -> Int64 { a &+ b }
    @inlinable public static func kernelMul(_ a: Int64, _ b: Int64) -> Int64 { a &* b }
    @inlinable public static func kernelMaximum(_ a: Int64, _ b: Int64) -> Int64 { ScalarMath.maximum(a, b) }
    @inlinable public static func kernelMinimum(_ a: Int64, _ b: Int64) -> Int64 { ScalarMath.minimum(a, b) }
}
