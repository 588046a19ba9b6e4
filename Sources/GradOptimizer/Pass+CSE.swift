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
    private var table: NodeTable
    /// The hash `rewrite` computed for the node it was last offered, and the id that node
    /// gets if it is kept next (then `kept` does not hash it again); cleared by the fused
    /// sweep when another rule replaced the node.
    private var pending: (hash: Int, id: ValueID)?
    private var small: OperandIndex
    private var scalarConstants: [SmallKey: ValueID] = [:]
    private var constants: [ConstKey: ValueID] = [:]

    init(capacity: Int = 0) {
        small = OperandIndex(capacity: capacity)
        table = NodeTable()
    }

    /// Forgets the hash of the node last offered (another rule replaced it).
    mutating func dropPending() {
        pending = nil
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

    /// A constant's identity, with numbers compared by bit pattern (`integers`: the bits are
    /// those of i64s, from a constant a double cannot hold exactly).
    struct ConstKey: Hashable {
        var type: TensorType
        var bits: [UInt64]
        var splat: Bool
        var integers = false
    }

    /// A scalar constant's identity in plain integers: its bits and its dtype.
    static func scalarConstKey(_ node: Node) -> SmallKey? {
        guard node.type.shape.isEmpty, node.attrs.values == nil, let v = node.attrs.exactValue else { return nil }
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
        switch (node.attrs[.value], node.attrs[.values]) {
        case (.int(let v)?, nil) where node.attrs.exactValue == nil:
            return ConstKey(type: node.type, bits: [UInt64(bitPattern: Int64(v))], splat: true, integers: true)
        case (nil, .ints(let vs)?) where node.attrs.exactValues == nil:
            return ConstKey(type: node.type, bits: vs.map { UInt64(bitPattern: Int64($0)) }, splat: false, integers: true)
        default:
            break
        }
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
            let hash = NodeTable.hash(node)
            if let hit = table.find(node, hash: hash, in: r) {
                pending = nil
                return hit
            }
            pending = (hash, r.count)
            return nil
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
                let hash = pending.flatMap { $0.id == id ? $0.hash : nil } ?? NodeTable.hash(node)
                pending = nil
                table.insert(hash: hash, id: id)
            }
        }
    }
}
