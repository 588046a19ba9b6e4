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
            if CSEPass.isCommutative(node.op), a > b { return SmallKey(op: node.op, a: b, b: a) }
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

    static func isCommutative(_ op: Op) -> Bool {
        switch op {
        case .add, .mul, .eq, .ne: return true
        default: return false
        }
    }

    func key(_ node: Node) -> Node {
        guard CSEPass.isCommutative(node.op), node.inputs.count == 2, node.inputs[0] > node.inputs[1] else { return node }
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

/// Nodes of one or two operands indexed by their latest operand: the earlier nodes a new node
/// could equal are the other users of that operand, usually a handful and close by in memory
/// (hash-consing through use lists; a hash table over a million nodes misses the cache on
/// every probe). An operand with many users gets its further users in a dictionary, so a
/// lookup stays O(1).
struct OperandIndex {
    /// Per value id: the first node of its chain (−1: none) and how long the chain is.
    private var head: [Int32] = []
    private var length: [UInt8] = []
    /// Per node id: the next node of the same chain, and the node's key.
    private var next: [Int32] = []
    private var keys: [CSEPass.SmallKey?] = []
    /// Keys of users beyond `maxChain` of one operand.
    private var overflow: [CSEPass.SmallKey: ValueID] = [:]
    static let maxChain: UInt8 = 16

    init(capacity: Int) {
        head.reserveCapacity(capacity)
        length.reserveCapacity(capacity)
        next.reserveCapacity(capacity)
        keys.reserveCapacity(capacity)
    }

    private static func anchor(_ key: CSEPass.SmallKey) -> Int { Swift.max(key.a, key.b) }

    subscript(key: CSEPass.SmallKey) -> ValueID? {
        let m = OperandIndex.anchor(key)
        guard m >= 0, m < head.count else { return nil }
        var u = Int(head[m])
        while u >= 0 {
            if keys[u] == key { return u }
            u = Int(next[u])
        }
        return length[m] >= OperandIndex.maxChain ? overflow[key] : nil
    }

    /// Records that node `id` (not yet recorded) has `key`.
    mutating func insert(_ key: CSEPass.SmallKey, as id: ValueID) {
        let m = OperandIndex.anchor(key)
        guard m >= 0, id >= 0, let id32 = Int32(exactly: id) else { overflow[key] = id; return }
        let needed = Swift.max(m, id) + 1
        if head.count < needed {
            head.append(contentsOf: repeatElement(-1, count: needed - head.count))
            length.append(contentsOf: repeatElement(0, count: needed - length.count))
        }
        if next.count < needed {
            next.append(contentsOf: repeatElement(-1, count: needed - next.count))
            keys.append(contentsOf: repeatElement(nil, count: needed - keys.count))
        }
        if length[m] >= OperandIndex.maxChain {
            overflow[key] = id
            return
        }
        keys[id] = key
        next[id] = head[m]
        head[m] = id32
        length[m] += 1
    }
}
