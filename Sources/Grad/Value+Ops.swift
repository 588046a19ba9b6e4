// The library spelling of every op of the op table (docs/library.md lists them; a test walks
// `Op.allCases` against this file). Each op is a free function named after it (camelCased:
// `log_softmax` → `logSoftmax`); operators and methods are the usual Swift spellings of some
// of them. Shapes broadcast as in the `.ir` language, and a `Double` operand is a weakly
// typed literal that takes the other operand's dtype.

// MARK: Operators

/// Binary op with weakly typed literals on either side.
private func binary(_ op: Op, _ a: Value, _ b: Value) throws(Diagnostic) -> Value {
    try a.builder.apply(op, [a, b])
}
private func binary(_ op: Op, _ a: Value, _ b: Double) throws(Diagnostic) -> Value {
    try binary(op, a, a.builder.literal(b, like: a))
}
private func binary(_ op: Op, _ a: Double, _ b: Value) throws(Diagnostic) -> Value {
    try binary(op, b.builder.literal(a, like: b), b)
}

extension Value {
    public static func + (a: Value, b: Value) throws(Diagnostic) -> Value { try binary(.add, a, b) }
    public static func - (a: Value, b: Value) throws(Diagnostic) -> Value { try binary(.sub, a, b) }
    public static func * (a: Value, b: Value) throws(Diagnostic) -> Value { try binary(.mul, a, b) }
    public static func / (a: Value, b: Value) throws(Diagnostic) -> Value { try binary(.div, a, b) }
    public static prefix func - (a: Value) throws(Diagnostic) -> Value { try a.builder.apply(.neg, [a]) }

    public static func + (a: Value, b: Double) throws(Diagnostic) -> Value { try binary(.add, a, b) }
    public static func - (a: Value, b: Double) throws(Diagnostic) -> Value { try binary(.sub, a, b) }
    public static func * (a: Value, b: Double) throws(Diagnostic) -> Value { try binary(.mul, a, b) }
    public static func / (a: Value, b: Double) throws(Diagnostic) -> Value { try binary(.div, a, b) }
    public static func + (a: Double, b: Value) throws(Diagnostic) -> Value { try binary(.add, a, b) }
    public static func - (a: Double, b: Value) throws(Diagnostic) -> Value { try binary(.sub, a, b) }
    public static func * (a: Double, b: Value) throws(Diagnostic) -> Value { try binary(.mul, a, b) }
    public static func / (a: Double, b: Value) throws(Diagnostic) -> Value { try binary(.div, a, b) }

    // Elementwise comparisons (→ bool), spelled as Swift's SIMD comparisons: `x .> 0`.
    public static func .== (a: Value, b: Value) throws(Diagnostic) -> Value { try binary(.eq, a, b) }
    public static func .!= (a: Value, b: Value) throws(Diagnostic) -> Value { try binary(.ne, a, b) }
    public static func .< (a: Value, b: Value) throws(Diagnostic) -> Value { try binary(.lt, a, b) }
    public static func .<= (a: Value, b: Value) throws(Diagnostic) -> Value { try binary(.le, a, b) }
    public static func .> (a: Value, b: Value) throws(Diagnostic) -> Value { try binary(.gt, a, b) }
    public static func .>= (a: Value, b: Value) throws(Diagnostic) -> Value { try binary(.ge, a, b) }
    public static func .== (a: Value, b: Double) throws(Diagnostic) -> Value { try binary(.eq, a, b) }
    public static func .!= (a: Value, b: Double) throws(Diagnostic) -> Value { try binary(.ne, a, b) }
    public static func .< (a: Value, b: Double) throws(Diagnostic) -> Value { try binary(.lt, a, b) }
    public static func .<= (a: Value, b: Double) throws(Diagnostic) -> Value { try binary(.le, a, b) }
    public static func .> (a: Value, b: Double) throws(Diagnostic) -> Value { try binary(.gt, a, b) }
    public static func .>= (a: Value, b: Double) throws(Diagnostic) -> Value { try binary(.ge, a, b) }

