/// Every operation of the IR — the one place that lists them. Each layer that must know every
/// op (type rules below, reference kernels, VJP rules, VM, C emitter) has one exhaustive
/// `switch` over this enum with no `default:`, so adding a case makes the compiler list every
/// place to update.
public enum Op: String, CaseIterable, Hashable, Sendable {
    // Leaves
    case input, const
    // Elementwise unary
    case neg, abs, sign, exp, log, log1p, expm1, sqrt, rsqrt, square, reciprocal
    case sin, cos, tan, tanh, sigmoid, relu, softplus, erf, floor, ceil
    // Elementwise binary (NumPy broadcasting)
    case add, sub, mul, div, pow, maximum, minimum, atan2, floordiv, mod
    // The strong-zero product and quotient the derivative rules multiply cotangents with
    case zmul, zdiv
    // Special functions (issue 17)
    case lgamma, digamma, erfc, log_sigmoid
    case polygamma, logaddexp, xlogy
    // Comparisons (→ bool) and selection
    case eq, ne, lt, le, gt, ge, select
    // Reductions
    case sum, mean, max, min, prod, logsumexp, argmax, argmin
    // Linear algebra
    case matmul, transpose, dot
    // Shape and data movement
    case reshape, broadcast_to, slice, pad, concat, expand_dims, squeeze, cumsum, one_hot, cast
    // Indexing with i64 tensors
    case take, take_along_axis, scatter_add, scatter_add_along_axis, iota
    // Neural-network helpers with stable fused forms
    case softmax, log_softmax, softmax_cross_entropy
    // Convolution (NCHW data, OIHW kernels) and its two transposes
    case conv2d, conv2d_input_grad, conv2d_kernel_grad
    // Derivative requests, expanded into ordinary nodes by the differentiation pass
    case grad, jacobian, hessian
    // Loops: a `scan` node runs one of its function's `bodies`; `result` nodes are its values
    case scan, result
    // Linear algebra on the last two axes, batched (issue 17): factorizations and solves
    case cholesky
    case triangular_solve
    case logdet
    case solve
    case det
    // Forward-mode derivative requests (issue 18), expanded like `grad`
    case jvp
    case hvp
    // Pooling over 2-D windows of NCHW data (issue 17), appended; its transposes
    case max_pool2d, max_pool2d_grad, max_pool2d_tangent
    case avg_pool2d, avg_pool2d_grad
    // slogdet's two halves (issue 17), appended: ln|det A| and the sign of det A, from LU
    case logabsdet, det_sign
}

/// How many operands an op takes.
public enum Arity: Hashable, Sendable, CustomStringConvertible {
    case fixed(Int)
    case atLeast(Int)

    public func accepts(_ n: Int) -> Bool {
        switch self {
        case .fixed(let k): return n == k
        case .atLeast(let k): return n >= k
        }
    }
    public var description: String {
        switch self {
        case .fixed(let k): return "\(k) operand\(k == 1 ? "" : "s")"
        case .atLeast(let k): return "at least \(k) operand\(k == 1 ? "" : "s")"
        }
    }
}

/// The kind of value an attribute holds.
public enum AttrKind: String, Hashable, Sendable {
    case int, ints, bool, float, floats, dtype
}

/// One attribute an op accepts.
public struct AttrSpec: Hashable, Sendable {
    public var key: AttrKey
    public var kind: AttrKind
    public var required: Bool
}

/// Broad families of ops, used by passes and backends that treat a family alike.
public enum OpFamily: String, Hashable, Sendable {
    case leaf, unary, binary, comparison, select, reduction, linalg, shape, nn, derivative, loop
}

/// Facts about an op that passes and backends act on, stated once in its table row.
public struct OpTraits: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Operands may be `i64` (every op accepts floats).
    public static let integers = OpTraits(rawValue: 1 << 0)
    /// `op(a, b)` equals `op(b, a)` bit for bit (CSE merges the two orders).
    public static let commutative = OpTraits(rawValue: 1 << 1)
    /// The result is the operand's elements, unchanged, in a new shape: backends give it the
    /// operand's buffer and compute nothing.
    public static let view = OpTraits(rawValue: 1 << 2)
}

/// The static description of an op: what the docs, the parser and the verifier know of it.
public struct OpInfo: Sendable {
    public var family: OpFamily
    public var arity: Arity
    public var attributes: [AttrSpec]
    /// One-line meaning, with the math.
    public var doc: String
    /// The derivative rule in words, including the convention at non-differentiable points.
    public var derivative: String
    public var traits: OpTraits = []
    /// The dtypes column of docs/ops.md, where the family's rule (see `OpReference.swift`)
    /// does not say it.
    public var dtypes: String? = nil
}

private func attr(_ key: AttrKey, _ kind: AttrKind, required: Bool = false) -> AttrSpec {
    AttrSpec(key: key, kind: kind, required: required)
}

extension Op {
    public var name: String { rawValue }

