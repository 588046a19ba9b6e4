// Index arithmetic on row-major shapes, in one place for the reference kernels, the VM and
// the C emitter: strides, and index maps (`map[i]` is the input element that output element
// `i` reads). One odometer (`stridedIndexMap`) builds every map.

/// The strides of a strided view (`slice`, `pad`): `strides[d] · steps[d]`, and 0 on an axis
/// whose `extents[d]` (the number of elements stepped over: the slice's result, the padded
/// operand) is at most 1, where the step is never taken. So a huge step on such an axis, which
/// the type rules accept, cannot overflow; on the other axes the product is below the element
/// count.
public func steppedStrides(_ strides: [Int], _ steps: [Int], extents: [Int]) -> [Int] {
    strides.indices.map { d in
        d < steps.count && d < extents.count && extents[d] > 1 ? strides[d] * steps[d] : 0
    }
}

/// Row-major strides of `shape` in elements.
public func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = s
        s *= shape[i]
    }
    return strides
}

/// Strides (in elements) of a row-major `shape` read as broadcast to `out` (0 on broadcast axes).
public func broadcastStrides(_ shape: [Int], to out: [Int]) -> [Int] {
    let own = rowMajorStrides(shape)
    let offset = out.count - shape.count
    var s = [Int](repeating: 0, count: out.count)
    for i in shape.indices where shape[i] != 1 { s[offset + i] = own[i] }
    return s
}

/// For every element of `shape` in row-major order, `offset + Σ index[d]·strides[d]`.
///
/// Broadcasting (stride 0), transposition (permuted strides) and slicing (scaled strides plus
/// an offset) are all this one map.
public func stridedIndexMap(shape: [Int], strides: [Int], offset: Int = 0) -> [Int] {
    let count = shape.reduce(1, *)
    if count == 0 { return [] }
    var out = [Int](repeating: 0, count: count)
    let rank = shape.count
    if rank == 0 {
        out[0] = offset
        return out
    }
    var index = [Int](repeating: 0, count: rank)
    var position = offset
    let last = rank - 1
    let lastDim = shape[last]
    let lastStride = strides[last]
    var i = 0
    while i < count {
        // Innermost axis as a tight loop, then carry into the outer axes.
        var p = position
        for _ in 0..<lastDim {
            out[i] = p
            p += lastStride
            i += 1
        }
        var d = last - 1
        while d >= 0 {
            index[d] += 1
            position += strides[d]
            if index[d] < shape[d] { break }
            position -= strides[d] * shape[d]
            index[d] = 0
            d -= 1
        }
    }
    return out
}

/// The index map of NumPy broadcasting: for every element of `outShape`, the element of a
/// tensor of shape `inShape` that it reads. `inShape` must broadcast to `outShape`.
public func broadcastIndexMap(from inShape: [Int], to outShape: [Int]) -> [Int] {
    if inShape == outShape { return Array(0..<outShape.reduce(1, *)) }
    return stridedIndexMap(shape: outShape, strides: broadcastStrides(inShape, to: outShape))
}

/// Axes of a reduction attribute, normalized and sorted (all axes when `nil`).
public func normalizedAxes(_ axes: [Int]?, rank: Int) -> [Int] {
    guard let axes else { return Array(0..<rank) }
    return Set(axes.compactMap { normalizeAxis($0, rank: rank) }).sorted()
}