    /// Matrix product with the `@` of the `.ir` language: a 1-D operand is a row on the left,
    /// a column on the right (NumPy's rules; `GraphBuilder.matmul`).
    public func matmul(_ other: Value) throws(Diagnostic) -> Value { try Grad.matmul(self, other) }
    public func dot(_ other: Value) throws(Diagnostic) -> Value { try binary(.dot, self, other) }
    /// `self^exponent`; like `x^2` in the .ir language, an exponent of 2 gives `square`.
    public func pow(_ exponent: Double) throws(Diagnostic) -> Value { try Grad.pow(self, exponent) }
    public func pow(_ exponent: Value) throws(Diagnostic) -> Value { try binary(.pow, self, exponent) }

    /// The same elements in a new shape; one dimension may be `-1` (inferred, as in the language).
    public func reshaped(_ shape: [Int]) throws(Diagnostic) -> Value { try reshape(self, shape) }
    /// Axes permuted by `perm` (default: reversed, NumPy's `x.T`).
    public func transposed(_ perm: [Int]? = nil) throws(Diagnostic) -> Value { try transpose(self, perm: perm) }
    /// Python-style slice of one axis (`start`/`stop` may be negative or `nil`).
    public func sliced(axis: Int = 0, _ start: Int?, _ stop: Int?, step: Int = 1) throws(Diagnostic) -> Value {
        Value(builder, try builder.builder.slice(id, axis: axis, start: start, stop: stop, step: step))
    }
    public func broadcast(to shape: [Int]) throws(Diagnostic) -> Value { try Grad.broadcast(self, to: shape) }
    public func cast(_ dtype: DType) throws(Diagnostic) -> Value { try Grad.cast(self, dtype) }
}

// MARK: Elementwise functions

/// Applies a unary op.
public func apply(_ op: Op, _ x: Value) throws(Diagnostic) -> Value { try x.builder.apply(op, [x]) }

public func neg(_ x: Value) throws(Diagnostic) -> Value { try apply(.neg, x) }
public func abs(_ x: Value) throws(Diagnostic) -> Value { try apply(.abs, x) }
public func sign(_ x: Value) throws(Diagnostic) -> Value { try apply(.sign, x) }
public func exp(_ x: Value) throws(Diagnostic) -> Value { try apply(.exp, x) }
public func log(_ x: Value) throws(Diagnostic) -> Value { try apply(.log, x) }
public func log1p(_ x: Value) throws(Diagnostic) -> Value { try apply(.log1p, x) }
public func expm1(_ x: Value) throws(Diagnostic) -> Value { try apply(.expm1, x) }
public func sqrt(_ x: Value) throws(Diagnostic) -> Value { try apply(.sqrt, x) }
public func rsqrt(_ x: Value) throws(Diagnostic) -> Value { try apply(.rsqrt, x) }
public func square(_ x: Value) throws(Diagnostic) -> Value { try apply(.square, x) }
public func reciprocal(_ x: Value) throws(Diagnostic) -> Value { try apply(.reciprocal, x) }
public func sin(_ x: Value) throws(Diagnostic) -> Value { try apply(.sin, x) }
public func cos(_ x: Value) throws(Diagnostic) -> Value { try apply(.cos, x) }
public func tan(_ x: Value) throws(Diagnostic) -> Value { try apply(.tan, x) }
public func tanh(_ x: Value) throws(Diagnostic) -> Value { try apply(.tanh, x) }
public func sigmoid(_ x: Value) throws(Diagnostic) -> Value { try apply(.sigmoid, x) }
public func relu(_ x: Value) throws(Diagnostic) -> Value { try apply(.relu, x) }
public func softplus(_ x: Value) throws(Diagnostic) -> Value { try apply(.softplus, x) }
public func erf(_ x: Value) throws(Diagnostic) -> Value { try apply(.erf, x) }
// Special functions (issue 17)
public func lgamma(_ x: Value) throws(Diagnostic) -> Value { try apply(.lgamma, x) }
public func digamma(_ x: Value) throws(Diagnostic) -> Value { try apply(.digamma, x) }
public func erfc(_ x: Value) throws(Diagnostic) -> Value { try apply(.erfc, x) }
public func logSigmoid(_ x: Value) throws(Diagnostic) -> Value { try apply(.log_sigmoid, x) }
/// ψ⁽ⁿ⁾(x) for n = 0…16 (NaN for other n); `n` as a tensor of x's dtype, or a literal order.
public func polygamma(_ n: Value, _ x: Value) throws(Diagnostic) -> Value { try binary(.polygamma, n, x) }
public func polygamma(_ n: Int, _ x: Value) throws(Diagnostic) -> Value { try binary(.polygamma, Double(n), x) }
/// ln(eᵃ + eᵇ), stable.
public func logaddexp(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try binary(.logaddexp, a, b) }
/// x·ln y, 0 where x = 0 (y not NaN).
public func xlogy(_ x: Value, _ y: Value) throws(Diagnostic) -> Value { try binary(.xlogy, x, y) }
public func floor(_ x: Value) throws(Diagnostic) -> Value { try apply(.floor, x) }
public func ceil(_ x: Value) throws(Diagnostic) -> Value { try apply(.ceil, x) }

