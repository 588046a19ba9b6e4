/// The machinery every local pass shares: one walk over the nodes in order that rebuilds the
/// node array with a remap (O(n), never quadratic).
///
/// For each node, the pass sees the node with its operands already rewritten (they refer to
/// the new graph) and either keeps it or returns a replacement value — an existing node or one
/// it emitted. New nodes are appended after their operands, so the order stays topological.
struct Rewriter {
    /// The new graph is `base[0..<prefix]` followed by `tail`: until the first change, kept
    /// nodes are not copied at all (a pass that changes nothing costs one scan).
    private let base: [Node]
    private(set) var prefix = 0
    private var tail: [Node] = []
    /// Whether anything was replaced or emitted.
    var changed = false

    init(base: [Node]) {
        self.base = base
    }

    var count: Int { prefix + tail.count }

    subscript(id: ValueID) -> Node { id < prefix ? base[id] : tail[id - prefix] }
    func type(_ id: ValueID) -> TensorType { id < prefix ? base[id].type : tail[id - prefix].type }
    func op(_ id: ValueID) -> Op { id < prefix ? base[id].op : tail[id - prefix].op }
    /// The operands of `id` (without copying the whole node).
    func inputs(_ id: ValueID) -> Operands { id < prefix ? base[id].inputs : tail[id - prefix].inputs }

    /// The id `node` gets when kept: `original` itself while nothing before it has moved (see
    /// `keep`), else the next id.
    func idWhenKept(original: ValueID?) -> ValueID {
        if let original, tail.isEmpty && original == prefix { return original }
        return count
    }

    /// Keeps `node` as `idWhenKept(original:)`: free while nothing has changed so far (the
    /// node stays in `base`), else moved into the tail.
    mutating func keep(_ node: consuming Node, original: ValueID?) {
        if let original, tail.isEmpty && original == prefix {
            prefix += 1
        } else {
            _ = append(node)
        }
    }

    mutating func append(_ node: consuming Node) -> ValueID {
        if tail.isEmpty { tail.reserveCapacity(base.count + 16) }  // room for the prefix, too
        tail.append(node)
        return count - 1
    }

    /// Removes and returns the nodes from `mark` on (all appended since the sweep's first
    /// change, so they are in the tail).
    mutating func removeTail(from mark: Int) -> [Node] {
        assert(mark >= prefix, "only nodes appended during a rewrite are taken back")
        let start = mark - prefix
        let removed = Array(tail[start...])
        tail.removeSubrange(start...)
        return removed
    }

    /// The new graph's nodes. Consuming: the tail, usually nearly all of them, is moved into
    /// the result, not copied.
    consuming func takeNodes() -> [Node] {
        if tail.isEmpty { return Array(base[0..<prefix]) }
        var all = tail
        tail = []
        if prefix > 0 { all.insert(contentsOf: base[0..<prefix], at: 0) }
        return all
    }

    /// Appends `op(inputs, attrs)` with its type inferred; role and location come from `origin`.
    mutating func emit(_ op: Op, _ inputs: Operands, _ attrs: Attributes = Attributes(), like origin: Node) throws(Diagnostic) -> ValueID {
        let type: TensorType
        if let first = inputs.first, inputs.count == 1 || (inputs.count == 2 && self.type(inputs[1]) == self.type(first)),
           let t = op.sameTypeElementwiseResult(self.type(first), operandCount: inputs.count) {
            type = t
        } else {
            type = try op.inferType(inputs.map { self.type($0) }, attrs)
        }
        changed = true
        return append(Node(op: op, inputs: inputs, attrs: attrs, type: type, role: origin.role, location: origin.location))
    }

    /// A splat constant of `type`.
    mutating func constant(_ value: Double, _ type: TensorType, like origin: Node) -> ValueID {
        changed = true
        return append(Node(op: .const, attrs: splatAttributes(value, type), type: type, role: origin.role, location: origin.location))
    }

    /// `x` broadcast to `type` (x itself if it already has it), or `nil` when the dtype differs
    /// or x does not broadcast to it.
    mutating func broadcast(_ x: ValueID, to type: TensorType, like origin: Node) throws(Diagnostic) -> ValueID? {
        let t = self.type(x)
        if t == type { return x }
        guard t.dtype == type.dtype, broadcastShapes(t.shape, type.shape) == type.shape else { return nil }
        return try emit(.broadcast_to, [x], Attributes([.shape: .ints(type.shape)]), like: origin)
    }

    /// The value every element of constant `id` has, if it is a constant with one value.
    func splat(_ id: ValueID) -> Double? {
        guard op(id) == .const else { return nil }
        // Through the stored `attrs` (a computed property of the element would copy the node).
        return splatValue(of: id < prefix ? base[id].attrs : tail[id - prefix].attrs)
    }

    /// Whether `id` is a constant all of whose elements are exactly `v` (bitwise for zeros:
    /// −0 and +0 differ; NaN never matches).
    func isSplat(_ id: ValueID, _ v: Double) -> Bool {
        guard let s = splat(id) else { return false }
        return s == v && s.sign == v.sign
    }
}

/// The attributes of a splat constant: `dtype`, `shape` (omitted for scalars), `value`.
func splatAttributes(_ value: Double, _ type: TensorType) -> Attributes {
    var attrs = Attributes()
    if !type.shape.isEmpty { attrs[.shape] = .ints(type.shape) }
    attrs[.dtype] = .dtype(type.dtype)
    attrs[.value] = .float(value)
    return attrs
}

extension Node {
    /// The value of a constant whose elements are all the same bits, else `nil`.
    var splatValue: Double? { op == .const ? GradOptimizer.splatValue(of: attrs) : nil }
}

