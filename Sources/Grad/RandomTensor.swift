extension Tensor {
    /// Random values of `type`: floats uniform in `range`, i64 in 0..<10, bools fair.
    public static func random(_ type: TensorType, range: ClosedRange<Double> = -1...1, using rng: inout SplitMix64) -> Tensor {
        var values: [Double] = []
        values.reserveCapacity(type.count)
        for _ in 0..<type.count {
            switch type.dtype {
            case .f32, .f64: values.append(Double.random(in: range, using: &rng))
            case .i64: values.append(Double(Int.random(in: 0..<10, using: &rng)))
            case .bool: values.append(Bool.random(using: &rng) ? 1 : 0)
            }
        }
        return Tensor(type, doubles: values)
    }
}