public func add(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try binary(.add, a, b) }
public func sub(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try binary(.sub, a, b) }
public func mul(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try binary(.mul, a, b) }
public func div(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try binary(.div, a, b) }
public func pow(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try binary(.pow, a, b) }
/// `a^b` with a literal exponent; 2 gives `square`, as `x^2` does in the `.ir` language.
public func pow(_ a: Value, _ b: Double) throws(Diagnostic) -> Value {
    if b == 2 { return try square(a) }
    return try binary(.pow, a, b)
}
public func maximum(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try binary(.maximum, a, b) }
public func maximum(_ a: Value, _ b: Double) throws(Diagnostic) -> Value { try binary(.maximum, a, b) }
public func minimum(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try binary(.minimum, a, b) }
public func minimum(_ a: Value, _ b: Double) throws(Diagnostic) -> Value { try binary(.minimum, a, b) }
public func atan2(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try binary(.atan2, a, b) }
/// Strong-zero product: `a·b`, except that a zero `a` gives `a` where `b` is inf or NaN.
public func zmul(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try binary(.zmul, a, b) }
/// Strong-zero quotient: `a/b`, except that a zero `a` gives `a` where `b` is 0 or NaN.
public func zdiv(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try binary(.zdiv, a, b) }
/// NumPy's `floor_divide` and `mod` (on i64 and floats; the remainder has the sign of `b`).
public func floordiv(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try binary(.floordiv, a, b) }
public func floordiv(_ a: Value, _ b: Double) throws(Diagnostic) -> Value { try binary(.floordiv, a, b) }
public func mod(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try binary(.mod, a, b) }
public func mod(_ a: Value, _ b: Double) throws(Diagnostic) -> Value { try binary(.mod, a, b) }

public func eq(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try binary(.eq, a, b) }
public func ne(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try binary(.ne, a, b) }
public func lt(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try binary(.lt, a, b) }
public func le(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try binary(.le, a, b) }
public func gt(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try binary(.gt, a, b) }
public func ge(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try binary(.ge, a, b) }

/// `a` where `c` is true, else `b` (broadcast); a `Double` branch takes the other's dtype.
public func select(_ c: Value, _ a: Value, _ b: Value) throws(Diagnostic) -> Value { try a.builder.apply(.select, [c, a, b]) }
public func select(_ c: Value, _ a: Value, _ b: Double) throws(Diagnostic) -> Value { try select(c, a, a.builder.literal(b, like: a)) }
public func select(_ c: Value, _ a: Double, _ b: Value) throws(Diagnostic) -> Value { try select(c, b.builder.literal(a, like: b), b) }

// MARK: Reductions

private func reduction(_ op: Op, _ x: Value, _ axes: [Int]?, _ keepdims: Bool) throws(Diagnostic) -> Value {
    var attrs = Attributes()
    if let axes { attrs[.axes] = .ints(axes.map { normalizeAxis($0, rank: x.type.rank) ?? $0 }) }
    if keepdims { attrs[.keepdims] = .bool(true) }
    return try x.builder.apply(op, [x], attrs)
}

public func sum(_ x: Value, axes: [Int]? = nil, keepdims: Bool = false) throws(Diagnostic) -> Value { try reduction(.sum, x, axes, keepdims) }
public func mean(_ x: Value, axes: [Int]? = nil, keepdims: Bool = false) throws(Diagnostic) -> Value { try reduction(.mean, x, axes, keepdims) }
public func max(_ x: Value, axes: [Int]? = nil, keepdims: Bool = false) throws(Diagnostic) -> Value { try reduction(.max, x, axes, keepdims) }
public func min(_ x: Value, axes: [Int]? = nil, keepdims: Bool = false) throws(Diagnostic) -> Value { try reduction(.min, x, axes, keepdims) }
public func prod(_ x: Value, axes: [Int]? = nil, keepdims: Bool = false) throws(Diagnostic) -> Value { try reduction(.prod, x, axes, keepdims) }
public func logsumexp(_ x: Value, axes: [Int]? = nil, keepdims: Bool = false) throws(Diagnostic) -> Value { try reduction(.logsumexp, x, axes, keepdims) }

