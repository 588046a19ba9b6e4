/// Attribute names, in the order the canonical printer writes them.
public enum AttrKey: String, CaseIterable, Hashable, Sendable, Comparable {
    case axes, axis, keepdims, perm, shape, start, stop, step, low, high, depth, reverse, dtype, value, values
    // Loops (`scan`, `result`): appended, so that the keys' tags in `.gbc` files keep their values
    case body, carries, over, length, indexed, index, gate
    // Linear algebra (`triangular_solve`)
    case lower, transpose
    // Convolution (`conv2d` and its transposes): appended likewise
    case stride, padding, dilation
    // Derivative requests (`jacobian(…, forward=true)`, issue 18): appended likewise
    case forward, sparse
    // Pooling (`max_pool2d`, `avg_pool2d` and their transposes, issue 17): appended likewise
    case window

    /// Position of the case in declaration order (a key is a one-byte tag).
    @inlinable @inline(__always) var index: UInt8 { unsafeBitCast(self, to: UInt8.self) }

    /// Keys compare and hash by their tag, not (as `RawRepresentable` would) by their names.
    @inlinable public static func == (a: AttrKey, b: AttrKey) -> Bool { a.index == b.index }
    @inlinable public func hash(into h: inout Hasher) { h.combine(index) }
    public static func < (a: AttrKey, b: AttrKey) -> Bool { a.index < b.index }
}

/// An attribute value: an integer, a list of integers, a boolean, a number, a list of
/// numbers or an element type.
public enum AttrValue: Hashable, Sendable, CustomStringConvertible {
    case int(Int)
    case ints([Int])
    case bool(Bool)
    case float(Double)
    case floats([Double])
    case dtype(DType)

    /// Numbers compare by bit pattern, so a NaN attribute equals itself (graphs with NaN
    /// constants compare equal to their reparsed copies and hash consistently).
    public static func == (a: AttrValue, b: AttrValue) -> Bool {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x == y
        case (.ints(let x), .ints(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.float(let x), .float(let y)): return x.bitPattern == y.bitPattern
        case (.floats(let x), .floats(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern }
        case (.dtype(let x), .dtype(let y)): return x == y
        default: return false
        }
    }

    public func hash(into h: inout Hasher) {
        switch self {
        case .int(let v): h.combine(0); h.combine(v)
        case .ints(let v): h.combine(1); h.combine(v)
        case .bool(let v): h.combine(2); h.combine(v)
        case .float(let v): h.combine(3); h.combine(v.bitPattern)
        case .floats(let v): h.combine(4); for x in v { h.combine(x.bitPattern) }
        case .dtype(let v): h.combine(5); h.combine(v)
        }
    }

    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .ints(let v): return "[" + v.map(String.init).joined(separator: ",") + "]"
        case .bool(let v): return v ? "true" : "false"
        case .float(let v): return formatNumber(v)
        case .floats(let v): return "[" + v.map(formatNumber).joined(separator: ",") + "]"
        case .dtype(let d): return d.rawValue
        }
    }
}

extension AttrValue {
    /// The `value` of an i64 constant holding `v`: a number when a double holds it exactly
    /// (|v| ≤ 2^53, the form the optimizer computes with), else the integer itself, so that
    /// no i64 constant is rounded (`Attributes.exactValue` tells the two apart).
    public static func int64Value(_ v: Int) -> AttrValue {
        v.magnitude <= 1 << 53 ? .float(Double(v)) : .int(v)
    }

    /// The `values` of an i64 constant, by the rule of `int64Value`.
    public static func int64Values(_ v: [Int]) -> AttrValue {
        v.allSatisfy { $0.magnitude <= 1 << 53 } ? .floats(v.map(Double.init)) : .ints(v)
    }
}

/// Shortest text that reads back as exactly `v` (`inf`, `-inf`, `nan` for the specials).
public func formatNumber(_ v: Double) -> String {
    if v.isNaN { return "nan" }
    if v.isInfinite { return v < 0 ? "-inf" : "inf" }
    if v == v.rounded(), Swift.abs(v) < 1e15 {
        if v == 0 && v.sign == .minus { return "-0" }
        return String(Int(v))
    }
    return "\(v)"
}

/// The attributes of one node, kept sorted by key (small: most nodes have none).
public struct Attributes: Hashable, Sendable {
    public private(set) var items: [(key: AttrKey, value: AttrValue)] = []

    @inlinable public init() {}
    @_disfavoredOverload
    public init(_ pairs: [AttrKey: AttrValue]) {
        items.reserveCapacity(pairs.count)
        for (k, v) in pairs { self[k] = v }
    }

