// The storage the backward pass and the VJP rules share — kept out of VJP.swift so that the
// rules read like the math. Each type exists for speed on million-node graphs.

/// One node per scalar constant (value, dtype) in a backward pass, instead of one per use.
///
/// A backward pass asks for the same few constants (0, 1, 2, −0.5) at nearly every node: the
/// first `recentCapacity` are found by a short scan, without hashing.
struct ConstantPool {
    private var ids: [Key: ValueID] = [:]
    private var recent: [(key: Key, id: ValueID)] = []
    private static let recentCapacity = 8

    private struct Key: Hashable {
        var bits: UInt64
        var dtype: DType
    }

    mutating func scalar(_ value: Double, _ dtype: DType, _ b: inout GraphBuilder) throws(Diagnostic) -> ValueID {
        let key = Key(bits: value.bitPattern, dtype: dtype)
        for entry in recent where entry.key == key { return entry.id }
        if let id = ids[key] { return id }
        let id = try b.constant(value, TensorType(dtype))
        if recent.count < ConstantPool.recentCapacity {
            recent.append((key, id))
        } else {
            ids[key] = id
        }
        return id
    }
}

/// Which operands of a node a backward pass needs a gradient for: those on a path to some x.
/// Read out of the pass's relevance table once, into bits (the first 64 operands) and an
/// array beyond, so the answer holds no reference to the table.
struct OperandNeeds {
    private var bits: UInt64 = 0
    private var more: [Bool]?

    /// The operands `k` with `needed(k)` (forward mode: those that have a tangent).
    init(count: Int, _ needed: (Int) -> Bool) {
        for k in 0..<count { set(k, needed(k)) }
    }

    init(operands: Operands, relevant: Relevance) {
        for k in 0..<operands.count {
            let needed = relevant[operands[k]]
            set(k, needed)
        }
    }

    private mutating func set(_ k: Int, _ needed: Bool) {
        if k < 64 {
            if needed { bits |= 1 << UInt64(k) }
        } else {
            more = (more ?? []) + [needed]
        }
    }

    subscript(k: Int) -> Bool {
        if k < 64 { return k >= 0 && bits & (1 << UInt64(k)) != 0 }
        guard let more, k - 64 < more.count else { return false }
        return more[k - 64]
    }

    var any: Bool { bits != 0 || more?.contains(true) == true }
}

/// The gradients a VJP rule sends to a node's operands, `nil` where none flows; up to three
/// kept inline (one rule runs per node of a million-node backward pass).
struct Cotangents: ExpressibleByArrayLiteral {
    private var first: ValueID?
    private var second: ValueID?
    private var third: ValueID?
    private var inlineCount = 0
    private var spilled: [ValueID?]?

    init(arrayLiteral values: ValueID?...) {
        for v in values { append(v) }
    }

    // The rules' one-, two- and three-operand results, without the array a literal builds
    // (one per node of a million-node backward pass).
    init() {}
    init(_ a: ValueID?) {
        (first, inlineCount) = (a, 1)
    }
    init(_ a: ValueID?, _ b: ValueID?) {
        (first, second, inlineCount) = (a, b, 2)
    }
    init(_ a: ValueID?, _ b: ValueID?, _ c: ValueID?) {
        (first, second, third, inlineCount) = (a, b, c, 3)
    }

    /// `count` operands, none of which gets a gradient.
    init(none count: Int) {
        for _ in 0..<count { append(nil) }
    }

    var count: Int { spilled?.count ?? inlineCount }

    subscript(k: Int) -> ValueID? {
        get {
            if let spilled { return spilled[k] }
            precondition(k >= 0 && k < inlineCount, "cotangent index out of range")  // trap-ok: indices come from the VJP rules, never from input
            switch k {
            case 0: return first
            case 1: return second
            default: return third
            }
        }
        set {
            if spilled != nil {
                spilled?[k] = newValue
                return
            }
            precondition(k >= 0 && k < inlineCount, "cotangent index out of range")  // trap-ok: indices come from the VJP rules, never from input
            switch k {
            case 0: first = newValue
            case 1: second = newValue
            default: third = newValue
            }
        }
    }

    mutating func append(_ v: ValueID?) {
        if spilled != nil {
            spilled?.append(v)
        } else if inlineCount < 3 {
            inlineCount += 1
            self[inlineCount - 1] = v  // in range now
        } else {
            spilled = [first, second, third, v]
        }
    }
}
