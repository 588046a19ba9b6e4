// Every elementwise op on scalars, in one switch: the one numeric truth that the reference
// kernels, constant folding and the VM compute with (the C emitter prints the same formulas,
// GradC/CFormulas.swift).

extension ElementwiseOp {
    /// The op on real scalars of its compute type. Booleans are the numbers 1 and 0: a
    /// comparison gives 1 or 0, and `select(c, a, b)` is `a` where c ≠ 0. Unused operands
    /// (`b`, `c` of a unary op) are ignored.
    ///
    /// A caller that knows the op at compile time (`ElementwiseOp.exp.real(x, x, x)`, or an
    /// `@inline(__always)` loop given a literal op) gets the formula alone: the switch folds.
    @inlinable @inline(__always)
    public func real<T: RealScalar>(_ a: T, _ b: T, _ c: T) -> T {
        switch self {
        case .neg: return ScalarMath.neg(a)
        case .abs: return ScalarMath.abs(a)
        case .sign: return ScalarMath.sign(a)
        case .exp: return ScalarMath.exp(a)
        case .log: return ScalarMath.log(a)
        case .log1p: return ScalarMath.log1p(a)
        case .expm1: return ScalarMath.expm1(a)
        case .sqrt: return ScalarMath.sqrt(a)
        case .rsqrt: return ScalarMath.rsqrt(a)
        case .square: return ScalarMath.square(a)
        case .reciprocal: return ScalarMath.reciprocal(a)
        case .sin: return ScalarMath.sin(a)
        case .cos: return ScalarMath.cos(a)
        case .tan: return ScalarMath.tan(a)
        case .tanh: return ScalarMath.tanh(a)
        case .sigmoid: return ScalarMath.sigmoid(a)
        case .relu: return ScalarMath.relu(a)
        case .softplus: return ScalarMath.softplus(a)
        case .erf: return ScalarMath.erf(a)
        case .floor: return ScalarMath.floor(a)
        case .ceil: return ScalarMath.ceil(a)
        case .add: return ScalarMath.add(a, b)
        case .sub: return ScalarMath.sub(a, b)
        case .mul: return ScalarMath.mul(a, b)
        case .div: return ScalarMath.div(a, b)
        case .pow: return ScalarMath.pow(a, b)
        case .maximum: return ScalarMath.maximum(a, b)
        case .minimum: return ScalarMath.minimum(a, b)
        case .atan2: return ScalarMath.atan2(a, b)
        case .floordiv: return ScalarMath.floordiv(a, b)
        case .mod: return ScalarMath.mod(a, b)
        case .zmul: return ScalarMath.zmul(a, b)
        case .zdiv: return ScalarMath.zdiv(a, b)
        case .lgamma: return ScalarMath.lgamma(a)
        case .digamma: return ScalarMath.digamma(a)
        case .erfc: return ScalarMath.erfc(a)
        case .log_sigmoid: return ScalarMath.logSigmoid(a)
        case .polygamma: return ScalarMath.polygamma(a, b)
        case .logaddexp: return ScalarMath.logaddexp(a, b)
        case .xlogy: return ScalarMath.xlogy(a, b)
        case .eq: return a == b ? 1 : 0
        case .ne: return a != b ? 1 : 0
        case .lt: return a < b ? 1 : 0
        case .le: return a <= b ? 1 : 0
        case .gt: return a > b ? 1 : 0
        case .ge: return a >= b ? 1 : 0
        case .select: return a != 0 ? b : c
        }
    }

    /// The op on `i64` operands (a `bool` operand or result is the Int64 0 or 1): wrapping
    /// two's-complement arithmetic that never traps. `nil` for the ops that have no integer
    /// form (the op table's `integers` trait, comparisons and `select` have one).
    @inlinable @inline(__always)
    public func integer(_ a: Int64, _ b: Int64, _ c: Int64) -> Int64? {
        switch self {
        case .neg: return ScalarMath.neg(a)
        case .abs: return ScalarMath.abs(a)
        case .sign: return ScalarMath.sign(a)
        case .square: return ScalarMath.square(a)
        case .relu: return ScalarMath.relu(a)
        case .add: return ScalarMath.add(a, b)
        case .sub: return ScalarMath.sub(a, b)
        case .mul: return ScalarMath.mul(a, b)
        case .maximum: return ScalarMath.maximum(a, b)
        case .minimum: return ScalarMath.minimum(a, b)
        case .floordiv: return ScalarMath.floordiv(a, b)
        case .mod: return ScalarMath.mod(a, b)
        case .eq: return a == b ? 1 : 0
        case .ne: return a != b ? 1 : 0
        case .lt: return a < b ? 1 : 0
        case .le: return a <= b ? 1 : 0
        case .gt: return a > b ? 1 : 0
        case .ge: return a >= b ? 1 : 0
        case .select: return a != 0 ? b : c
        case .exp, .log, .log1p, .expm1, .sqrt, .rsqrt, .reciprocal, .sin, .cos, .tan, .tanh, .sigmoid,
             .softplus, .erf, .floor, .ceil, .div, .pow, .atan2, .zmul, .zdiv,
             .lgamma, .digamma, .erfc, .log_sigmoid, .polygamma, .logaddexp, .xlogy:
            return nil
        }
    }

    /// Whether `integer` computes the op (on i64, or on bool for the comparisons and `select`).
    @inlinable public var hasIntegerForm: Bool { integer(0, 0, 0) != nil }
}
