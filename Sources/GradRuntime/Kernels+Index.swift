// Indexing with i64 tensors: take, scatter_add (and their along-axis forms), iota, argmax and
// argmin. Every index is checked, in row-major order of the index tensor, before any data
// moves; the first one outside −n ..< n is an error naming the op, the axis and the value.

/// The indexing op's normalized axis and layout (`GatherLayout`), after checking every index.
func checkedGather(_ op: Op, _ attrs: Attributes, data: Tensor, indices: Tensor) throws(Diagnostic) -> (GatherLayout, [Int64]) {
    guard case .i64(let idx) = indices.storage, let axis = attrs.axis.flatMap({ normalizeAxis($0, rank: data.type.rank) }) else {
        throw operandMismatch(op, [data, indices])
    }
    let layout = GatherLayout(data: data.shape, indices: indices.shape, axis: axis,
                              alongAxis: op == .take_along_axis || op == .scatter_add_along_axis)
    if let bad = idx.withUnsafeBufferPointer({ firstInvalidIndex($0, length: layout.n) }) {
        throw Diagnostic(.indexOutOfRange(op: op.name, index: bad, axis: axis, length: layout.n))
    }
    return (layout, idx)
}

/// For every gathered element `(o, j, i)` in row-major order, the data element it moves.
func gatherMap(_ layout: GatherLayout, _ idx: [Int64]) -> [Int] {
    var map: [Int] = []
    map.reserveCapacity(layout.count)
    for o in 0..<layout.outer {
        for j in 0..<layout.k {
            for i in 0..<layout.inner {
                let position = wrappedIndex(idx[layout.indexPosition(o, j, i)], length: layout.n) ?? 0  // checked
                map.append(layout.dataPosition(o, position, i))
            }
        }
    }
    return map
}

/// `take` and `take_along_axis`: out[o, j, i] = x[o, wrap(idx[…]), i] (any dtype).
func takeKernel(_ op: Op, _ attrs: Attributes, _ inputs: [Tensor], _ rt: TensorType) throws(Diagnostic) -> Tensor {
    let (layout, idx) = try checkedGather(op, attrs, data: inputs[0], indices: inputs[1])
    return try makeTensor(inputs[0].storage.gathered(gatherMap(layout, idx)), rt.shape, op)
}

/// `scatter_add` and `scatter_add_along_axis`: out = base, then for every element of
/// `updates` in row-major order, out[o, wrap(idx[…]), i] += updates[o, j, i] (one addition
/// at a time in the element type, so repeated indices accumulate in that order).
func scatterAddKernel(_ op: Op, _ attrs: Attributes, _ inputs: [Tensor], _ rt: TensorType) throws(Diagnostic) -> Tensor {
    let (layout, idx) = try checkedGather(op, attrs, data: inputs[0], indices: inputs[1])
    let map = gatherMap(layout, idx)
    func run<T: KernelNumber>(_ base: [T], _ updates: [T]) -> [T] {
        var out = base
        for (u, target) in zip(updates, map) { out[target] = T.kernelAdd(out[target], u) }
        return out
    }
    switch (inputs[0].storage, inputs[2].storage) {
    case (.f32(let b), .f32(let u)): return try makeTensor(.f32(run(b, u)), rt.shape, op)
    case (.f64(let b), .f64(let u)): return try makeTensor(.f64(run(b, u)), rt.shape, op)
    case (.i64(let b), .i64(let u)): return try makeTensor(.i64(run(b, u)), rt.shape, op)
    default: throw operandMismatch(op, inputs)
    }
}

/// `iota`: every element's index along `axis`, converted to `dtype` like `cast` from i64.
func iotaKernel(_ op: Op, _ attrs: Attributes, _ rt: TensorType) throws(Diagnostic) -> Tensor {
    guard let axis = normalizeAxis(attrs.axis ?? 0, rank: rt.rank) else { throw operandMismatch(op, []) }
    let stride = rowMajorStrides(rt.shape)[axis]
    let n = rt.shape[axis]
    let values = (0..<rt.count).map { Int64(($0 / stride) % n) }
    return try castKernel(op, makeTensor(.i64(values), rt.shape, op), rt)
}

/// `argmax` / `argmin` over `axes`: per output element, the position (row-major within the
/// reduced axes) of the first element that beats every earlier one, where a NaN beats any
/// number and nothing beats a NaN (so the first NaN wins) and a tie does not beat.
/// ```
/// best = 0
/// for j in 1 ..< n: if x[best] is not NaN and (x[j] is NaN or x[j] > x[best]): best = j   (< for argmin)
/// ```
func argReduceKernel(_ op: Op, _ attrs: Attributes, _ inputs: [Tensor], _ rt: TensorType) throws(Diagnostic) -> Tensor {
    let x = inputs[0]
    let layout = reductionOrder(shape: x.shape, axes: normalizedAxes(attrs.axes, rank: x.type.rank))
    func run<T: Comparable>(_ v: [T]) -> [Int64] {
        (0..<layout.groups).map { g in
            let base = g * layout.n
            var best = 0
            for j in 1..<max(layout.n, 1) {
                let (b, c) = (v[layout.order[base + best]], v[layout.order[base + j]])
                if b != b { break }  // NaN: nothing beats it
                if c != c || (op == .argmax ? c > b : c < b) { best = j }
            }
            return Int64(best)
        }
    }
    switch x.storage {
    case .f32(let v): return try makeTensor(.i64(run(v)), rt.shape, op)
    case .f64(let v): return try makeTensor(.i64(run(v)), rt.shape, op)
    case .i64(let v): return try makeTensor(.i64(run(v)), rt.shape, op)
    case .bool: throw operandMismatch(op, inputs)
    }
}