// MARK: Linear algebra

/// `a @ b` (see `Value.matmul`).
public func matmul(_ a: Value, _ b: Value) throws(Diagnostic) -> Value {
    try a.builder.check(b)
    try a.builder.check(a)
    return Value(a.builder, try a.builder.builder.matmul(a.id, b.id))
}
public func dot(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try binary(.dot, a, b) }
/// Axes permuted: `out.shape[i] = x.shape[perm[i]]` (default: reversed).
public func transpose(_ x: Value, perm: [Int]? = nil) throws(Diagnostic) -> Value {
    try x.builder.apply(.transpose, [x], Attributes([.perm: .ints(perm ?? Array((0..<x.type.rank).reversed()))]))
}

// MARK: Shape and data movement

/// The same elements in row-major order, in `shape`; one dimension may be `-1`.
public func reshape(_ x: Value, _ shape: [Int]) throws(Diagnostic) -> Value {
    let target = shape.contains(-1) ? resolvedReshapeShape(shape, count: x.type.count) ?? shape : shape
    return try x.builder.apply(.reshape, [x], Attributes([.shape: .ints(target)]))
}
public func broadcast(_ x: Value, to shape: [Int]) throws(Diagnostic) -> Value {
    try x.builder.apply(.broadcast_to, [x], Attributes([.shape: .ints(shape)]))
}
/// `x[start:stop:step]` on every axis, in the op's normalized form (0 ≤ start ≤ stop ≤ dim,
/// step ≥ 1); `Value.sliced` takes Python bounds for one axis.
public func slice(_ x: Value, start: [Int], stop: [Int], step: [Int]? = nil) throws(Diagnostic) -> Value {
    let steps = step ?? [Int](repeating: 1, count: start.count)
    return try x.builder.apply(.slice, [x], Attributes([.start: .ints(start), .stop: .ints(stop), .step: .ints(steps)]))
}
/// Zero padding: element `i` of an axis goes to `low + i·step`, and `high` zeros follow the last.
public func pad(_ x: Value, low: [Int], high: [Int], step: [Int]? = nil) throws(Diagnostic) -> Value {
    let steps = step ?? [Int](repeating: 1, count: low.count)
    return try x.builder.apply(.pad, [x], Attributes([.low: .ints(low), .high: .ints(high), .step: .ints(steps)]))
}
/// Joins `values` (at least one) along `axis`.
public func concat(_ values: [Value], axis: Int) throws(Diagnostic) -> Value {
    guard let first = values.first else { throw Diagnostic(.wrongArity(op: "concat", expected: Op.concat.info.arity.description, got: 0)) }
    let rank = first.type.rank
    return try first.builder.apply(.concat, values, Attributes([.axis: .int(normalizeAxis(axis, rank: rank) ?? axis)]))
}
/// Inserts an axis of length 1 at `axis` (of the result: −1 appends one).
public func expandDims(_ x: Value, axis: Int) throws(Diagnostic) -> Value {
    try x.builder.apply(.expand_dims, [x], Attributes([.axis: .int(normalizeAxis(axis, rank: x.type.rank + 1) ?? axis)]))
}
/// Removes the axes of length 1 in `axes` (all of them by default).
public func squeeze(_ x: Value, axes: [Int]? = nil) throws(Diagnostic) -> Value {
    var attrs = Attributes()
    if let axes { attrs[.axes] = .ints(axes.map { normalizeAxis($0, rank: x.type.rank) ?? $0 }) }
    return try x.builder.apply(.squeeze, [x], attrs)
}
/// Running sum along `axis` (from the end when `reverse`).
public func cumsum(_ x: Value, axis: Int, reverse: Bool = false) throws(Diagnostic) -> Value {
    var attrs = Attributes([.axis: .int(normalizeAxis(axis, rank: x.type.rank) ?? axis)])
    if reverse { attrs[.reverse] = .bool(true) }
    return try x.builder.apply(.cumsum, [x], attrs)
}
/// i64 labels → one-hot vectors of length `depth` on a new last axis (`dtype`, default f64).
public func oneHot(_ labels: Value, depth: Int, dtype: DType? = nil) throws(Diagnostic) -> Value {
    var attrs = Attributes([.depth: .int(depth)])
    if let dtype { attrs[.dtype] = .dtype(dtype) }
    return try labels.builder.apply(.one_hot, [labels], attrs)
}
public func cast(_ x: Value, _ dtype: DType) throws(Diagnostic) -> Value {
    try x.builder.apply(.cast, [x], Attributes([.dtype: .dtype(dtype)]))
}

