/// Common-subexpression elimination by hash-consing: a node equal to an earlier one (same op,
/// operands, attributes and type) is replaced by it.
///
/// - `input` leaves are never merged, even when their types are equal.
/// - Constants merge when dtype, shape and every element's bits are equal (so `0` and `−0`,
///   or two different NaN payloads, stay apart).
/// - `add`, `mul`, `eq`, `ne` are commutative bit for bit in IEEE arithmetic (except for which
///   NaN payload propagates), so `a+b` and `b+a` are merged. `maximum`/`minimum` are not:
///   `maximum(+0, −0)` returns its first operand.
struct CSEPass: LocalRewrite {
    private var table: [Node: ValueID] = [:]
    private var small: OperandIndex
    private var scalarConstants: [SmallKey: ValueID] = [:]
    private var constants: [ConstKey: ValueID] = [:]

    init(capacity: Int = 0) {
        small = OperandIndex(capacity: capacity)
    }

    /// The identity of a node without attributes and with at most two operands, in plain
    /// integers (no arrays to hash or retain). Its type is implied: the type rule is a
    /// function of the operands' types and the attributes.
    struct SmallKey: Hashable {
        var op: Op
        var a: Int
        var b: Int
    }

    func smallKey(_ node: Node) -> SmallKey? {
        guard node.attrs.isEmpty else { return nil }
        switch node.inputs.count {
        case 1: return SmallKey(op: node.op, a: node.inputs[0], b: -1)
        case 2:
            let (a, b) = (node.inputs[0], node.inputs[1])
            if node.op.isCommutative, a > b { return SmallKey(op: node.op, a: b, b: a) }
            return SmallKey(op: node.op, a: a, b: b)
        default: return nil
        }
    }

    /// A constant's identity, with numbers compared by bit pattern.
    struct ConstKey: Hashable {
        var type: TensorType
        var bits: [UInt64]
        var splat: Bool
    }

    func key(_ node: Node) -> Node {
        guard node.op.isCommutative, node.inputs.count == 2, node.inputs[0] > node.inputs[1] else { return node }
        var k = node
        k.inputs = [node.inputs[1], node.inputs[0]]
        return k
    }

    /// A scalar constant's identity in plain integers: its bits and its dtype.
    static func scalarConstKey(_ node: Node) -> SmallKey? {
        guard node.type.shape.isEmpty, node.attrs.values == nil, let v = node.attrs.value else { return nil }
        let dtype: Int
        switch node.type.dtype {
        case .f32: dtype = 0
        case .f64: dtype = 1
        case .i64: dtype = 2
        case .bool: dtype = 3
        }
        return SmallKey(op: .const, a: Int(truncatingIfNeeded: v.bitPattern), b: dtype)
    }

    static func constKey(_ node: Node) -> ConstKey? {
        if let v = node.attrs.value, node.attrs.values == nil {
            return ConstKey(type: node.type, bits: [v.bitPattern], splat: true)
        }
        if let vs = node.attrs.values {
            return ConstKey(type: node.type, bits: vs.map(\.bitPattern), splat: false)
        }
        return nil
    }

    mutating func rewrite(_ node: Node, _ r: inout Rewriter) throws(Diagnostic) -> ValueID? {
        switch node.op {
        case .input:
            return nil
        case .const:
            if let k = CSEPass.scalarConstKey(node) { return scalarConstants[k] }
            guard let k = CSEPass.constKey(node) else { return nil }
            return constants[k]
        default:
            if let k = smallKey(node) { return small[k] }
            return table[key(node)]
        }
    }

    mutating func kept(_ node: Node, as id: ValueID) {
        switch node.op {
        case .input:
            return
        case .const:
            if let k = CSEPass.scalarConstKey(node) {
                scalarConstants[k] = id
            } else if let k = CSEPass.constKey(node) {
                constants[k] = id
            }
        default:
            if let k = smallKey(node) {
                small.insert(k, as: id)
            } else {
                table[key(node)] = id
            }
        }
    }
}

/// Nodes of one or two operands indexed through their operands' use lists: the earlier nodes
/// a new node could equal are among the other users of its operands, usually a handful and
/// close by in memory (a hash table over a million nodes misses the cache on every probe).
///
/// A node is filed under whichever operand has the shorter list; a lookup scans both lists.
/// Lists stop at `maxChain` entries: a node both of whose operands have full lists (a shared
/// constant and another widely used value) goes to a dictionary, so lookups stay O(1).
struct OperandIndex {
    /// Per value id: the first node of its list (−1: none) and the list's length.
    private var head: [Int32]
    private var length: [UInt8]
    /// Per node id: the next node of the same list, and the node's key.
    private var next: [Int32]
    private var keys: [CSEPass.SmallKey?]
    private var overflow: [CSEPass.SmallKey: ValueID] = [:]
    static let maxChain: UInt8 = 16

    init(capacity: Int) {
        let n = Swift.max(capacity, 16)
        head = [Int32](repeating: -1, count: n)
        length = [UInt8](repeating: 0, count: n)
        next = [Int32](repeating: -1, count: n)
        keys = [CSEPass.SmallKey?](repeating: nil, count: n)
    }

    subscript(key: CSEPass.SmallKey) -> ValueID? {
        if let hit = scan(key.a, key) { return hit }
        if key.b != key.a, let hit = scan(key.b, key) { return hit }
        // Keys that could not be filed in a list (both lists full, or an id beyond 32 bits).
        return overflow.isEmpty ? nil : overflow[key]
    }

    private func scan(_ operand: Int, _ key: CSEPass.SmallKey) -> ValueID? {
        guard operand >= 0, operand < head.count else { return nil }
        var u = Int(head[operand])
        while u >= 0 {
            if keys[u] == key { return u }
            u = Int(next[u])
        }
        return nil
    }

    /// Records that node `id` (not yet recorded) has `key`.
    mutating func insert(_ key: CSEPass.SmallKey, as id: ValueID) {
        guard key.a >= 0, id >= 0, let id32 = Int32(exactly: id) else { overflow[key] = id; return }
        reserve(Swift.max(key.a, key.b, id) + 1)
        assert(keys[id] == nil, "a node is recorded once (a second insert could close a cycle in a list)")
        var anchor = key.a
        if key.b >= 0, length[key.b] < length[key.a] { anchor = key.b }
        if length[anchor] >= OperandIndex.maxChain {
            overflow[key] = id
            return
        }
        keys[id] = key
        next[id] = head[anchor]
        head[anchor] = id32
        length[anchor] += 1
    }

    /// Makes room for ids below `n` (doubling, so growing one id at a time stays linear).
    private mutating func reserve(_ n: Int) {
        guard n > head.count else { return }
        let grown = Swift.max(n, 2 * head.count) - head.count
        head.append(contentsOf: repeatElement(-1, count: grown))
        length.append(contentsOf: repeatElement(0, count: grown))
        next.append(contentsOf: repeatElement(-1, count: grown))
        keys.append(contentsOf: repeatElement(nil, count: grown))
    }
}
