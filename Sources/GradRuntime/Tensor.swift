/// A dense, row-major tensor value: what the evaluators consume and produce.
public struct Tensor: Sendable, Equatable, CustomStringConvertible {
    /// Element storage, one case per dtype.
    public enum Storage: Sendable, Equatable {
        case f32([Float])
        case f64([Double])
        case i64([Int64])
        case bool([Bool])
    }

    public private(set) var type: TensorType
    public private(set) var storage: Storage

    public var dtype: DType { type.dtype }
    public var shape: [Int] { type.shape }
    public var count: Int { type.count }

    /// A tensor from storage; `nil` if the element count does not match the shape.
    public init?(_ storage: Storage, shape: [Int]) {
        guard let n = checkedElementCount(shape) else { return nil }
        let dtype: DType
        let count: Int
        switch storage {
        case .f32(let v): (dtype, count) = (.f32, v.count)
        case .f64(let v): (dtype, count) = (.f64, v.count)
        case .i64(let v): (dtype, count) = (.i64, v.count)
        case .bool(let v): (dtype, count) = (.bool, v.count)
        }
        guard count == n else { return nil }
        self.type = TensorType(dtype, shape)
        self.storage = storage
    }

    /// A tensor of `type` whose elements are `values` converted to the dtype (doubles to
    /// f32 round to nearest; to i64 truncate; to bool are `!= 0`). `values` may hold one value
    /// to fill the whole tensor.
    public init(_ type: TensorType, doubles values: [Double]) {
        let n = type.count
        let source = values.count == n ? values : [Double](repeating: values.first ?? 0, count: n)
        self.type = type
        switch type.dtype {
        case .f32: storage = .f32(source.map { Float($0) })
        case .f64: storage = .f64(source)
        case .i64: storage = .i64(source.map { $0.isFinite ? Int64(clamping: Int64(exactly: $0.rounded(.towardZero)) ?? ($0 < 0 ? Int64.min : Int64.max)) : 0 })
        case .bool: storage = .bool(source.map { $0 != 0 })
        }
    }

    // Element lists of each dtype, `nil` if the count does not match the shape. Unlabelled
    // literals are f64, as in the `.ir` language: `Tensor([0, 0, 0, 0], shape: [4])` is f64
    // (the `[Float]` initializer is disfavoured, so integer and float literals do not make
    // the call ambiguous); the labels name the dtype: `Tensor(i64: [1, 2], shape: [2])`.

    /// An f64 tensor of the given shape.
    public init?(_ values: [Double], shape: [Int]) {
        self.init(.f64(values), shape: shape)
    }

    /// An f32 tensor of the given shape (from a `[Float]`; `Tensor(f32:shape:)` for literals).
    @_disfavoredOverload
    public init?(_ values: [Float], shape: [Int]) {
        self.init(.f32(values), shape: shape)
    }

    public init?(f64 values: [Double], shape: [Int]) { self.init(.f64(values), shape: shape) }
    public init?(f32 values: [Float], shape: [Int]) { self.init(.f32(values), shape: shape) }
    public init?(i64 values: [Int64], shape: [Int]) { self.init(.i64(values), shape: shape) }
    public init?(bool values: [Bool], shape: [Int]) { self.init(.bool(values), shape: shape) }

    // Scalars of each dtype: `Tensor(4.0)` is f64.

    /// A scalar f64 tensor.
    public init(_ value: Double) {
        self.init(TensorType(.f64), doubles: [value])
    }

    public init(f64 value: Double) { self.init(value) }
    public init(f32 value: Float) { (type, storage) = (TensorType(.f32), .f32([value])) }
    public init(i64 value: Int64) { (type, storage) = (TensorType(.i64), .i64([value])) }
    public init(bool value: Bool) { (type, storage) = (TensorType(.bool), .bool([value])) }

    /// The elements as doubles (bool as 0/1).
    public var doubles: [Double] {
        switch storage {
        case .f32(let v): return v.map(Double.init)
        case .f64(let v): return v
        case .i64(let v): return v.map(Double.init)
        case .bool(let v): return v.map { $0 ? 1 : 0 }
        }
    }

    /// The single element of a scalar (or the first element).
    public var scalar: Double? { doubles.first }

    /// Same elements, new shape with the same count; `nil` otherwise.
    public func reshaped(_ shape: [Int]) -> Tensor? {
        Tensor(storage, shape: shape)
    }

    public var description: String { formatTensor(self) }
}

/// NumPy-like text of a tensor: nested brackets, `inf`/`nan`, full precision for f64.
public func formatTensor(_ t: Tensor, maxElements: Int = 1000) -> String {
    // Element i as text; i64 straight from the integers (through Double, 2^63 − 1 would
    // round to 2^63 and trap converting back, and anything past 2^53 would print wrong).
    let element: (Int) -> String
    switch t.storage {
    case .bool(let v): element = { v[$0] ? "true" : "false" }
    case .i64(let v): element = { String(v[$0]) }
    case .f32(let v): element = { v[$0].isFinite ? "\(v[$0])" : formatNumber(Double(v[$0])) }
    case .f64(let v): element = { v[$0].isFinite ? "\(v[$0])" : formatNumber(v[$0]) }
    }
    let count = t.count
    if t.shape.isEmpty { return count > 0 ? element(0) : "0" }
    if count > maxElements {
        let head = (0..<6).map(element).joined(separator: ", ")
        return "[\(head), …] (\(count) elements)"
    }
    let strides = rowMajorStrides(t.shape)
    func render(_ axis: Int, _ offset: Int) -> String {
        if axis == t.shape.count - 1 {
            return "[" + (0..<t.shape[axis]).map { element(offset + $0) }.joined(separator: ", ") + "]"
        }
        let sep = ",\n" + String(repeating: " ", count: axis + 1)
        return "[" + (0..<t.shape[axis]).map { render(axis + 1, offset + $0 * strides[axis]) }.joined(separator: sep) + "]"
    }
    return render(0, 0)
}