    /// The attributes of a literal (`Attributes([.shape: .ints(s)])`): built in one array,
    /// without the hashing and the storage a `Dictionary` literal would cost (the parser and
    /// the derivative rules build one per node of million-node graphs). A key given twice
    /// keeps its last value.
    public init(_ pairs: KeyValuePairs<AttrKey, AttrValue>) {
        items.reserveCapacity(pairs.count)
        for (k, v) in pairs { self[k] = v }
    }

    @inlinable public var isEmpty: Bool { items.isEmpty }

    public subscript(key: AttrKey) -> AttrValue? {
        get { items.first { $0.key == key }?.value }
        set {
            if let i = items.firstIndex(where: { $0.key == key }) {
                if let newValue { items[i].value = newValue } else { items.remove(at: i) }
            } else if let newValue {
                // Appended and moved into place (a few items: cheaper than a generic insert).
                items.append((key, newValue))
                var j = items.count - 1
                while j > 0, key < items[j - 1].key {
                    items.swapAt(j, j - 1)
                    j -= 1
                }
            }
        }
    }

    public static func == (a: Attributes, b: Attributes) -> Bool {
        a.items.count == b.items.count && zip(a.items, b.items).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
    public func hash(into h: inout Hasher) {
        h.combine(items.count)
        for item in items {
            h.combine(item.key)
            h.combine(item.value)
        }
    }

    // MARK: Typed accessors

    public var axes: [Int]? { if case .ints(let v)? = self[.axes] { return v }; return nil }
    public var axis: Int? { if case .int(let v)? = self[.axis] { return v }; return nil }
    public var keepdims: Bool { if case .bool(let v)? = self[.keepdims] { return v }; return false }
    public var perm: [Int]? { if case .ints(let v)? = self[.perm] { return v }; return nil }
    public var shape: [Int]? { if case .ints(let v)? = self[.shape] { return v }; return nil }
    public var start: [Int]? { if case .ints(let v)? = self[.start] { return v }; return nil }
    public var stop: [Int]? { if case .ints(let v)? = self[.stop] { return v }; return nil }
    public var step: [Int]? { if case .ints(let v)? = self[.step] { return v }; return nil }
    public var low: [Int]? { if case .ints(let v)? = self[.low] { return v }; return nil }
    public var high: [Int]? { if case .ints(let v)? = self[.high] { return v }; return nil }
    public var depth: Int? { if case .int(let v)? = self[.depth] { return v }; return nil }
    public var lower: Bool { if case .bool(let v)? = self[.lower] { return v }; return true }
    public var transposed: Bool { if case .bool(let v)? = self[.transpose] { return v }; return false }
    /// `sparse=true` on a `jacobian` or `hessian` request.
    public var sparse: Bool { if case .bool(let v)? = self[.sparse] { return v }; return false }
    public var reverse: Bool { if case .bool(let v)? = self[.reverse] { return v }; return false }
    public var dtype: DType? { if case .dtype(let v)? = self[.dtype] { return v }; return nil }
    /// An `.int` attribute (`body`, `carries`, `over`, `length`, `index` of the loop ops).
    public func int(_ key: AttrKey) -> Int? { if case .int(let v)? = self[key] { return v }; return nil }
    /// An `.ints` attribute (`stride`, `padding`, `dilation` of the convolutions).
    public func ints(_ key: AttrKey) -> [Int]? { if case .ints(let v)? = self[key] { return v }; return nil }
    public var indexed: Bool { if case .bool(let v)? = self[.indexed] { return v }; return false }
    /// Inlinable: the optimizer asks every constant operand for it.
    @inlinable public var value: Double? {
        for item in items where item.key == .value {
            switch item.value {
            case .float(let v): return v
            case .int(let v): return Double(v)
            default: return nil
            }
        }
        return nil
    }
    public var values: [Double]? {
        switch self[.values] {
        case .floats(let v)?: return v
        case .ints(let v)?: return v.map(Double.init)
        default: return nil
        }
    }

    /// `value` when a double holds it exactly; `nil` for an integer beyond ±2^53 (which
    /// `value` rounds). Passes that compute with doubles read this one.
    public var exactValue: Double? {
        if case .int(let v)? = self[.value], v.magnitude > 1 << 53 { return nil }
        return value
    }

    /// `values` when doubles hold them exactly, by the rule of `exactValue`.
    public var exactValues: [Double]? {
        if case .ints(let v)? = self[.values], v.contains(where: { $0.magnitude > 1 << 53 }) { return nil }
        return values
    }
}
