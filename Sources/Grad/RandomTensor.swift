extension Tensor {
    /// Random values of `type`: floats uniform in `range`, i64 in 0..<10, bools fair. Filled
    /// in the tensor's own element type (no wider temporary: a bool input needs its count in
    /// bytes, not eight times that).
    public static func random(_ type: TensorType, range: ClosedRange<Double> = -1...1, using rng: inout SplitMix64) -> Tensor {
        let n = type.count
        let storage: Storage
        switch type.dtype {
        case .f32: storage = .f32((0..<n).map { _ in Float(Double.random(in: range, using: &rng)) })
        case .f64: storage = .f64((0..<n).map { _ in Double.random(in: range, using: &rng) })
        case .i64: storage = .i64((0..<n).map { _ in Int64(Int.random(in: 0..<10, using: &rng)) })
        case .bool: storage = .bool((0..<n).map { _ in Bool.random(using: &rng) })
        }
        return Tensor(storage, shape: type.shape) ?? Tensor(type, doubles: [0])
    }
}
