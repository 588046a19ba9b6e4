/// Element types of tensors.
public enum DType: String, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    case f32, f64, i64, bool

    /// Hashed by its tag, not (as `RawRepresentable` would) by its name.
    @inlinable public func hash(into h: inout Hasher) { h.combine(unsafeBitCast(self, to: UInt8.self)) }

    @inlinable public var isFloat: Bool { self == .f32 || self == .f64 }
    @inlinable public var isNumeric: Bool { self != .bool }
    /// Size of one element in bytes (as laid out in `.npy` files and C buffers).
    public var byteSize: Int {
        switch self {
        case .f32: return 4
        case .f64, .i64: return 8
        case .bool: return 1
        }
    }
    public var description: String { rawValue }
}

/// Largest number of elements gradc accepts in one tensor (2^40). Shapes beyond it are
/// refused with an error before anything is allocated.
public let maxElementCount = 1 << 40

/// Largest rank gradc accepts.
public let maxRank = 16

/// A static tensor type: element type and row-major shape (rank 0 is a scalar).
public struct TensorType: Hashable, Sendable, CustomStringConvertible {
    public var dtype: DType
    public var shape: [Int]

    @inlinable public init(_ dtype: DType, _ shape: [Int] = []) {
        self.dtype = dtype
        self.shape = shape
    }

    @inlinable public var rank: Int { shape.count }
    @inlinable public var isScalar: Bool { shape.isEmpty }

    /// Number of elements; only meaningful for validated shapes (see `checkedElementCount`).
    public var count: Int { shape.reduce(1, *) }

    public func with(dtype: DType) -> TensorType { TensorType(dtype, shape) }
    public func with(shape: [Int]) -> TensorType { TensorType(dtype, shape) }

    /// `f64[3,4]`, or `f64` for a scalar.
    public var description: String {
        shape.isEmpty ? dtype.rawValue : "\(dtype.rawValue)[\(shape.map(String.init).joined(separator: ","))]"
    }
}

/// The element count of `shape`, or `nil` when a dimension is negative, the rank is too large
/// or the product overflows / exceeds `maxElementCount`.
public func checkedElementCount(_ shape: [Int]) -> Int? {
    if shape.count > maxRank { return nil }
    var n = 1
    for d in shape {
        if d < 0 { return nil }
        let (p, overflow) = n.multipliedReportingOverflow(by: d)
        if overflow || p > maxElementCount { return nil }
        n = p
    }
    return n
}

/// NumPy broadcasting of two shapes, or `nil` when they are incompatible.
public func broadcastShapes(_ a: [Int], _ b: [Int]) -> [Int]? {
    let n = max(a.count, b.count)
    var out = [Int](repeating: 1, count: n)
    for i in 0..<n {
        let da = i < n - a.count ? 1 : a[i - (n - a.count)]
        let db = i < n - b.count ? 1 : b[i - (n - b.count)]
        if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
    }
    return out
}

/// Normalizes a possibly negative axis against `rank`; `nil` if out of range.
public func normalizeAxis(_ axis: Int, rank: Int) -> Int? {
    let a = axis < 0 ? axis + rank : axis
    return (a >= 0 && a < rank) ? a : nil
}
