/// The machinery every local pass shares: one walk over the nodes in order that rewrites the
/// node array in place with a remap (O(n), never quadratic).
///
/// For each node, the pass sees the node with its operands already rewritten (they refer to
/// the new graph) and either keeps it or returns a replacement value — an existing node or one
/// it emitted. New nodes are appended after their operands, so the order stays topological.
///
/// In place: the new graph grows at the front of the function's own array while the old nodes
/// are taken from behind it, so a sweep allocates no second array of a million nodes (nor
/// faults one in) and moves nodes instead of copying them. A removed node leaves a free slot;
/// a node emitted when there is none pushes the next old node out of its slot into
/// `displaced`, which is read first, so the old nodes are still seen in order. A graph that
/// grows past the array's end continues in `overflow`.
///
/// The slots are the array's storage, lent by `applyLocal` for the sweep: free slots are
/// uninitialized memory, so moving a node in or out costs no reference counting. `finish`
/// fills them before the storage is handed back.
struct Rewriter {
    /// Slots `0..<min(count, slots.count)` hold the new graph, `count..<readPosition` are free
    /// (uninitialized), `readPosition..<slots.count` are old nodes not yet taken.
    private let slots: UnsafeMutableBufferPointer<Node>
    /// The new graph's nodes from id `slots.count` on (only once every slot holds one).
    private var overflow: [Node] = []
    /// The new graph's size: the id the next appended node gets.
    private(set) var count = 0
    private var readPosition = 0
    /// Old nodes not yet taken that an appended node pushed out of their slot, in order from
    /// `displacedHead`; they come before `slots[readPosition...]`.
    private var displaced: [Node] = []
    private var displacedHead = 0
    /// Whether anything was replaced or emitted.
    var changed = false

    init(slots: UnsafeMutableBufferPointer<Node>) {
        self.slots = slots
    }

    /// Slot `i`, which the caller knows to be in range.
    private func slot(_ i: Int) -> UnsafeMutablePointer<Node> {
        slots.baseAddress.unsafelyUnwrapped + i  // in range, so the storage is not empty
    }

    // Rules read only the new graph's ids (operands are renumbered before a rule sees them);
    // a slot past `count` may be uninitialized.
    subscript(id: ValueID) -> Node {
        assert(id < count, "a rule reads only the new graph")
        return id < slots.count ? slots[id] : overflow[id - slots.count]
    }
    func type(_ id: ValueID) -> TensorType {
        assert(id < count, "a rule reads only the new graph")
        return id < slots.count ? slots[id].type : overflow[id - slots.count].type
    }
    func op(_ id: ValueID) -> Op {
        assert(id < count, "a rule reads only the new graph")
        return id < slots.count ? slots[id].op : overflow[id - slots.count].op
    }
    /// The operands of `id` (without copying the whole node).
    func inputs(_ id: ValueID) -> Operands {
        assert(id < count, "a rule reads only the new graph")
        return id < slots.count ? slots[id].inputs : overflow[id - slots.count].inputs
    }
    /// The attributes of `id` (without copying the whole node).
    func attrs(_ id: ValueID) -> Attributes {
        assert(id < count, "a rule reads only the new graph")
        return id < slots.count ? slots[id].attrs : overflow[id - slots.count].attrs
    }

    /// Moves the next old node (in the original order) out of its slot.
    mutating func takeNextOriginal() -> Node {
        if displacedHead < displaced.count {
            var node = Node.hole
            swap(&node, &displaced[displacedHead])
            displacedHead += 1
            if displacedHead == displaced.count {
                displaced.removeAll(keepingCapacity: true)
                displacedHead = 0
            }
            return node
        }
        precondition(readPosition < slots.count, "no old node left to take")  // trap-ok: applyLocal takes each old node once
        readPosition += 1
        return slot(readPosition - 1).move()
    }

    /// Appends `node` to the new graph (moved, not copied) and returns its id.
    mutating func append(_ node: consuming Node) -> ValueID {
        if count < readPosition {
            slot(count).initialize(to: node)  // a free slot
        } else if readPosition < slots.count {
            // No free slot: the next old node moves aside.
            displaced.append(slot(readPosition).move())
            slot(readPosition).initialize(to: node)
            readPosition += 1
        } else {
            overflow.append(node)
        }
        count += 1
        return count - 1
    }