// MARK: Neural-network helpers

private func axisAttrs(_ axis: Int?, _ x: Value) -> Attributes {
    guard let axis else { return Attributes() }
    return Attributes([.axis: .int(normalizeAxis(axis, rank: x.type.rank) ?? axis)])
}

/// Softmax along `axis` (default: the last).
public func softmax(_ x: Value, axis: Int? = nil) throws(Diagnostic) -> Value {
    try x.builder.apply(.softmax, [x], axisAttrs(axis, x))
}
public func logSoftmax(_ x: Value, axis: Int? = nil) throws(Diagnostic) -> Value {
    try x.builder.apply(.log_softmax, [x], axisAttrs(axis, x))
}
/// Per-example softmax cross-entropy of `logits` against `labels` (one-hot or probabilities).
public func softmaxCrossEntropy(_ logits: Value, _ labels: Value, axis: Int? = nil) throws(Diagnostic) -> Value {
    try logits.builder.apply(.softmax_cross_entropy, [logits, labels], axisAttrs(axis, logits))
}

// MARK: Convolution (NCHW data, OIHW kernels)

private func convAttrs(stride: [Int], padding: [Int], dilation: [Int], shape: [Int]? = nil) -> Attributes {
    var a = Attributes([.stride: .ints(stride), .padding: .ints(padding), .dilation: .ints(dilation)])
    if let shape { a[.shape] = .ints(shape) }
    return a
}

/// `conv2d(x, w, stride=, padding=, dilation=)`: x[N,C,H,W] correlated with w[O,C,KH,KW]
/// (PyTorch's `conv2d`); `padding` zeros on each side of both spatial axes.
public func conv2d(_ x: Value, _ w: Value, stride: [Int] = [1, 1], padding: [Int] = [0, 0], dilation: [Int] = [1, 1]) throws(Diagnostic) -> Value {
    try x.builder.apply(.conv2d, [x, w], convAttrs(stride: stride, padding: padding, dilation: dilation))
}
/// `conv1d`: x[N,C,W] correlated with w[O,C,K] — a `conv2d` with a unit height (reshapes
/// around it, which cost nothing); `.ir` spells it `conv1d(x, w, stride=, padding=, dilation=)`.
public func conv1d(_ x: Value, _ w: Value, stride: Int = 1, padding: Int = 0, dilation: Int = 1) throws(Diagnostic) -> Value {
    try x.builder.check(w)
    return try x.builder.composed(x) { (b, id) throws(Diagnostic) in try b.conv1d(id, w.id, stride: stride, padding: padding, dilation: dilation) }
}
/// The transposed convolution: the gradient of `conv2d` with respect to its input, for an
/// input of spatial size `inputSize` = [H, W] (g[N,O,OH,OW], w[O,C,KH,KW] → [N,C,H,W]).
public func conv2dInputGrad(_ g: Value, _ w: Value, inputSize: [Int], stride: [Int] = [1, 1], padding: [Int] = [0, 0],
                            dilation: [Int] = [1, 1]) throws(Diagnostic) -> Value {
    try g.builder.apply(.conv2d_input_grad, [g, w], convAttrs(stride: stride, padding: padding, dilation: dilation, shape: inputSize))
}
/// The gradient of `conv2d` with respect to its kernel, of spatial size `kernelSize` = [KH, KW]
/// (x[N,C,H,W], g[N,O,OH,OW] → [O,C,KH,KW]).
public func conv2dKernelGrad(_ x: Value, _ g: Value, kernelSize: [Int], stride: [Int] = [1, 1], padding: [Int] = [0, 0],
                             dilation: [Int] = [1, 1]) throws(Diagnostic) -> Value {
    try x.builder.apply(.conv2d_kernel_grad, [x, g], convAttrs(stride: stride, padding: padding, dilation: dilation, shape: kernelSize))
}

