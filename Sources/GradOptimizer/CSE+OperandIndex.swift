// The lookup structure behind CSE's hash-consing of small nodes (speed, not semantics).

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
