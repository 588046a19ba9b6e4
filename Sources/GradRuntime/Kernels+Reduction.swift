// Reductions and the ops that work along one axis (softmax family, cumsum).
//
// Every reduction visits its elements in increasing input index order and accumulates in the
// element type, starting from the identity (+0 for sums, 1 for products, −inf / +inf for
// max / min). Backends must keep that order to agree bit for bit.

// MARK: - Scalar reductions over one group

/// Σ xᵢ, sequential from +0 (so the sum of no elements is +0, and of [−0] is +0).
func sequentialSum<T: KernelNumber, C: Collection>(_ xs: C) -> T where C.Element == T {
    var acc = T.kernelZero
    for x in xs { acc = T.kernelAdd(acc, x) }
    return acc
}

/// Π xᵢ, sequential from 1.
func sequentialProduct<T: KernelNumber, C: Collection>(_ xs: C) -> T where C.Element == T {
    var acc = T.kernelOne
    for x in xs { acc = T.kernelMul(acc, x) }
    return acc
}

/// max over the group with `ScalarMath.maximum` from −inf: NaN propagates, ties keep the first.
func sequentialMax<T: KernelNumber, C: Collection>(_ xs: C) -> T where C.Element == T {
    var acc = T.kernelLowest
    for x in xs { acc = T.kernelMaximum(acc, x) }
    return acc
}

/// min over the group with `ScalarMath.minimum` from +inf.
func sequentialMin<T: KernelNumber, C: Collection>(_ xs: C) -> T where C.Element == T {
    var acc = T.kernelHighest
    for x in xs { acc = T.kernelMinimum(acc, x) }
    return acc
}

/// Stable log-sum-exp of one group.
/// ```
/// m = max(x)                        (NaN if any x is NaN, −inf if the group is empty)
/// logsumexp(x) = m                  if m is NaN or ±inf
///              = m + log(Σ exp(xᵢ − m))  otherwise (Σ sequential from +0)
/// ```
func groupLogSumExp<T: RealScalar & KernelNumber, C: Collection>(_ xs: C) -> T where C.Element == T {
    let m: T = sequentialMax(xs)
    if !m.isFinite { return m }
    var s: T = 0
    for x in xs { s += T.exp(x - m) }
    return m + T.log(s)
}

// MARK: - Reduction kernel

/// The reductions, so that the kernel's inner switches are exhaustive.
enum Reduction {
    case sum, mean, max, min, prod, logsumexp
}

func reductionKernel(_ op: Op, _ kind: Reduction, _ attrs: Attributes, _ inputs: [Tensor], _ rt: TensorType) throws(Diagnostic) -> Tensor {
    let x = inputs[0]
    let layout = reductionOrder(shape: x.shape, axes: normalizedAxes(attrs.axes, rank: x.type.rank))
    func reduce<T: KernelNumber>(_ v: [T], _ f: (ArraySlice<T>) -> T) -> [T] {
        let ordered = gather(v, layout.order, zero: T.kernelZero)
        var out: [T] = []
        out.reserveCapacity(layout.groups)
        for g in 0..<layout.groups {
            out.append(f(ordered[(g * layout.n)..<((g + 1) * layout.n)]))
        }
        return out
    }
    func real<T: RealScalar & KernelNumber>(_ v: [T]) -> [T] {
        switch kind {
        case .sum: return reduce(v) { sequentialSum($0) }
        case .prod: return reduce(v) { sequentialProduct($0) }
        case .max: return reduce(v) { sequentialMax($0) }
        case .min: return reduce(v) { sequentialMin($0) }
        case .mean: return reduce(v) { sequentialSum($0) / T(layout.n) }
        case .logsumexp: return reduce(v) { groupLogSumExp($0) }
        }
    }
    switch x.storage {
    case .f32(let v): return try makeTensor(.f32(real(v)), rt.shape, op)
    case .f64(let v): return try makeTensor(.f64(real(v)), rt.shape, op)
    case .i64(let v):
        let out: [Int64]
        switch kind {
        case .sum: out = reduce(v) { sequentialSum($0) }
        case .prod: out = reduce(v) { sequentialProduct($0) }
        case .max: out = reduce(v) { sequentialMax($0) }
        case .min: out = reduce(v) { sequentialMin($0) }
        case .mean, .logsumexp: throw operandMismatch(op, inputs)
        }
        return try makeTensor(.i64(out), rt.shape, op)
    case .bool: throw operandMismatch(op, inputs)
    }
}

// MARK: - Along one axis

/// Applies `f` to every line of `v` along `axis` (the line's elements in increasing index
/// order) and writes the results back in place of the line.
func alongAxis<T, R>(_ v: [T], shape: [Int], axis: Int, zero: R, _ f: (ArraySlice<T>, inout ArraySlice<R>) -> Void) -> [R] {
    let layout = reductionOrder(shape: shape, axes: [axis])
    guard let first = v.first else { return [] }
    let ordered = gather(v, layout.order, zero: first)
    var results = [R](repeating: zero, count: ordered.count)
    for g in 0..<layout.groups {
        let range = (g * layout.n)..<((g + 1) * layout.n)
        var line = results[range]
        f(ordered[range], &line)
        results[range] = line
    }
    var out = [R](repeating: zero, count: ordered.count)
    for (i, dest) in layout.order.enumerated() { out[dest] = results[i] }
    return out
}

