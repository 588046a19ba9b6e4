/// A small deterministic generator (SplitMix64) for reproducible random inputs.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) {
        state = seed
    }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

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