    /// Position of the case in declaration order (0 ..< `allCases.count`), for tables
    /// indexed by op. An op is a one-byte tag, so this is a load, not a switch or a lookup.
    @inlinable @inline(__always) public var index: Int { Int(unsafeBitCast(self, to: UInt8.self)) }

    /// Ops compare and hash by their tag. (The `String` raw value would otherwise be hashed
    /// and compared as text — a cost paid per node by CSE on million-node graphs.)
    @inlinable public static func == (a: Op, b: Op) -> Bool { a.index == b.index }
    @inlinable public func hash(into h: inout Hasher) { h.combine(UInt8(truncatingIfNeeded: index)) }

    /// The op's static description (built once per op).
    public var info: OpInfo { Op.infos[index] }

    /// The op's family, without copying its `info` (whose arrays and strings a copy retains:
    /// a scan of a million nodes would pay that per node).
    public var family: OpFamily { Op.families[index] }
    private static let families: [OpFamily] = infos.map(\.family)

    /// The position of the op's i64 index operand (`take`'s and `scatter_add`'s second),
    /// where a weakly typed literal is an i64 tensor.
    public var indexOperand: Int? {
        switch self {
        case .take, .take_along_axis, .scatter_add, .scatter_add_along_axis: return 1
        default: return nil
        }
    }

    /// Whether the op is a derivative request (`grad`, `jacobian`, `hessian`, `jvp`, `hvp`).
    @inlinable public var isDerivativeRequest: Bool {
        switch self {
        case .grad, .jacobian, .hessian, .jvp, .hvp: return true
        default: return false
        }
    }
    private static let infos: [OpInfo] = allCases.map(\.makeInfo)

