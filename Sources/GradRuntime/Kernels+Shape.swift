// Linear algebra and data movement.

// MARK: - Linear algebra

/// `matmul` a[…,m,k] @ b[…,k,n] with broadcast batch dimensions:
/// ```
/// out[…,i,j] = Σ_p a[…,i,p] · b[…,p,j]   accumulated from +0 in increasing p, no FMA
/// ```
/// (The loop runs i, p, j for locality; every output element still sees its products in
/// increasing p order, starting from +0.) i64 wraps.
func matmulKernel(_ op: Op, _ inputs: [Tensor], _ rt: TensorType) throws(Diagnostic) -> Tensor {
    let (x, y) = (inputs[0], inputs[1])
    let m = x.shape[x.type.rank - 2]
    let k = x.shape[x.type.rank - 1]
    let n = y.shape[y.type.rank - 1]
    let batchShape = Array(rt.shape.dropLast(2))
    let aBatch = broadcastIndexMap(from: Array(x.shape.dropLast(2)), to: batchShape)
    let bBatch = broadcastIndexMap(from: Array(y.shape.dropLast(2)), to: batchShape)
    func run<T: KernelNumber>(_ a: [T], _ b: [T]) -> [T] {
        var out = [T](repeating: T.kernelZero, count: aBatch.count * m * n)
        out.withUnsafeMutableBufferPointer { o in
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    for batch in aBatch.indices {
                        let aBase = aBatch[batch] * m * k
                        let bBase = bBatch[batch] * k * n
                        let oBase = batch * m * n
                        for i in 0..<m {
                            for p in 0..<k {
                                let aip = a[aBase + i * k + p]
                                let bRow = bBase + p * n
                                let oRow = oBase + i * n
                                for j in 0..<n {
                                    o[oRow + j] = T.kernelAdd(o[oRow + j], T.kernelMul(aip, b[bRow + j]))
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
    switch (x.storage, y.storage) {
    case (.f32(let a), .f32(let b)): return try makeTensor(.f32(run(a, b)), rt.shape, op)
    case (.f64(let a), .f64(let b)): return try makeTensor(.f64(run(a, b)), rt.shape, op)
    case (.i64(let a), .i64(let b)): return try makeTensor(.i64(run(a, b)), rt.shape, op)
    default: throw operandMismatch(op, inputs)
    }
}

/// `dot`: Σ aᵢ·bᵢ accumulated from +0 in increasing i (no FMA; i64 wraps).
func dotKernel(_ op: Op, _ inputs: [Tensor], _ rt: TensorType) throws(Diagnostic) -> Tensor {
    func run<T: KernelNumber>(_ a: [T], _ b: [T]) -> [T] {
        var acc = T.kernelZero
        for i in a.indices { acc = T.kernelAdd(acc, T.kernelMul(a[i], b[i])) }
        return [acc]
    }
    switch (inputs[0].storage, inputs[1].storage) {
    case (.f32(let a), .f32(let b)): return try makeTensor(.f32(run(a, b)), rt.shape, op)
    case (.f64(let a), .f64(let b)): return try makeTensor(.f64(run(a, b)), rt.shape, op)
    case (.i64(let a), .i64(let b)): return try makeTensor(.i64(run(a, b)), rt.shape, op)
    default: throw operandMismatch(op, inputs)
    }
}

/// `transpose`: out.shape[i] = x.shape[perm[i]] (default perm: reversed axes).
func transposeKernel(_ op: Op, _ attrs: Attributes, _ inputs: [Tensor], _ rt: TensorType) throws(Diagnostic) -> Tensor {
    let x = inputs[0]
    let perm = attrs.perm ?? Array((0..<x.type.rank).reversed())
    let strides = rowMajorStrides(x.shape)
    let map = stridedIndexMap(shape: rt.shape, strides: perm.map { strides[$0] })
    return try makeTensor(x.storage.gathered(map), rt.shape, op)
}

// MARK: - Data movement

/// `slice`: out[i…] = x[start + i·step …] on every axis (attributes already normalized).
func sliceKernel(_ op: Op, _ attrs: Attributes, _ inputs: [Tensor], _ rt: TensorType) throws(Diagnostic) -> Tensor {
    let x = inputs[0]
    guard let start = attrs.start, let step = attrs.step else { throw operandMismatch(op, inputs) }
    let inStrides = rowMajorStrides(x.shape)
    var offset = 0
    for d in 0..<x.type.rank { offset += start[d] * inStrides[d] }
    let map = rt.count == 0 ? [] : stridedIndexMap(shape: rt.shape, strides: steppedStrides(inStrides, step, extents: rt.shape), offset: offset)
    return try makeTensor(x.storage.gathered(map), rt.shape, op)
}

/// `pad`: element i of each axis goes to `low + i·step`; every other position is zero.
func padKernel(_ op: Op, _ attrs: Attributes, _ inputs: [Tensor], _ rt: TensorType) throws(Diagnostic) -> Tensor {
    let x = inputs[0]
    guard let low = attrs.low, let step = attrs.step else { throw operandMismatch(op, inputs) }
    let outStrides = rowMajorStrides(rt.shape)
    var offset = 0
    for d in 0..<x.type.rank { offset += low[d] * outStrides[d] }
    let destinations = x.count == 0 ? [] : stridedIndexMap(shape: x.shape, strides: steppedStrides(outStrides, step, extents: x.shape), offset: offset)
    var map = [Int](repeating: -1, count: rt.count)
    for (source, dest) in destinations.enumerated() { map[dest] = source }
    return try makeTensor(x.storage.gathered(map), rt.shape, op)
}

/// `concat` along `axis`: the operands' blocks one after the other.
func concatKernel(_ op: Op, _ attrs: Attributes, _ inputs: [Tensor], _ rt: TensorType) throws(Diagnostic) -> Tensor {
    guard let all = Tensor.Storage.concatenated(inputs.map(\.storage)),
          let axis = attrs.axis.flatMap({ normalizeAxis($0, rank: rt.rank) }) else {
        throw operandMismatch(op, inputs)
    }
    let outer = rt.shape[..<axis].reduce(1, *)
    let inner = rt.shape[(axis + 1)...].reduce(1, *)
    var bases: [Int] = []
    var base = 0
    for t in inputs {
        bases.append(base)
        base += t.count
    }
    var map: [Int] = []
    map.reserveCapacity(rt.count)
    for o in 0..<outer {
        for (t, b) in zip(inputs, bases) {
            let block = t.shape[axis] * inner
            for e in 0..<block { map.append(b + o * block + e) }
        }
    }
    return try makeTensor(all.gathered(map), rt.shape, op)
}

/// `one_hot`: out[…, j] = 1 if label == j else 0, in `dtype`; labels outside 0..<depth give
/// a row of zeros.
func oneHotKernel(_ op: Op, _ attrs: Attributes, _ inputs: [Tensor], _ rt: TensorType) throws(Diagnostic) -> Tensor {
    guard case .i64(let labels) = inputs[0].storage, let depth = attrs.depth else { throw operandMismatch(op, inputs) }
    var map = [Int](repeating: -1, count: rt.count)
    for (i, label) in labels.enumerated() where label >= 0 && label < Int64(depth) {
        map[i * depth + Int(label)] = 0
    }
    let one: Tensor.Storage
    switch rt.dtype {
    case .f32: one = .f32([1])
    case .f64: one = .f64([1])
    case .i64: one = .i64([1])
    case .bool: one = .bool([true])
    }
    return try makeTensor(one.gathered(map), rt.shape, op)
}