/// `softmax` and `log_softmax` along `axis` (default −1):
/// ```
/// m = max(x)                   (sequentialMax)
/// eᵢ = exp(xᵢ − m),  s = Σ eᵢ  (sequential from +0)
/// softmax(x)ᵢ     = eᵢ / s
/// log_softmax(x)ᵢ = (xᵢ − m) − log(s)
/// ```
/// Finite inputs never overflow (softmax([1000, 0]) = [1, 0]); a line whose maximum is ±inf
/// or NaN gives NaN.
func softmaxKernel(_ op: Op, _ attrs: Attributes, _ inputs: [Tensor], _ rt: TensorType) throws(Diagnostic) -> Tensor {
    let x = inputs[0]
    guard let axis = normalizeAxis(attrs.axis ?? -1, rank: x.type.rank) else { throw operandMismatch(op, inputs) }
    let isLog = op == .log_softmax
    func run<T: RealScalar & KernelNumber>(_ v: [T]) -> [T] {
        alongAxis(v, shape: x.shape, axis: axis, zero: T.kernelZero) { line, out in
            let m: T = sequentialMax(line)
            var s: T = 0
            for xi in line { s += T.exp(xi - m) }
            if isLog {
                let ls = T.log(s)
                for (i, xi) in zip(out.indices, line) { out[i] = (xi - m) - ls }
            } else {
                for (i, xi) in zip(out.indices, line) { out[i] = T.exp(xi - m) / s }
            }
        }
    }
    switch x.storage {
    case .f32(let v): return try makeTensor(.f32(run(v)), rt.shape, op)
    case .f64(let v): return try makeTensor(.f64(run(v)), rt.shape, op)
    case .i64, .bool: throw operandMismatch(op, inputs)
    }
}

/// `softmax_cross_entropy(logits, labels)` along `axis` (default −1), which is removed:
/// ```
/// m = max(l),  ls = log(Σ exp(lᵢ − m))           (Σ sequential from +0)
/// acc = Σ labelsᵢ · ((lᵢ − m) − ls)              (sequential from +0)
/// loss = −acc
/// ```
/// A zero label times a −inf log-probability gives NaN (IEEE 0·inf), as the formula says.
func crossEntropyKernel(_ op: Op, _ attrs: Attributes, _ inputs: [Tensor], _ rt: TensorType) throws(Diagnostic) -> Tensor {
    let (x, y) = (inputs[0], inputs[1])
    guard let axis = normalizeAxis(attrs.axis ?? -1, rank: x.type.rank) else { throw operandMismatch(op, inputs) }
    let layout = reductionOrder(shape: x.shape, axes: [axis])
    func run<T: RealScalar & KernelNumber>(_ logits: [T], _ labels: [T]) -> [T] {
        let l = gather(logits, layout.order, zero: 0)
        let p = gather(labels, layout.order, zero: 0)
        var out: [T] = []
        out.reserveCapacity(layout.groups)
        for g in 0..<layout.groups {
            let range = (g * layout.n)..<((g + 1) * layout.n)
            let m: T = sequentialMax(l[range])
            var s: T = 0
            for li in l[range] { s += T.exp(li - m) }
            let ls = T.log(s)
            var acc: T = 0
            for i in range { acc += p[i] * ((l[i] - m) - ls) }
            out.append(-acc)
        }
        return out
    }
    switch (x.storage, y.storage) {
    case (.f32(let a), .f32(let b)): return try makeTensor(.f32(run(a, b)), rt.shape, op)
    case (.f64(let a), .f64(let b)): return try makeTensor(.f64(run(a, b)), rt.shape, op)
    default: throw operandMismatch(op, inputs)
    }
}

/// `cumsum` along `axis`: outᵢ = Σ_{j ≤ i} xⱼ (or j ≥ i when `reverse`), one running
/// accumulator from +0 in visiting order (wrapping for i64).
func cumsumKernel(_ op: Op, _ attrs: Attributes, _ inputs: [Tensor], _ rt: TensorType) throws(Diagnostic) -> Tensor {
    let x = inputs[0]
    guard let axis = attrs.axis.flatMap({ normalizeAxis($0, rank: x.type.rank) }) else { throw operandMismatch(op, inputs) }
    let reverse = attrs.reverse
    func run<T: KernelNumber>(_ v: [T]) -> [T] {
        alongAxis(v, shape: x.shape, axis: axis, zero: T.kernelZero) { line, out in
            var acc = T.kernelZero
            let indices = Array(zip(out.indices, line.indices))
            for (o, i) in (reverse ? indices.reversed() : indices) {
                acc = T.kernelAdd(acc, line[i])
                out[o] = acc
            }
        }
    }
    switch x.storage {
    case .f32(let v): return try makeTensor(.f32(run(v)), rt.shape, op)
    case .f64(let v): return try makeTensor(.f64(run(v)), rt.shape, op)
    case .i64(let v): return try makeTensor(.i64(run(v)), rt.shape, op)
    case .bool: throw operandMismatch(op, inputs)
    }
}