    private var makeInfo: OpInfo {
        let reduceAttrs = [attr(.axes, .ints), attr(.keepdims, .bool)]
        let convAttrs = [attr(.stride, .ints), attr(.padding, .ints), attr(.dilation, .ints)]
        let poolAttrs = [attr(.window, .ints, required: true), attr(.stride, .ints), attr(.padding, .ints)]
        switch self {
        case .input:
            return OpInfo(family: .leaf, arity: .fixed(0), attributes: [], doc: "A function parameter.", derivative: "The variable itself.")
        case .const:
            return OpInfo(family: .leaf, arity: .fixed(0),
                          attributes: [attr(.shape, .ints), attr(.dtype, .dtype, required: true), attr(.value, .float), attr(.values, .floats)],
                          doc: "A constant: `value` repeated over `shape`, or the row-major list `values`.", derivative: "Zero.")
        case .neg: return unary("Negation −x.", "−g.", [.integers])
        case .abs: return unary("Absolute value |x|.", "g·sign(x); abs′(0) = 0.", [.integers])
        case .sign: return unary("Sign: −1, 0 or 1 (NaN stays NaN).", "Zero everywhere (also at 0).", [.integers])
        case .exp: return unary("Exponential eˣ.", "g·eˣ, reusing the output.")
        case .log: return unary("Natural logarithm ln x (−inf at 0, NaN below).", "g/x (+inf at 0; exactly 0 where g = 0).")
        case .log1p: return unary("ln(1 + x), accurate for small x.", "g/(1 + x).")
        case .expm1: return unary("eˣ − 1, accurate for small x.", "g·(out + 1).")
        case .sqrt: return unary("Square root √x.", "g/(2·√x); +inf at 0, but exactly 0 where g = 0 (so an untaken `select` branch stays out).")
        case .rsqrt: return unary("Reciprocal square root 1/√x.", "−g·out/(2x); exactly 0 where g = 0.")
        case .square: return unary("x².", "2·g·x.", [.integers])
        case .reciprocal: return unary("1/x.", "−g·out²; exactly 0 where g = 0.")
        case .sin: return unary("Sine.", "g·cos x.")
        case .cos: return unary("Cosine.", "−g·sin x.")
        case .tan: return unary("Tangent.", "g·(1 + out²).")
        case .tanh: return unary("Hyperbolic tangent.", "g·(1 − out²).")
        case .sigmoid: return unary("Logistic σ(x) = 1/(1 + e⁻ˣ).", "g·out·(1 − out).")
        case .relu: return unary("max(x, 0).", "g where x > 0, else 0; relu′(0) = 0.", [.integers])
        case .softplus: return unary("ln(1 + eˣ), computed as max(x,0) + log1p(e^−|x|).", "g·σ(x).")
        case .erf: return unary("Error function.", "g·2/√π·e^(−x²).")
        case .floor: return unary("Round toward −inf.", "Zero everywhere.")
        case .ceil: return unary("Round toward +inf.", "Zero everywhere.")
        case .add: return binary("a + b.", "g, g (each summed over its broadcast axes).", [.integers, .commutative])
        case .sub: return binary("a − b.", "g, −g.", [.integers])
        case .mul: return binary("a · b.", "g·b, g·a.", [.integers, .commutative])
        case .div: return binary("a / b (IEEE).", "g/b, −g·out/b; exactly 0 where g = 0.")
        case .pow: return binary("aᵇ (C `pow`).", "g·b·a^(b−1) (0 where b = 0); g·out·ln a (0 where a = 0).")
        case .maximum: return binary("Elementwise max(a, b) (NaN if either is NaN).", "g to the larger; ties split evenly (g/2 each).", [.integers])
        case .minimum: return binary("Elementwise min(a, b) (NaN if either is NaN).", "g to the smaller; ties split evenly (g/2 each).", [.integers])
        case .atan2: return binary("atan2(a, b): the angle of the point (b, a).", "g·b/(a²+b²), −g·a/(a²+b²); 0 at the origin where g = 0.")
        case .floordiv:
            return binary("Floor division ⌊a / b⌋ with NumPy's convention (`floor_divide`): i64 rounds toward −inf, 0 where b = 0, wraps for i64 min / −1; floats round the exact-remainder quotient (a / b where b = 0).",
                          "Zero everywhere (piecewise constant).", [.integers])
        case .mod:
            return binary("a − b·floordiv(a, b) with NumPy's convention (`mod`): the sign of b (a zero is ±0 like b); i64 gives 0 where b = 0, floats fmod (NaN).",
                          "a: g; b: −g·floordiv(a, b).", [.integers])
        case .zmul:
            return binary("Strong-zero product: a·b, except that a zero `a` wins — where a = ±0 and b is ±inf or NaN the result is a (not NaN).",
                          "a: zmul(g, b); b: zmul(a, g) (a zero `a` stays strong). Linear in each operand, so it differentiates again.")
        case .zdiv:
            return binary("Strong-zero quotient: a/b, except that a zero `a` wins — where a = ±0 and b is ±0 or NaN the result is a (not NaN).",
                          "a: zdiv(g, b); b: −zdiv(zmul(out, g), b).")
        // MARK: Special functions (issue 17)
        case .lgamma:
            return unary("ln|Γ(x)|, the C library's `lgamma` on every backend (+inf at 0 and the negative integers).", "g·digamma(x).")
        case .digamma:
            return unary("ψ(x) = d/dx ln Γ(x): asymptotic series after the recurrence ψ(x) = ψ(x+1) − 1/x, a Taylor series about the positive root, reflection for x < 0; −inf at +0, +inf at −0, NaN at the negative integers.",
                         "g·polygamma(1, x).")
        case .erfc:
            return unary("Complementary error function 1 − erf(x), accurate where erf(x) is near 1 (C `erfc`).", "−g·2/√π·e^(−x²).")
        case .log_sigmoid:
            return unary("ln σ(x) = −softplus(−x), computed as min(x, 0) − log1p(e^−|x|) (log_sigmoid(−1000) = −1000).", "g·σ(−x).")
        case .polygamma:
            return binary("polygamma(n, x) = ψ⁽ⁿ⁾(x), the n-th derivative of digamma, for n ∈ {0, 1, …, 16} given as a float operand (NaN for any other n); at the non-positive integers +inf for odd n, NaN for even n (±inf at ±0).",
                          "n: none (integer-valued); x: g·polygamma(n + 1, x).")
        case .logaddexp:
            return binary("ln(eᵃ + eᵇ), computed as max(a, b) + log1p(e^−|a−b|); a + ln 2 where a = b (so −inf for a = b = −inf).",
                          "g·σ(a − b), g·σ(b − a), with a − b taken as 0 where a = b are both infinite (½ each, never NaN).")
        case .xlogy:
            return binary("x·ln y, and exactly +0 where x = 0 and y is not NaN (also at y = 0), as SciPy's `xlogy`.",
                          "x: g·ln y (−inf at y = 0, also where x = 0); y: g·zdiv(x, y) (0 where x = 0, even at y = 0).")
        case .eq: return comparison("a == b.", [.commutative])
        case .ne: return comparison("a != b.", [.commutative])
        case .lt: return comparison("a < b.")
        case .le: return comparison("a <= b.")
        case .gt: return comparison("a > b.")
        case .ge: return comparison("a >= b.")
        case .select:
            return OpInfo(family: .select, arity: .fixed(3), attributes: [],
                          doc: "select(c, a, b): a where c is true, else b (broadcast).",
                          derivative: "c: none; a: g where c, else 0; b: g where not c, else 0.")
        case .sum: return OpInfo(family: .reduction, arity: .fixed(1), attributes: reduceAttrs, doc: "Sum over `axes` (all by default).", derivative: "g broadcast back over the reduced axes.", traits: [.integers])
        case .mean: return OpInfo(family: .reduction, arity: .fixed(1), attributes: reduceAttrs, doc: "Mean over `axes` (all by default).", derivative: "g/n broadcast back over the reduced axes.")
        case .max: return OpInfo(family: .reduction, arity: .fixed(1), attributes: reduceAttrs, doc: "Maximum over `axes` (NaN if any element is NaN).", derivative: "g shared evenly among the elements equal to the maximum.", traits: [.integers])
        case .min: return OpInfo(family: .reduction, arity: .fixed(1), attributes: reduceAttrs, doc: "Minimum over `axes` (NaN if any element is NaN).", derivative: "g shared evenly among the elements equal to the minimum.", traits: [.integers])
        case .prod: return OpInfo(family: .reduction, arity: .fixed(1), attributes: reduceAttrs, doc: "Product over `axes`.", derivative: "g times the product of the other elements (exact where x = 0; no division).", traits: [.integers])
        case .logsumexp: return OpInfo(family: .reduction, arity: .fixed(1), attributes: reduceAttrs, doc: "ln Σ eˣ over `axes`, computed stably as m + ln Σ e^(x−m) with m the maximum (−inf when all are −inf).", derivative: "g·e^(x − out), i.e. g·softmax(x).")
        case .argmax, .argmin:
            let (extremum, order) = self == .argmax ? ("maximum", ">") : ("minimum", "<")
            return OpInfo(family: .reduction, arity: .fixed(1), attributes: reduceAttrs,
                          doc: "Index of the first \(extremum) over `axes` (all by default; `axis=k` for one) as i64: its row-major position within the reduced axes. Ties go to the first; a NaN counts as the \(extremum) (the first NaN wins), as NumPy's `\(name)`. Compares with `\(order)`, so −0 and +0 tie. The reduced axes must not be empty.",
                          derivative: "None (integer result).", traits: [.integers], dtypes: "f32 f64 i64 → i64")
        case .matmul:
            return OpInfo(family: .linalg, arity: .fixed(2), attributes: [],
                          doc: "Matrix product a[…,m,k] @ b[…,k,n] → […,m,n], batch dimensions broadcast.",
                          derivative: "g @ bᵀ, aᵀ @ g (each summed over broadcast batch dimensions).", traits: [.integers])
        case .transpose:
            return OpInfo(family: .linalg, arity: .fixed(1), attributes: [attr(.perm, .ints)],
                          doc: "Permutes axes: out.shape[i] = x.shape[perm[i]] (default: reversed).", derivative: "g transposed by the inverse permutation.")
        case .dot:
            return OpInfo(family: .linalg, arity: .fixed(2), attributes: [], doc: "Inner product of two vectors Σ aᵢbᵢ.", derivative: "g·b, g·a.", traits: [.integers])
        case .reshape:
            return OpInfo(family: .shape, arity: .fixed(1), attributes: [attr(.shape, .ints, required: true)],
                          doc: "Same elements in row-major order, new shape.", derivative: "g reshaped back.", traits: [.view])
        case .broadcast_to:
            return OpInfo(family: .shape, arity: .fixed(1), attributes: [attr(.shape, .ints, required: true)],
                          doc: "NumPy broadcast of x to `shape`.", derivative: "g summed over the broadcast axes.")
        case .slice:
            return OpInfo(family: .shape, arity: .fixed(1),
                          attributes: [attr(.start, .ints, required: true), attr(.stop, .ints, required: true), attr(.step, .ints, required: true)],
                          doc: "x[start:stop:step] on every axis (normalized: 0 ≤ start ≤ stop ≤ dim, step ≥ 1).",
                          derivative: "g padded with zeros back to the shape of x (`pad`).")
        case .pad:
            return OpInfo(family: .shape, arity: .fixed(1),
                          attributes: [attr(.low, .ints, required: true), attr(.high, .ints, required: true), attr(.step, .ints, required: true)],
                          doc: "Zero padding: element i of an axis goes to low + i·step; `high` zeros follow the last one.",
                          derivative: "g sliced back (`slice`).")
        case .concat:
            return OpInfo(family: .shape, arity: .atLeast(1), attributes: [attr(.axis, .int, required: true)],
                          doc: "Joins tensors along `axis`.", derivative: "g sliced into the pieces.")
        case .expand_dims:
            return OpInfo(family: .shape, arity: .fixed(1), attributes: [attr(.axis, .int, required: true)],
                          doc: "Inserts an axis of length 1 at `axis`.", derivative: "g reshaped back.", traits: [.view])
        case .squeeze:
            return OpInfo(family: .shape, arity: .fixed(1), attributes: [attr(.axes, .ints)],
                          doc: "Removes axes of length 1 (`axes`, or all of them).", derivative: "g reshaped back.", traits: [.view])
        case .cumsum:
            return OpInfo(family: .shape, arity: .fixed(1), attributes: [attr(.axis, .int, required: true), attr(.reverse, .bool)],
                          doc: "Running sum along `axis` (from the end when `reverse`).", derivative: "Running sum of g in the other direction.", traits: [.integers],
                          dtypes: "f32 f64 i64")
        case .one_hot:
            return OpInfo(family: .shape, arity: .fixed(1), attributes: [attr(.depth, .int, required: true), attr(.dtype, .dtype)],
                          doc: "i64 labels → one-hot vectors of length `depth` on a new last axis (`dtype`, default f64); labels out of range give all zeros.",
                          derivative: "None (integer input).")
        case .take:
            return OpInfo(family: .shape, arity: .fixed(2), attributes: [attr(.axis, .int, required: true)],
                          doc: "NumPy `take`: out[a…, j…, b…] = x[a…, idx[j…], b…] along `axis`, for i64 indices `idx` of any shape; out.shape = x.shape[:axis] + idx.shape + x.shape[axis+1:]. An index i with −n ≤ i < 0 means i + n; any other index outside 0..<n is a run-time error (every backend checks all indices first).",
                          derivative: "x: scatter_add(zeros like x, idx, g); idx: none.", traits: [.integers], dtypes: "T, i64 → T")
        case .take_along_axis:
            return OpInfo(family: .shape, arity: .fixed(2), attributes: [attr(.axis, .int, required: true)],
                          doc: "NumPy `take_along_axis`: out[a…, j, b…] = x[a…, idx[a…, j, b…], b…]; `idx` (i64) has x's rank and x's length on every axis but `axis`, and out has idx's shape. Indices as in `take`.",
                          derivative: "x: scatter_add_along_axis(zeros like x, idx, g); idx: none.", traits: [.integers], dtypes: "T, i64 → T")
        case .scatter_add:
            return OpInfo(family: .shape, arity: .fixed(3), attributes: [attr(.axis, .int, required: true)],
                          doc: "The transpose of `take`: out = base, then out[a…, idx[j…], b…] += updates[a…, j…, b…] for every element of `updates` in row-major order (repeated indices accumulate); updates.shape = base.shape[:axis] + idx.shape + base.shape[axis+1:]. Indices as in `take`.",
                          derivative: "base: g; idx: none; updates: take(g, idx).", traits: [.integers], dtypes: "T, i64, T → T (numeric)")
        case .scatter_add_along_axis:
            return OpInfo(family: .shape, arity: .fixed(3), attributes: [attr(.axis, .int, required: true)],
                          doc: "The transpose of `take_along_axis`: out = base, then out[a…, idx[a…, j, b…], b…] += updates[a…, j, b…] in row-major order of `updates`, which has idx's shape. Indices as in `take`.",
                          derivative: "base: g; idx: none; updates: take_along_axis(g, idx).", traits: [.integers], dtypes: "T, i64, T → T (numeric)")
        case .iota:
            return OpInfo(family: .shape, arity: .fixed(0), attributes: [attr(.shape, .ints, required: true), attr(.axis, .int), attr(.dtype, .dtype)],
                          doc: "The index along `axis` (default 0) of every element of a tensor of `shape`: out[i₀, i₁, …] = i_axis, in `dtype` (default i64; f32 and f64 too).",
                          derivative: "None (no operands).", dtypes: "→ i64 f32 f64")
        case .cast:
            return OpInfo(family: .shape, arity: .fixed(1), attributes: [attr(.dtype, .dtype, required: true)],
                          doc: "Converts the element type (float → i64 truncates toward zero; → bool is x != 0).",
                          derivative: "g cast back between float types; none to or from i64/bool.")
        case .softmax:
            return OpInfo(family: .nn, arity: .fixed(1), attributes: [attr(.axis, .int)],
                          doc: "e^(x−max) / Σ e^(x−max) along `axis` (default −1).", derivative: "out·(g − Σ g·out).")
        case .log_softmax:
            return OpInfo(family: .nn, arity: .fixed(1), attributes: [attr(.axis, .int)],
                          doc: "x − logsumexp(x) along `axis` (default −1).", derivative: "g − softmax(x)·Σ g.")
        case .softmax_cross_entropy:
            return OpInfo(family: .nn, arity: .fixed(2), attributes: [attr(.axis, .int)],
                          doc: "−Σ labels·log_softmax(logits) along `axis` (default −1), which is removed from the shape.",
                          derivative: "logits: g·(softmax(logits)·Σlabels − labels); labels: −g·log_softmax(logits).")
        case .conv2d:
            return OpInfo(family: .nn, arity: .fixed(2), attributes: convAttrs,
                          doc: "2-D convolution (cross-correlation, as in PyTorch): x[N,C,H,W] (NCHW) and kernel w[O,C,KH,KW] (OIHW) give out[n,o,p,q] = Σ_{c,i,j} w[o,c,i,j]·xp[n,c,p·sh + i·dh, q·sw + j·dw], where xp is x with `padding` [ph,pw] zeros on each side (the zeros are multiplied in: an inf weight over padding gives NaN); OH = ⌊(H + 2ph − dh·(KH−1) − 1)/sh⌋ + 1, likewise OW. `stride` (default [1,1]), `padding` (default [0,0]), `dilation` (default [1,1]). The sum runs over (c, i, j) in row-major order from +0.",
                          derivative: "x: conv2d_input_grad(g, w) (the transposed convolution); w: conv2d_kernel_grad(x, g).")
        case .conv2d_input_grad:
            return OpInfo(family: .nn, arity: .fixed(2), attributes: convAttrs + [attr(.shape, .ints, required: true)],
                          doc: "The transpose of `conv2d` in its input: g[N,O,OH,OW] and w[O,C,KH,KW] give dx[N,C,H,W] with `shape` = [H,W], dx[n,c,h,w] = Σ g[n,o,p,q]·w[o,c,i,j] over all (o,p,q,i,j) with p·sh − ph + i·dh = h and q·sw − pw + j·dw = w (a transposed convolution). The attributes are the forward convolution's.",
                          derivative: "g: conv2d(h, w); w: conv2d_kernel_grad(h, g) (bilinear).")
        case .conv2d_kernel_grad:
            return OpInfo(family: .nn, arity: .fixed(2), attributes: convAttrs + [attr(.shape, .ints, required: true)],
                          doc: "The transpose of `conv2d` in its kernel: x[N,C,H,W] and g[N,O,OH,OW] give dw[O,C,KH,KW] with `shape` = [KH,KW], dw[o,c,i,j] = Σ_{n,p,q} g[n,o,p,q]·xp[n,c,p·sh + i·dh, q·sw + j·dw] (xp zero-padded as in `conv2d`). The attributes are the forward convolution's.",
                          derivative: "x: conv2d_input_grad(g, h); g: conv2d(x, h) (bilinear).")
        case .grad:
            return OpInfo(family: .derivative, arity: .fixed(2), attributes: [],
                          doc: "grad(y, x): dy/dx for a scalar y, shaped like x.", derivative: "Expanded before differentiation, so it nests.")
        case .jacobian:
            return OpInfo(family: .derivative, arity: .fixed(2), attributes: [attr(.forward, .bool), attr(.sparse, .bool)],
                          doc: "jacobian(y, x): shape y.shape + x.shape. Built by one reverse pass per element of y (`forward=false`), one forward (tangent) pass per element of x (`forward=true`), or, without `forward`, whichever needs fewer passes (forward when x has fewer elements than y). With `sparse=true`: the structural non-zeros only, a vector in the pattern's CSR order (rows y's elements, columns x's), from one pass per colour of a column (forward) or row (reverse) colouring (docs/sparsity.md).",
                          derivative: "Expanded before differentiation, so it nests.")
        case .jvp:
            return OpInfo(family: .derivative, arity: .atLeast(3), attributes: [],
                          doc: "jvp(y, x, v): the directional derivative (∂y/∂x)·v — the Jacobian–vector product, shaped like y — by one forward (tangent) pass; v has x's type. More pairs `jvp(y, x1, v1, x2, v2, …)` give Σ (∂y/∂xᵢ)·vᵢ in the same pass (docs/forward-mode.md).",
                          derivative: "Expanded before differentiation (forward over reverse, reverse over forward and forward over forward all nest).")
        case .hvp:
            return OpInfo(family: .derivative, arity: .fixed(3), attributes: [],
                          doc: "hvp(y, x, v) = H·v, H the Hessian of the scalar y with respect to x, shaped like x: one forward pass over the gradient (forward over reverse), about the cost of two gradients.",
                          derivative: "Expanded before differentiation, so it nests.")
        case .hessian:
            return OpInfo(family: .derivative, arity: .fixed(2), attributes: [attr(.sparse, .bool)],
                          doc: "hessian(y, x) = jacobian(grad(y, x), x) for a scalar y: shape x.shape + x.shape. With `sparse=true`: the structural non-zeros only, a vector in the pattern's CSR order, from one Hessian-vector product per colour of a symmetric colouring (docs/sparsity.md).",
                          derivative: "Expanded before differentiation, so it nests.")
        case .scan:
            return OpInfo(family: .loop, arity: .atLeast(0),
                          attributes: [attr(.reverse, .bool), attr(.body, .int, required: true), attr(.carries, .int, required: true),
                                       attr(.over, .int, required: true), attr(.length, .int, required: true), attr(.indexed, .bool),
                                       attr(.gate, .int)],
                          doc: "A counted loop (docs/language.md, Loops): `length` steps of body `body` of this function. Operands: the `carries` initial carries, the `over` sequences (step t reads row t of each), then the loop-invariant operands. The body takes (the step number t as i64 when `indexed`,) the carries, row t of each sequence and the invariants, and returns the new carries then the per-step outputs. Steps run t = 0 … length−1, or backwards when `reverse`. With `gate=k`, operand k (a bool carry or bool sequence) gates each step: a step where it is false is skipped, the carries kept and its per-step outputs zero (`while` loops). The node is a token of type bool[0]; its values are `result` nodes.",
                          derivative: "A reverse `scan` over the stored carries whose body is the body's vector-Jacobian product: cotangents flow to the initial carries, to every row of the sequences and (summed over the steps) to the invariants.",
                          dtypes: "any")
        case .cholesky:
            return OpInfo(family: .linalg, arity: .fixed(1), attributes: [],
                          doc: "Cholesky factor of a symmetric positive definite matrix, on the last two axes (batched): the lower-triangular L with L·Lᵀ = S, where S = (A + Aᵀ)/2 (so a symmetric A is factored as it is); zeros above the diagonal. A matrix that is not positive definite (a pivot ≤ 0 or NaN) gives a matrix of NaN, on every backend.",
                          derivative: "Murray (2016): Ā = sym(L⁻ᵀ Φ(Lᵀ L̄) L⁻¹), Φ = lower triangle with the diagonal halved, sym(X) = (X + Xᵀ)/2; as triangular_solve, matmul and tril nodes, so it differentiates again.")
        case .triangular_solve:
            return OpInfo(family: .linalg, arity: .fixed(2), attributes: [attr(.lower, .bool), attr(.transpose, .bool)],
                          doc: "triangular_solve(L, B): X with op(L)·X = B, L[…,n,n] triangular (`lower`, default true: only its lower triangle is read, else only its upper), op(L) = Lᵀ when `transpose` (default false); B[…,n,k] with L's batch dimensions → X[…,n,k]. Substitution divides by the diagonal (IEEE: a zero pivot gives ±inf/NaN, the same on every backend).",
                          derivative: "B̄ = triangular_solve(L, X̄, lower, !transpose); L̄ = −tril(B̄·Xᵀ) (−tril(X·B̄ᵀ) when `transpose`; triu when not `lower`).")
        case .logdet:
            return OpInfo(family: .linalg, arity: .fixed(1), attributes: [],
                          doc: "ln det S of a symmetric positive definite S = (A + Aᵀ)/2 on the last two axes (batched: […,n,n] → […]), as 2·Σ ln Lᵢᵢ of its Cholesky factor; NaN when S is not positive definite; 0 for a 0×0 matrix.",
                          derivative: "g·S⁻¹ = g·L⁻ᵀL⁻¹ (with L = cholesky(A) and L⁻¹ = triangular_solve(L, I)), so it differentiates again.")
        case .solve:
            return OpInfo(family: .linalg, arity: .fixed(2), attributes: [],
                          doc: "solve(A, B): X with A·X = B by LU factorization with partial pivoting (the first largest |pivot| of each column), on the last two axes: A[…,n,n], B[…,n,k] with A's batch dimensions → X[…,n,k]. A singular A (a zero pivot) divides by zero: ±inf/NaN by IEEE arithmetic, the same on every backend.",
                          derivative: "B̄ = solve(Aᵀ, X̄); Ā = −B̄·Xᵀ (inf/NaN where A is singular).")
        case .det:
            return OpInfo(family: .linalg, arity: .fixed(1), attributes: [],
                          doc: "Determinant on the last two axes ([…,n,n] → […]): the signed product of the pivots of LU with partial pivoting (a column whose pivot is 0 is left as it is, so an exactly singular A gives ±0); 1 for a 0×0 matrix. For a positive definite matrix, logdet is more accurate than log(det).",
                          derivative: "g·det·A⁻ᵀ, with A⁻ᵀ = transpose(solve(A, I)); at a singular A the inverse is inf/NaN, and so is the gradient (the adjugate is not formed).")
        // MARK: Pooling (issue 17): NCHW windows; `stride` defaults to the window
        case .max_pool2d:
            return OpInfo(family: .nn, arity: .fixed(1), attributes: poolAttrs,
                          doc: "Max pooling: x[N,C,H,W] (NCHW) gives out[n,c,p,q] = max over the `window` [KH,KW] at rows p·sh − ph + i, columns q·sw − pw + j (0 ≤ i < KH, 0 ≤ j < KW) of x[n,c], the `padding` [ph,pw] (default [0,0], at most half the window) counting as −inf; OH = ⌊(H + 2ph − KH)/sh⌋ + 1, likewise OW; `stride` defaults to the window (windows may overlap when it is smaller). NaN if any element of the window is NaN; −inf for a window of padding only (an empty x).",
                          derivative: "x: max_pool2d_grad(x, g): each window's g goes to the elements of x equal to its maximum, shared evenly among ties (as `max`); padding takes nothing, the other elements nothing; zero second derivative.")
        case .max_pool2d_grad:
            return OpInfo(family: .nn, arity: .fixed(2), attributes: poolAttrs,
                          doc: "The transpose of max_pool2d's derivative: x[N,C,H,W] and g[N,C,OH,OW] give dx shaped like x, dx = Σ over the windows w of g[w]·[x = max of w]/(number of elements of w equal to its maximum), from +0 in row-major order of the windows (each term a strong-zero product: a window whose maximum is NaN sends NaN to all its elements, but 0 where g[w] = 0). The attributes are the forward pooling's.",
                          derivative: "x: none (piecewise constant); g: max_pool2d_tangent(x, h) (linear in g).")
        case .max_pool2d_tangent:
            return OpInfo(family: .nn, arity: .fixed(2), attributes: poolAttrs,
                          doc: "The derivative of max_pool2d along v: x[N,C,H,W] and v shaped like x give out[N,C,OH,OW], out[w] = the mean of v over the elements of window w equal to its maximum (Σ in row-major order from +0 of strong-zero products v·(1/count); NaN weights where the maximum is NaN). The attributes are the forward pooling's.",
                          derivative: "x: none (piecewise constant); v: max_pool2d_grad(x, h) (linear in v).")
        case .avg_pool2d:
            return OpInfo(family: .nn, arity: .fixed(1), attributes: poolAttrs,
                          doc: "Average pooling: x[N,C,H,W] gives out[n,c,p,q] = (Σ of x[n,c] over the window, as in max_pool2d, from +0 in row-major order) / (KH·KW): the zero `padding` is counted in the divisor (PyTorch's count_include_pad=True). Attributes and shapes as in max_pool2d.",
                          derivative: "x: avg_pool2d_grad(g) (each window's g/(KH·KW) spread over it).")
        case .avg_pool2d_grad:
            return OpInfo(family: .nn, arity: .fixed(1), attributes: poolAttrs + [attr(.shape, .ints, required: true)],
                          doc: "The transpose of avg_pool2d: g[N,C,OH,OW] gives dx[N,C,H,W] with `shape` = [H,W], dx = Σ over the windows w containing the element of g[w]/(KH·KW), added from +0 in row-major order of the windows. The attributes are the forward pooling's.",
                          derivative: "g: avg_pool2d(h) (linear).")
        case .logabsdet:
            return OpInfo(family: .linalg, arity: .fixed(1), attributes: [],
                          doc: "ln |det A| on the last two axes ([…,n,n] → […]) of a general square A: Σ ln |Uᵢᵢ| (in row order, from +0) over the pivots of LU with partial pivoting, as `det` factors; it neither over- nor underflows where det does. −inf at an exactly singular A (a zero pivot), NaN if a pivot is NaN; 0 for a 0×0 matrix. The second value of `slogdet(A)`.",
                          derivative: "g·A⁻ᵀ, with A⁻ᵀ = transpose(solve(A, I)) (inf/NaN where A is singular).")
        case .det_sign:
            return OpInfo(family: .linalg, arity: .fixed(1), attributes: [],
                          doc: "The sign of det A on the last two axes ([…,n,n] → […]): ±1 from the permutation of LU with partial pivoting and the signs of the pivots, exactly 0 at an exactly singular A (a zero pivot), NaN if a pivot is NaN; 1 for a 0×0 matrix. The first value of `slogdet(A)`; det A = det_sign(A)·exp(logabsdet(A)).",
                          derivative: "Zero (piecewise constant).")
        case .result:
            return OpInfo(family: .loop, arity: .fixed(1), attributes: [attr(.index, .int, required: true)],
                          doc: "result(loop, index=k): value k of a `scan`: the final carries first (k < carries), then each per-step output stacked on a new leading axis of length `length` (row t is step t's).",
                          derivative: "Gathered with the loop's other cotangents and handed to the loop's rule.", dtypes: "any")
        }
    }

