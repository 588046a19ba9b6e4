// Index arithmetic and storage plumbing shared by the reference kernels.
//
// The kernels describe data movement as index maps (GradIR/Shape+Strides.swift): `map[i]` is
// the input element that output element `i` reads (or −1 for "zero").

/// The order in which a reduction over `axes` visits the elements of a tensor of `shape`:
/// `order[g·n ..< (g+1)·n]` are the `n` elements that make output element `g`, in increasing
/// input index order. Kept axes stay in their order, so output elements come row-major.
public func reductionOrder(shape: [Int], axes: [Int]) -> (order: [Int], groups: Int, n: Int) {
    let reduced = Set(axes)
    let kept = shape.indices.filter { !reduced.contains($0) }
    let inner = shape.indices.filter { reduced.contains($0) }
    let perm = kept + inner
    let strides = rowMajorStrides(shape)
    let order = stridedIndexMap(shape: perm.map { shape[$0] }, strides: perm.map { strides[$0] })
    let groups = kept.reduce(1) { $0 * shape[$1] }
    let n = inner.reduce(1) { $0 * shape[$1] }
    return (order, groups, n)
}

// MARK: - Generic elementwise loops

/// `f(a[ia], b[ib])` over the broadcast shape.
func zipBroadcast<A, B, R>(_ a: [A], _ aShape: [Int], _ b: [B], _ bShape: [Int], _ outShape: [Int],
                           _ f: (A, B) -> R) -> [R] {
    if aShape == outShape && bShape == outShape {
        var out: [R] = []
        out.reserveCapacity(a.count)
        for i in a.indices { out.append(f(a[i], b[i])) }
        return out
    }
    let ia = broadcastIndexMap(from: aShape, to: outShape)
    let ib = broadcastIndexMap(from: bShape, to: outShape)
    var out: [R] = []
    out.reserveCapacity(ia.count)
    for i in ia.indices { out.append(f(a[ia[i]], b[ib[i]])) }
    return out
}

/// `c ? a : b` over the broadcast shape.
func selectBroadcast<T>(_ c: [Bool], _ cShape: [Int], _ a: [T], _ aShape: [Int], _ b: [T], _ bShape: [Int],
                        _ outShape: [Int]) -> [T] {
    let ic = broadcastIndexMap(from: cShape, to: outShape)
    let ia = broadcastIndexMap(from: aShape, to: outShape)
    let ib = broadcastIndexMap(from: bShape, to: outShape)
    var out: [T] = []
    out.reserveCapacity(ic.count)
    for i in ic.indices { out.append(c[ic[i]] ? a[ia[i]] : b[ib[i]]) }
    return out
}

/// `values[map[i]]`, or `zero` where `map[i] < 0`.
func gather<T>(_ values: [T], _ map: [Int], zero: T) -> [T] {
    var out: [T] = []
    out.reserveCapacity(map.count)
    for m in map { out.append(m < 0 ? zero : values[m]) }
    return out
}

// MARK: - Storage plumbing

extension Tensor.Storage {
    var count: Int {
        switch self {
        case .f32(let v): return v.count
        case .f64(let v): return v.count
        case .i64(let v): return v.count
        case .bool(let v): return v.count
        }
    }

    /// `self[map[i]]`, zero (0 or false) where `map[i] < 0`.
    func gathered(_ map: [Int]) -> Tensor.Storage {
        switch self {
        case .f32(let v): return .f32(gather(v, map, zero: 0))
        case .f64(let v): return .f64(gather(v, map, zero: 0))
        case .i64(let v): return .i64(gather(v, map, zero: 0))
        case .bool(let v): return .bool(gather(v, map, zero: false))
        }
    }

    /// The storages one after the other; `nil` if their dtypes differ.
    static func concatenated(_ parts: [Tensor.Storage]) -> Tensor.Storage? {
        guard let first = parts.first else { return nil }
        switch first {
        case .f32:
            var all: [Float] = []
            for p in parts {
                guard case .f32(let v) = p else { return nil }
                all += v
            }
            return .f32(all)
        case .f64:
            var all: [Double] = []
            for p in parts {
                guard case .f64(let v) = p else { return nil }
                all += v
            }
            return .f64(all)
        case .i64:
            var all: [Int64] = []
            for p in parts {
                guard case .i64(let v) = p else { return nil }
                all += v
            }
            return .i64(all)
        case .bool:
            var all: [Bool] = []
            for p in parts {
                guard case .bool(let v) = p else { return nil }
                all += v
            }
            return .bool(all)
        }
    }
}

/// A tensor from storage and a shape already checked by the type rule.
func makeTensor(_ storage: Tensor.Storage, _ shape: [Int], _ op: Op) throws(Diagnostic) -> Tensor {
    guard let t = Tensor(storage, shape: shape) else {
        throw Diagnostic(.kernelFailure(op: op.name, "produced \(storage.count) elements for shape \(shape)"))
    }
    return t
}

func operandMismatch(_ op: Op, _ inputs: [Tensor]) -> Diagnostic {
    Diagnostic(.dtypeMismatch(op: op.name, inputs.map(\.type)))
}
