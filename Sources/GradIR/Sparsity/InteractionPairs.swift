/// The nonlinear interactions a Hessian pattern is made of (Walther 2008): pairs `(i, j)` of
/// x's elements that meet in a nonlinear node on a path to f. Collected in flat arrays,
/// compacted (sorted, duplicates dropped) whenever they grow past a threshold, so repeated
/// pairs cost memory only until the next compaction.
struct InteractionPairs {
    private var rows: [Int32] = []
    private var columns: [Int32] = []
    /// x's element count (the pattern is `n × n`).
    let n: Int
    let limit: Int
    /// Pairs held after the last compaction (all distinct).
    private var distinct = 0
    private var threshold: Int
    /// Whether every product added was a set times itself (then the pairs are symmetric
    /// already and need no symmetrizing).
    private var onlySquares = true

    init(n: Int, limit: Int) {
        self.n = n
        self.limit = limit
        threshold = Swift.max(1 << 22, Swift.min(limit, 1 << 24))
    }

    /// Adds every pair of `a`'s set `ia` × `b`'s set `ib`.
    mutating func add(_ a: DependencySets, _ ia: Int32, _ b: DependencySets, _ ib: Int32) throws(SparsityError) {
        let ra = a.range(ia), rb = b.range(ib)
        if ra.isEmpty || rb.isEmpty { return }
        if onlySquares && !(ra.count == rb.count && a.indices[ra].elementsEqual(b.indices[rb])) { onlySquares = false }
        let (size, overflow) = ra.count.multipliedReportingOverflow(by: rb.count)
        // The pairs of one product are distinct, so more than `limit` of them is too many.
        guard !overflow, size <= limit else { throw .tooManyNonZeros(limit: limit) }
        // (No reserveCapacity(count + size) here: reserving a little more at every call
        // reallocates every time — quadratic — where appending grows geometrically.)
        for i in ra {
            let r = a.indices[i]
            for j in rb {
                rows.append(r)
                columns.append(b.indices[j])
            }
        }
        if rows.count >= threshold { try compact() }
    }

    /// Sorts the pairs by row then column and drops duplicates (a counting sort by row, then
    /// a sort within each row).
    private mutating func compact() throws(SparsityError) {
        let (starts, cols) = csr()
        var newRows = [Int32](repeating: 0, count: cols.count)
        for r in 0..<n { for k in starts[r]..<starts[r + 1] { newRows[k] = Int32(r) } }
        rows = newRows
        columns = cols
        distinct = cols.count
        guard distinct <= limit else { throw .tooManyNonZeros(limit: limit) }
        threshold = Swift.max(threshold, 2 * distinct)
    }

    /// The distinct pairs as CSR arrays.
    private func csr() -> ([Int], [Int32]) {
        var counts = [Int](repeating: 0, count: n + 1)
        for r in rows { counts[Int(r) + 1] += 1 }
        for r in 0..<n { counts[r + 1] += counts[r] }
        var next = counts
        var sorted = [Int32](repeating: 0, count: rows.count)
        for (r, c) in zip(rows, columns) {
            sorted[next[Int(r)]] = c
            next[Int(r)] += 1
        }
        // Sort each row and squeeze out duplicates in place.
        var starts = [Int](repeating: 0, count: n + 1)
        var write = 0
        for r in 0..<n {
            let (lo, hi) = (counts[r], counts[r + 1])
            if hi - lo <= 32 {
                var i = lo + 1
                while i < hi {
                    let v = sorted[i]
                    var j = i - 1
                    while j >= lo && sorted[j] > v {
                        sorted[j + 1] = sorted[j]
                        j -= 1
                    }
                    sorted[j + 1] = v
                    i += 1
                }
            } else {
                sorted[lo..<hi].sort()
            }
            var previous: Int32 = -1
            for k in lo..<hi where sorted[k] != previous {
                previous = sorted[k]
                sorted[write] = previous
                write += 1
            }
            starts[r + 1] = write
        }
        sorted.removeLast(sorted.count - write)
        return (starts, sorted)
    }

    /// The symmetric pattern of the pairs.
    func pattern() throws(SparsityError) -> SparsityPattern {
        let (starts, cols) = csr()
        guard cols.count <= limit else { throw .tooManyNonZeros(limit: limit) }
        let pairs = SparsityPattern(unchecked: n, n, starts, cols)
        let p = onlySquares ? pairs : pairs.symmetrized()
        guard p.nonZeroCount <= limit else { throw .tooManyNonZeros(limit: limit) }
        return p
    }
}