private func poolAttrs(_ window: [Int], _ stride: [Int]?, _ padding: [Int], shape: [Int]? = nil) -> Attributes {
    var a = Attributes([.window: .ints(window), .stride: .ints(stride ?? window), .padding: .ints(padding)])
    if let shape { a[.shape] = .ints(shape) }
    return a
}

/// `max_pool2d(x, window=, stride=, padding=)`: the maximum of each kh×kw window of
/// x[N,C,H,W] (NCHW), windows `stride` apart (default: the window; smaller strides overlap),
/// with `padding` rows and columns of −inf on each side (at most half the window); windows
/// that do not fit are dropped, as PyTorch's `max_pool2d`. **Ties in a window share the
/// cotangent evenly** (as `max`), not the first maximum.
public func maxPool2d(_ x: Value, window: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0]) throws(Diagnostic) -> Value {
    try x.builder.apply(.max_pool2d, [x], poolAttrs(window, stride, padding))
}
/// `avg_pool2d(x, window=, stride=, padding=)`: the mean of each window, the zero padding
/// counted in the divisor kh·kw (PyTorch's `count_include_pad=True`); the gradient spreads
/// g/(kh·kw) over the window.
public func avgPool2d(_ x: Value, window: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0]) throws(Diagnostic) -> Value {
    try x.builder.apply(.avg_pool2d, [x], poolAttrs(window, stride, padding))
}
/// The gradient of `maxPool2d` (x[N,C,H,W], g[N,C,OH,OW] → [N,C,H,W]): each window's g
/// shared among its maxima.
public func maxPool2dGrad(_ x: Value, _ g: Value, window: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0]) throws(Diagnostic) -> Value {
    try x.builder.apply(.max_pool2d_grad, [x, g], poolAttrs(window, stride, padding))
}
/// The derivative of `maxPool2d` along v (x, v[N,C,H,W] → [N,C,OH,OW]): the mean of v over
/// each window's maxima.
public func maxPool2dTangent(_ x: Value, _ v: Value, window: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0]) throws(Diagnostic) -> Value {
    try x.builder.apply(.max_pool2d_tangent, [x, v], poolAttrs(window, stride, padding))
}
/// The gradient of `avgPool2d` for an input of spatial size `inputSize` = [H, W]
/// (g[N,C,OH,OW] → [N,C,H,W]).
public func avgPool2dGrad(_ g: Value, inputSize: [Int], window: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0]) throws(Diagnostic) -> Value {
    try g.builder.apply(.avg_pool2d_grad, [g], poolAttrs(window, stride, padding, shape: inputSize))
}

// MARK: Indexing with i64 tensors (NumPy semantics; negative indices wrap around)

public func argmax(_ x: Value, axes: [Int]? = nil, keepdims: Bool = false) throws(Diagnostic) -> Value { try reduction(.argmax, x, axes, keepdims) }
public func argmin(_ x: Value, axes: [Int]? = nil, keepdims: Bool = false) throws(Diagnostic) -> Value { try reduction(.argmin, x, axes, keepdims) }

/// `take(x, idx, axis=…)`: slices of `x` at the i64 indices `idx` along `axis`.
public func take(_ x: Value, _ indices: Value, axis: Int) throws(Diagnostic) -> Value {
    try x.builder.apply(.take, [x, indices], axisAttrs(axis, x))
}
public func takeAlongAxis(_ x: Value, _ indices: Value, axis: Int) throws(Diagnostic) -> Value {
    try x.builder.apply(.take_along_axis, [x, indices], axisAttrs(axis, x))
}
/// `base` with `updates` added at `indices` along `axis` (repeated indices accumulate).
public func scatterAdd(_ base: Value, _ indices: Value, _ updates: Value, axis: Int) throws(Diagnostic) -> Value {
    try base.builder.apply(.scatter_add, [base, indices, updates], axisAttrs(axis, base))
}
public func scatterAddAlongAxis(_ base: Value, _ indices: Value, _ updates: Value, axis: Int) throws(Diagnostic) -> Value {
    try base.builder.apply(.scatter_add_along_axis, [base, indices, updates], axisAttrs(axis, base))
}