/// The value of a constant with these attributes whose elements are all the same bits, else `nil`.
func splatValue(of attrs: Attributes) -> Double? {
    if let v = attrs.value { return v }
    guard let values = attrs.values, let first = values.first else { return nil }
    let bits = first.bitPattern
    return values.allSatisfy({ $0.bitPattern == bits }) ? first : nil
}

/// A pass made of local rewrites.
protocol LocalRewrite {
    /// A replacement for `node` (whose operands refer to the new graph) of the same type, or
    /// `nil` to keep it.
    mutating func rewrite(_ node: Node, _ r: inout Rewriter) throws(Diagnostic) -> ValueID?
    /// Called when `node` was kept as the new value `id`.
    mutating func kept(_ node: Node, as id: ValueID)
}

extension LocalRewrite {
    mutating func kept(_ node: Node, as id: ValueID) {}
}

/// What one sweep of a local pass did.
struct LocalOutcome {
    /// Whether the function changed.
    var changed: Bool
    /// Whether every node of the result has been offered to every rule with its operands in
    /// their final form, so another sweep would change nothing (false only when a chain of
    /// rewrites was cut off at `maxSettleDepth`).
    var atFixpoint: Bool
}

/// How many times the nodes a rule emits are rewritten again in the same sweep before they are
/// kept as they are (a guard against rules that undo each other).
let maxSettleDepth = 8

/// Applies a local pass to every node in order.
///
/// Nodes a rule emits are offered to the rules again right away (their operands are final by
/// then), and every kept node is reported to the pass (CSE registers it). So one sweep leaves
/// the graph at the pass's fixpoint: each kept node was seen by every rule with its operands —
/// and their operands, which some rules inspect — in final form, and no kept node equals an
/// earlier one. A replacement whose type differs from the node's is refused (the node is
/// kept), so a faulty rule cannot change the graph's types.
func applyLocal<P: LocalRewrite>(_ pass: inout P, to f: inout Function) throws(Diagnostic) -> LocalOutcome {
    let count = f.nodes.count
    var sweep = Sweep(rewriter: Rewriter(base: f.nodes))
    var remap = [ValueID](repeating: 0, count: count)
    var shifted = false
    for id in 0..<count {
        var node = f.nodes[id]
        if shifted {
            for k in node.inputs.indices {
                let old = node.inputs[k]
                let new = remap[old]
                if new != old { node.inputs[k] = new }
            }
        }
        let newID = try sweep.settle(consume node, original: shifted ? nil : id, depth: 0, &pass)
        remap[id] = newID
        if newID != id { shifted = true }
    }
    guard sweep.rewriter.changed else { return LocalOutcome(changed: false, atFixpoint: true) }
    let atFixpoint = sweep.atFixpoint
    let rewriter = (consume sweep).rewriter
    f.nodes = []  // the old array is freed as soon as the rewriter lets go of it
    f.nodes = rewriter.takeNodes()
    for i in f.parameters.indices { f.parameters[i].value = remap[f.parameters[i].value] }
    for i in f.outputs.indices { f.outputs[i].value = remap[f.outputs[i].value] }
    return LocalOutcome(changed: true, atFixpoint: atFixpoint)
}

/// One sweep's state: the graph being rebuilt and whether a rewrite chain was cut off.
private struct Sweep {
    var rewriter: Rewriter
    var atFixpoint = true

    /// The value `node` becomes: a replacement from the rules (whose own new nodes are settled
    /// first, recursively) or the node itself, kept. `original` is the node's id in the old
    /// graph while nothing before it has moved (it is then kept without a copy).
    mutating func settle<P: LocalRewrite>(_ node: consuming Node, original: ValueID?, depth: Int, _ pass: inout P) throws(Diagnostic) -> ValueID {
        if node.op != .input {
            let mark = rewriter.count
            if var replacement = try pass.rewrite(node, &rewriter) {
                if rewriter.count > mark {
                    if depth < maxSettleDepth {
                        replacement = try resettle(from: mark, replacement, depth: depth + 1, &pass)
                    } else {
                        atFixpoint = false
                        for id in mark..<rewriter.count { pass.kept(rewriter[id], as: id) }
                    }
                }
                if rewriter.type(replacement) == node.type {
                    rewriter.changed = true
                    return replacement
                }
                // A faulty rule's replacement of another type: the node is kept; what the rule
                // emitted stays behind, dead, for DCE (and `changed` stays set, so the bug shows
                // as an extra round — in verifying builds as an internal error).
            } else {
                assert(rewriter.count == mark, "a rule that keeps the node must not emit nodes")
            }
        }
        let id = rewriter.idWhenKept(original: original)
        pass.kept(node, as: id)
        rewriter.keep(node, original: original)  // moved, not copied
        return id
    }

    /// Takes back the nodes emitted since `mark` and settles each in order (it may fold,
    /// merge with an earlier node or be rewritten further); returns what `value` became.
    private mutating func resettle<P: LocalRewrite>(from mark: Int, _ value: ValueID, depth: Int, _ pass: inout P) throws(Diagnostic) -> ValueID {
        let emitted = rewriter.removeTail(from: mark)
        var settled: [ValueID] = []
        settled.reserveCapacity(emitted.count)
        for var node in emitted {
            for k in node.inputs.indices where node.inputs[k] >= mark {
                node.inputs[k] = settled[node.inputs[k] - mark]
            }
            settled.append(try settle(node, original: nil, depth: depth, &pass))
        }
        return value >= mark ? settled[value - mark] : value
    }
}
