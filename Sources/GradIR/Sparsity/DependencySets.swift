// The per-element dependency sets the propagation carries from node to node: for each element
// of a value (row-major), the sorted set of x's elements it depends on.

/// Which of a value's distinct sets each element has.
enum ElementMap {
    /// Element `e` has set `e` (as many sets as elements).
    case identity
    /// Every element has the same set (`-1`: the empty set): a broadcast scalar costs one set.
    case uniform(Int32)
    /// Element `e` has set `table[e]` (`-1`: empty). Data movement (slice, transpose,
    /// broadcast, take) only rewrites this table and shares the sets.
    case table([Int32])
}

/// The dependency sets of one value: a pool of distinct sorted sets in CSR form (flat arrays,
/// no array per element) and each element's set in the pool.
struct DependencySets {
    /// `setCount + 1` offsets into `indices`.
    var starts: [Int]
    /// The sets, each ascending, concatenated.
    var indices: [Int32]
    var map: ElementMap
    /// Elements of the value.
    var count: Int

    var setCount: Int { starts.count - 1 }
    /// Whether every element depends on nothing.
    var isEmpty: Bool { indices.isEmpty }

    /// No element depends on anything.
    static func empty(_ count: Int) -> DependencySets {
        DependencySets(starts: [0], indices: [], map: .uniform(-1), count: count)
    }

    /// Element `e` depends on x's element `e` only (the seed: x itself).
    static func identity(_ count: Int) -> DependencySets {
        DependencySets(starts: Array(0...count), indices: (0..<count).map { Int32($0) }, map: .identity, count: count)
    }

    /// The set of element `e`, `-1` for the empty set.
    @inline(__always) func setID(_ e: Int) -> Int32 {
        switch map {
        case .identity: return Int32(e)
        case .uniform(let s): return s
        case .table(let t): return t[e]
        }
    }

    /// A reader of the element → set map for hot loops (no enum payload taken apart per element).
    var ids: SetIDReader {
        switch map {
        case .identity: return SetIDReader(kind: 0, uniform: -1, table: [])
        case .uniform(let s): return SetIDReader(kind: 1, uniform: s, table: [])
        case .table(let t): return SetIDReader(kind: 2, uniform: -1, table: t)
        }
    }

    /// The range of `indices` holding set `id` (empty for `-1`).
    @inline(__always) func range(_ id: Int32) -> Range<Int> {
        id < 0 ? 0..<0 : starts[Int(id)]..<starts[Int(id) + 1]
    }

    /// Each element's set id.
    func table() -> [Int32] {
        switch map {
        case .identity: return (0..<count).map { Int32($0) }
        case .uniform(let s): return [Int32](repeating: s, count: count)
        case .table(let t): return t
        }
    }

    /// The ids of the non-empty sets some element has, ascending.
    func usedSets() -> [Int32] {
        switch map {
        case .identity:
            return (0..<setCount).compactMap { starts[$0] < starts[$0 + 1] ? Int32($0) : nil }
        case .uniform(let s):
            return count > 0 && s >= 0 && !range(s).isEmpty ? [s] : []
        case .table(let t):
            var seen = [Bool](repeating: false, count: setCount)
            var out: [Int32] = []
            for s in t where s >= 0 && !seen[Int(s)] {
                seen[Int(s)] = true
                if !range(s).isEmpty { out.append(s) }
            }
            return out.sorted()
        }
    }

    /// The value whose element `e` has the set of element `source[e]` of this one (`-1`: an
    /// element that depends on nothing, like padding): every data-movement op.
    func remapped(_ source: [Int]) -> DependencySets {
        if isEmpty { return .empty(source.count) }
        switch map {
        case .uniform(let s) where !source.contains(-1):
            return DependencySets(starts: starts, indices: indices, map: .uniform(s), count: source.count)
        default:
            var t = [Int32](repeating: -1, count: source.count)
            switch map {
            case .identity:
                for (e, k) in source.enumerated() where k >= 0 { t[e] = Int32(k) }
            case .uniform(let s):
                for (e, k) in source.enumerated() where k >= 0 { t[e] = s }
            case .table(let old):
                for (e, k) in source.enumerated() where k >= 0 { t[e] = old[k] }
            }
            return DependencySets(starts: starts, indices: indices, map: .table(t), count: source.count)
        }
    }

    /// The same sets for a value of another shape with the same elements in the same order
    /// (reshape, expand_dims, squeeze, cast).
    func resized(_ n: Int) -> DependencySets {
        var d = self
        d.count = n
        return d
    }
}

/// `DependencySets.setID` with the map's case read once.
struct SetIDReader {
    let kind: UInt8
    let uniform: Int32
    let table: [Int32]

    @inline(__always) subscript(_ e: Int) -> Int32 {
        kind == 2 ? table[e] : kind == 0 ? Int32(truncatingIfNeeded: e) : uniform
    }
}

/// Builds unions of sets: marks each x element once per union (a stamp array as long as x),
/// then sorts what it collected.
struct SetUnion {
    private var mark: [UInt32]
    private var stamp: UInt32 = 0
    private(set) var collected: [Int32] = []

    init(columns: Int) {
        mark = [UInt32](repeating: 0, count: columns)
    }

    mutating func begin() {
        stamp &+= 1
        if stamp == 0 {
            for i in mark.indices { mark[i] = 0 }
            stamp = 1
        }
        collected.removeAll(keepingCapacity: true)
    }

    mutating func add(_ d: DependencySets, _ id: Int32) {
        if id < 0 { return }
        for k in d.range(id) { add(d.indices[k]) }
    }

    @inline(__always) mutating func add(_ c: Int32) {
        if mark[Int(c)] != stamp {
            mark[Int(c)] = stamp
            collected.append(c)
        }
    }

    /// Adds the collected set, sorted, to a pool.
    mutating func finish(into indices: inout [Int32]) {
        if collected.count <= 24 {
            // Insertion sort: unions of a few small sets are the common case.
            var i = 1
            while i < collected.count {
                let v = collected[i]
                var j = i - 1
                while j >= 0 && collected[j] > v {
                    collected[j + 1] = collected[j]
                    j -= 1
                }
                collected[j + 1] = v
                i += 1
            }
        } else if collected.count > mark.count / 8 {
            // Dense: read the marks in order instead of sorting.
            collected.removeAll(keepingCapacity: true)
            for c in mark.indices where mark[c] == stamp { collected.append(Int32(c)) }
        } else {
            collected.sort()
        }
        indices.append(contentsOf: collected)
    }
}