extension FunctionBuilder {
    /// `iota(shape=…, axis=…, dtype=…)`: every element's index along `axis`.
    public func iota(shape: [Int], axis: Int = 0, dtype: DType = .i64) throws(Diagnostic) -> Value {
        try apply(.iota, [], Attributes([.shape: .ints(shape), .axis: .int(axis), .dtype: .dtype(dtype)]))
    }
}

// MARK: Matrix helpers (compositions of other ops: GradIR/GraphBuilder+Matrix.swift)

extension FunctionBuilder {
    /// The n×n identity (`eye(n, dtype=…)`).
    public func eye(_ n: Int, dtype: DType = .f64) throws(Diagnostic) -> Value {
        Value(self, try builder.eye(n, dtype: dtype))
    }

    func composed(_ x: Value, _ build: (inout GraphBuilder, ValueID) throws(Diagnostic) -> ValueID) throws(Diagnostic) -> Value {
        try check(x)
        return Value(self, try build(&builder, x.id))
    }
}

/// The diagonal of the last two axes: `[…, m, n]` → `[…, min(m, n)]`.
public func diagonal(_ x: Value) throws(Diagnostic) -> Value { try x.builder.composed(x) { (b, id) throws(Diagnostic) in try b.diagonal(id) } }
/// The square matrix with `v` (`[…, n]`) on its diagonal: `[…, n, n]`.
public func diag(_ v: Value) throws(Diagnostic) -> Value { try v.builder.composed(v) { (b, id) throws(Diagnostic) in try b.diag(id) } }
/// The sum of the diagonal of the last two axes.
public func trace(_ x: Value) throws(Diagnostic) -> Value { try x.builder.composed(x) { (b, id) throws(Diagnostic) in try b.trace(id) } }
/// The lower triangle (column − row ≤ k) of the last two axes, zeros elsewhere.
public func tril(_ x: Value, k: Int = 0) throws(Diagnostic) -> Value { try x.builder.composed(x) { (b, id) throws(Diagnostic) in try b.triangle(id, k: k, lower: true) } }
/// The upper triangle (column − row ≥ k) of the last two axes, zeros elsewhere.
public func triu(_ x: Value, k: Int = 0) throws(Diagnostic) -> Value { try x.builder.composed(x) { (b, id) throws(Diagnostic) in try b.triangle(id, k: k, lower: false) } }

// MARK: Factorizations and solves (issue 17)

/// The lower Cholesky factor of (x + xᵀ)/2 on the last two axes (all NaN if not positive definite).
public func cholesky(_ x: Value) throws(Diagnostic) -> Value { try apply(.cholesky, x) }
/// X with op(l)·X = b, l triangular (`lower`), op(l) = lᵀ when `transpose`.
public func triangularSolve(_ l: Value, _ b: Value, lower: Bool = true, transpose: Bool = false) throws(Diagnostic) -> Value {
    try l.builder.apply(.triangular_solve, [l, b], Attributes([.lower: .bool(lower), .transpose: .bool(transpose)]))
}
/// X with a·X = b (LU with partial pivoting; inf/NaN where a is singular).
public func solve(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try a.builder.apply(.solve, [a, b]) }
/// The determinant on the last two axes.
public func det(_ x: Value) throws(Diagnostic) -> Value { try apply(.det, x) }
/// ln |det x| on the last two axes of a general square matrix, from LU (−inf where x is singular).
public func logabsdet(_ x: Value) throws(Diagnostic) -> Value { try apply(.logabsdet, x) }
/// The sign of det x: ±1, 0 where x is singular (zero gradient).
public func detSign(_ x: Value) throws(Diagnostic) -> Value { try apply(.det_sign, x) }
/// `slogdet(x)`: (sign, ln |det x|), det x = sign·exp(logAbsDet), batched like `det`; a
/// singular x gives (0, −inf). The gradient of logAbsDet is x⁻ᵀ; the sign's is zero.
public func slogdet(_ x: Value) throws(Diagnostic) -> (sign: Value, logAbsDet: Value) {
    (try detSign(x), try logabsdet(x))
}
/// A⁻¹ = solve(a, I) (a composition, not an op).
public func inv(_ x: Value) throws(Diagnostic) -> Value { try x.builder.composed(x) { (b, id) throws(Diagnostic) in try b.inverse(id) } }
/// ln det of the symmetric positive definite (x + xᵀ)/2 on the last two axes (NaN if not positive definite).
public func logdet(_ x: Value) throws(Diagnostic) -> Value { try apply(.logdet, x) }