    /// Removes and returns the nodes from `mark` on (their slots become free).
    mutating func removeTail(from mark: Int) -> [Node] {
        var removed: [Node] = []
        removed.reserveCapacity(count - mark)
        for id in min(mark, slots.count)..<min(count, slots.count) { removed.append(slot(id).move()) }
        if count > slots.count {
            let start = max(mark - slots.count, 0)
            removed.append(contentsOf: overflow[start...])
            overflow.removeSubrange(start...)
        }
        count = mark
        return removed
    }

    /// Fills the free slots with placeholder nodes, so the storage is fully initialized again,
    /// and returns how many there are (at the end of a sweep: the slots past the new graph)
    /// and the nodes past the array's end.
    consuming func finish() -> (freeSlots: Int, overflow: [Node]) {
        // Free slots exist only while the new graph is shorter than the array.
        let free = max(readPosition - count, 0)
        for i in (readPosition - free)..<readPosition { slot(i).initialize(to: Node.hole) }
        return (free, overflow)
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
        return splatValue(of: attrs(id))
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
    /// A placeholder for a free slot (no storage of its own).
    static var hole: Node { Node(op: .input, type: TensorType(.f64)) }

    /// The value of a constant whose elements are all the same bits, else `nil`.
    var splatValue: Double? { op == .const ? GradOptimizer.splatValue(of: attrs) : nil }
}

/// The value of a constant with these attributes whose elements are all the same bits, else
/// `nil` (also for an i64 beyond ±2^53, which a double cannot hold: such constants are opaque).
func splatValue(of attrs: Attributes) -> Double? {
    if let v = attrs.exactValue { return v }
    guard let values = attrs.exactValues, let first = values.first else { return nil }
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
    var remap = [ValueID](repeating: 0, count: count)
    var result: Result<(changed: Bool, atFixpoint: Bool), Diagnostic> = .success((false, true))
    var freeSlots = 0
    var overflow: [Node] = []
    f.nodes.withUnsafeMutableBufferPointer { slots in
        var sweep = Sweep(rewriter: Rewriter(slots: slots))
        do throws(Diagnostic) {
            var shifted = false
            for id in 0..<count {
                var node = sweep.rewriter.takeNextOriginal()
                if shifted {
                    for k in node.inputs.indices {
                        let old = node.inputs[k]
                        let new = remap[old]
                        if new != old { node.inputs[k] = new }
                    }
                }
                let newID = try sweep.settle(consume node, depth: 0, &pass)
                remap[id] = newID
                if newID != id { shifted = true }
            }
            result = .success((sweep.rewriter.changed, sweep.atFixpoint))
        } catch {
            result = .failure(error)
        }
        // On an error too: the storage must be whole again before the array gets it back.
        (freeSlots, overflow) = (consume sweep).rewriter.finish()
    }
    // After an error the nodes are a mix of old and new (whole, but meaningless): callers
    // pass the error on and drop the function.
    let (changed, atFixpoint) = try result.get()
    f.nodes.removeLast(freeSlots)
    f.nodes.append(contentsOf: overflow)
    guard changed else { return LocalOutcome(changed: false, atFixpoint: true) }
    for i in f.parameters.indices { f.parameters[i].value = remap[f.parameters[i].value] }
    for i in f.outputs.indices { f.outputs[i].value = remap[f.outputs[i].value] }
    return LocalOutcome(changed: true, atFixpoint: atFixpoint)
}

/// One sweep's state: the graph being rebuilt and whether a rewrite chain was cut off.
private struct Sweep {
    var rewriter: Rewriter
    var atFixpoint = true

    /// The value `node` becomes: a replacement from the rules (whose own new nodes are settled
    /// first, recursively) or the node itself, kept.
    mutating func settle<P: LocalRewrite>(_ node: consuming Node, depth: Int, _ pass: inout P) throws(Diagnostic) -> ValueID {
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
        pass.kept(node, as: rewriter.count)
        return rewriter.append(node)  // moved, not copied
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
            settled.append(try settle(node, depth: depth, &pass))
        }
        return value >= mark ? settled[value - mark] : value
    }
}