    /// The op's traits (read from a table: no copy of `info`).
    @inlinable public var traits: OpTraits { OpTraits(rawValue: Op.traitBits[index]) }
    @usableFromInline static let traitBits: [UInt8] = infos.map(\.traits.rawValue)

    /// Whether the op accepts i64 operands (all ops accept floats).
    @inlinable public var acceptsIntegers: Bool { traits.contains(.integers) }
    /// Whether the result is a view of the operand (`reshape`, `expand_dims`, `squeeze`).
    @inlinable public var isView: Bool { traits.contains(.view) }
    /// Whether swapping the two operands gives the same bits (`add`, `mul`, `eq`, `ne`).
    @inlinable public var isCommutative: Bool { traits.contains(.commutative) }
}

private func unary(_ doc: String, _ derivative: String, _ traits: OpTraits = []) -> OpInfo {
    OpInfo(family: .unary, arity: .fixed(1), attributes: [], doc: doc, derivative: derivative, traits: traits)
}
private func binary(_ doc: String, _ derivative: String, _ traits: OpTraits = []) -> OpInfo {
    OpInfo(family: .binary, arity: .fixed(2), attributes: [], doc: doc, derivative: derivative, traits: traits)
}
private func comparison(_ doc: String, _ traits: OpTraits = []) -> OpInfo {
    OpInfo(family: .comparison, arity: .fixed(2), attributes: [], doc: doc + " Elementwise, broadcast, gives bool.", derivative: "None (bool output).",
           traits: traits)
}
