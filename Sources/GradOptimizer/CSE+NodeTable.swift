// The lookup structure behind CSE's hash-consing of nodes with attributes or more than two
// operands (speed, not semantics).
import GradIR

/// Nodes filed by a structural hash, kept as ids into the graph being rebuilt: the table
/// holds no copy of a node (a `[Node: ValueID]` retained every node's arrays, and rehashed
/// every node — attributes, a 100 000-operand `concat` — each time it grew). A hit is
/// confirmed by comparing with the node in the graph.
///
/// Open addressing with linear probing over (hash, id) pairs; the stored hash makes growing
/// a move of integers and lets a probe skip non-matching entries without reading the graph.
struct NodeTable {
    private var hashes: [Int]
    /// The node id of each slot; −1 when empty.
    private var ids: [Int]
    private(set) var count = 0

    init(capacity: Int = 0) {
        var n = 16
        while n < 2 * capacity { n <<= 1 }
        hashes = [Int](repeating: 0, count: n)
        ids = [Int](repeating: -1, count: n)
    }

    /// The structural hash of `node`: op, operands (in CSE's order for a commutative op),
    /// attributes (numbers by bit pattern) and type — what `Node.==` compares.
    static func hash(_ node: Node) -> Int {
        var h = StructuralHasher()
        h.combine(UInt64(node.op.tableIndex))
        let inputs = node.inputs
        h.combine(UInt64(inputs.count))
        if node.op.isCommutative, inputs.count == 2, inputs[0] > inputs[1] {
            h.combine(UInt64(bitPattern: Int64(inputs[1])))
            h.combine(UInt64(bitPattern: Int64(inputs[0])))
        } else {
            for id in inputs { h.combine(UInt64(bitPattern: Int64(id))) }
        }
        let items = node.attrs.items
        h.combine(UInt64(items.count))
        for item in items {
            h.combine(UInt64(item.key.rawTag))
            switch item.value {
            case .int(let v): h.combine(0); h.combine(UInt64(bitPattern: Int64(v)))
            case .ints(let v): h.combine(1); h.combine(UInt64(v.count)); for x in v { h.combine(UInt64(bitPattern: Int64(x))) }
            case .bool(let v): h.combine(2); h.combine(v ? 1 : 0)
            case .float(let v): h.combine(3); h.combine(v.bitPattern)
            case .floats(let v): h.combine(4); h.combine(UInt64(v.count)); for x in v { h.combine(x.bitPattern) }
            case .dtype(let v): h.combine(5); h.combine(UInt64(v.tag))
            }
        }
        h.combine(UInt64(node.type.dtype.tag))
        h.combine(UInt64(node.type.shape.count))
        for d in node.type.shape { h.combine(UInt64(bitPattern: Int64(d))) }
        return h.finalize()
    }

    /// Whether `node` equals node `id` of `graph` as CSE compares them (`Node.==`, with the
    /// operands of a commutative op in either order).
    static func equal(_ node: Node, _ id: ValueID, _ graph: borrowing Rewriter) -> Bool {
        guard id < graph.count, graph.op(id) == node.op else { return false }
        let other = graph.inputs(id)
        let inputs = node.inputs
        if node.op.isCommutative, inputs.count == 2, other.count == 2 {
            guard min(inputs[0], inputs[1]) == min(other[0], other[1]),
                  max(inputs[0], inputs[1]) == max(other[0], other[1]) else { return false }
        } else if inputs != other {
            return false
        }
        return graph.type(id) == node.type && graph.attrs(id) == node.attrs
    }

    /// The id of a node of `graph` equal to `node`, whose hash is `hash`.
    func find(_ node: Node, hash: Int, in graph: borrowing Rewriter) -> ValueID? {
        let mask = ids.count - 1
        var slot = hash & mask
        while ids[slot] >= 0 {
            if hashes[slot] == hash, Self.equal(node, ids[slot], graph) { return ids[slot] }
            slot = (slot + 1) & mask
        }
        return nil
    }

    /// Files node `id` under `hash` (a node equal to an earlier one is not filed: CSE
    /// replaced it by that one).
    mutating func insert(hash: Int, id: ValueID) {
        if 2 * (count + 1) > ids.count { grow() }
        place(hash, id)
        count += 1
    }

    private mutating func place(_ hash: Int, _ id: ValueID) {
        let mask = ids.count - 1
        var slot = hash & mask
        while ids[slot] >= 0 { slot = (slot + 1) & mask }
        hashes[slot] = hash
        ids[slot] = id
    }

    /// Doubles the slots and refiles every entry by its stored hash.
    private mutating func grow() {
        let (oldHashes, oldIDs) = (hashes, ids)
        hashes = [Int](repeating: 0, count: 2 * oldIDs.count)
        ids = [Int](repeating: -1, count: 2 * oldIDs.count)
        for k in oldIDs.indices where oldIDs[k] >= 0 { place(oldHashes[k], oldIDs[k]) }
    }
}

/// A fast 64-bit hash of a sequence of words (multiply–xorshift, finalized by splitmix64's
/// mixer): not keyed, so only for tables whose keys come from the graph, where a collision
/// costs one comparison.
struct StructuralHasher {
    private var state: UInt64 = 0x243F_6A88_85A3_08D3

    @inline(__always) mutating func combine(_ v: UInt64) {
        state = (state ^ v) &* 0x9E37_79B9_7F4A_7C15
        state ^= state >> 29
    }

    @inline(__always) func finalize() -> Int {
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int(bitPattern: UInt(z ^ (z >> 31)))
    }
}

extension Op {
    /// The case's position in declaration order.
    @inline(__always) var tableIndex: UInt16 {
        MemoryLayout<Op>.size == 1 ? UInt16(unsafeBitCast(self, to: UInt8.self)) : UInt16(truncatingIfNeeded: hashValue)
    }
}

extension AttrKey {
    /// The key's one-byte tag.
    @inline(__always) var rawTag: UInt8 { unsafeBitCast(self, to: UInt8.self) }
}

extension DType {
    /// The case's position in declaration order.
    @inline(__always) var tag: UInt8 { unsafeBitCast(self, to: UInt8.self) }
}
