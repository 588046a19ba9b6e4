// MARK: Operators

/// Binary op with weakly typed literals on either side.
private func binary(_ op: Op, _ a: Value, _ b: Value) throws(Diagnostic) -> Value {
    try a.builder.apply(op, [a, b])
}

extension Value {
    public static func + (a: Value, b: Value) throws(Diagnostic) -> Value { try binary(.add, a, b) }
    public static func - (a: Value, b: Value) throws(Diagnostic) -> Value { try binary(.sub, a, b) }
    public static func * (a: Value, b: Value) throws(Diagnostic) -> Value { try binary(.mul, a, b) }
    public static func / (a: Value, b: Value) throws(Diagnostic) -> Value { try binary(.div, a, b) }
    public static prefix func - (a: Value) throws(Diagnostic) -> Value { try a.builder.apply(.neg, [a]) }

    public static func + (a: Value, b: Double) throws(Diagnostic) -> Value { try binary(.add, a, a.builder.literal(b, like: a)) }
    public static func - (a: Value, b: Double) throws(Diagnostic) -> Value { try binary(.sub, a, a.builder.literal(b, like: a)) }
    public static func * (a: Value, b: Double) throws(Diagnostic) -> Value { try binary(.mul, a, a.builder.literal(b, like: a)) }
    public static func / (a: Value, b: Double) throws(Diagnostic) -> Value { try binary(.div, a, a.builder.literal(b, like: a)) }
    public static func + (a: Double, b: Value) throws(Diagnostic) -> Value { try binary(.add, b.builder.literal(a, like: b), b) }
    public static func - (a: Double, b: Value) throws(Diagnostic) -> Value { try binary(.sub, b.builder.literal(a, like: b), b) }
    public static func * (a: Double, b: Value) throws(Diagnostic) -> Value { try binary(.mul, b.builder.literal(a, like: b), b) }
    public static func / (a: Double, b: Value) throws(Diagnostic) -> Value { try binary(.div, b.builder.literal(a, like: b), b) }

    /// Matrix product (the `@` of the .ir language).
    public func matmul(_ other: Value) throws(Diagnostic) -> Value { try binary(.matmul, self, other) }
    public func dot(_ other: Value) throws(Diagnostic) -> Value { try binary(.dot, self, other) }
    /// `self^exponent`; like `x^2` in the .ir language, an exponent of 2 gives `square`.
    public func pow(_ exponent: Double) throws(Diagnostic) -> Value {
        if exponent == 2 { return try builder.apply(.square, [self]) }
        return try binary(.pow, self, builder.literal(exponent, like: self))
    }
    public func pow(_ exponent: Value) throws(Diagnostic) -> Value { try binary(.pow, self, exponent) }

    public func reshaped(_ shape: [Int]) throws(Diagnostic) -> Value {
        try builder.apply(.reshape, [self], Attributes([.shape: .ints(shape)]))
    }
    public func transposed(_ perm: [Int]? = nil) throws(Diagnostic) -> Value {
        var attrs = Attributes()
        attrs[.perm] = .ints(perm ?? Array((0..<type.rank).reversed()))
        return try builder.apply(.transpose, [self], attrs)
    }
    /// Python-style slice of one axis.
    public func sliced(axis: Int = 0, _ start: Int?, _ stop: Int?, step: Int = 1) throws(Diagnostic) -> Value {
        Value(builder, try builder.builder.slice(id, axis: axis, start: start, stop: stop, step: step))
    }
    public func cast(_ dtype: DType) throws(Diagnostic) -> Value {
        try builder.apply(.cast, [self], Attributes([.dtype: .dtype(dtype)]))
    }
}

// MARK: Elementwise functions

/// Applies a unary op.
public func apply(_ op: Op, _ x: Value) throws(Diagnostic) -> Value { try x.builder.apply(op, [x]) }

public func exp(_ x: Value) throws(Diagnostic) -> Value { try apply(.exp, x) }
public func log(_ x: Value) throws(Diagnostic) -> Value { try apply(.log, x) }
public func sqrt(_ x: Value) throws(Diagnostic) -> Value { try apply(.sqrt, x) }
public func sin(_ x: Value) throws(Diagnostic) -> Value { try apply(.sin, x) }
public func cos(_ x: Value) throws(Diagnostic) -> Value { try apply(.cos, x) }
public func tanh(_ x: Value) throws(Diagnostic) -> Value { try apply(.tanh, x) }
public func sigmoid(_ x: Value) throws(Diagnostic) -> Value { try apply(.sigmoid, x) }
public func relu(_ x: Value) throws(Diagnostic) -> Value { try apply(.relu, x) }
public func abs(_ x: Value) throws(Diagnostic) -> Value { try apply(.abs, x) }
public func square(_ x: Value) throws(Diagnostic) -> Value { try apply(.square, x) }
public func maximum(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try a.builder.apply(.maximum, [a, b]) }
public func minimum(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try a.builder.apply(.minimum, [a, b]) }
public func select(_ c: Value, _ a: Value, _ b: Value) throws(Diagnostic) -> Value { try a.builder.apply(.select, [c, a, b]) }

// MARK: Reductions and neural-network helpers

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
public func logsumexp(_ x: Value, axes: [Int]? = nil, keepdims: Bool = false) throws(Diagnostic) -> Value { try reduction(.logsumexp, x, axes, keepdims) }

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
/// NumPy's `floor_divide` and `mod` (on i64 and floats).
public func floordiv(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try a.builder.apply(.floordiv, [a, b]) }
public func mod(_ a: Value, _ b: Value) throws(Diagnostic) -> Value { try a.builder.apply(.mod, [a, b]) }

extension FunctionBuilder {
    /// `iota(shape=…, axis=…, dtype=…)`: every element's index along `axis`.
    public func iota(shape: [Int], axis: Int = 0, dtype: DType = .i64) throws(Diagnostic) -> Value {
        try apply(.iota, [], Attributes([.shape: .ints(shape), .axis: .int(axis), .dtype: .dtype(dtype)]))
    }
}
