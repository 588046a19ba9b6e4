/// A partition of a Jacobian's columns (or rows) into groups that can be evaluated together,
/// and where each structural non-zero lands in the compressed matrix.
///
/// Column compression: seed `k` is the indicator of the columns of colour `k`; the compressed
/// matrix is `B = J·S` (`rows × colourCount`, row-major), and non-zero `(i, j)` is
/// `B[i, colour(j)]`. Row compression: `B = Sᵀ·J` (`colourCount × columns`), non-zero `(i, j)`
/// is `B[colour(i), j]`. Symmetric (Hessian) compression: `B = H·S` as for columns, non-zero
/// `(i, j)` is `B[i, colour(j)]` or `B[j, colour(i)]`, whichever holds it alone.
public struct CompressedLayout: Hashable, Sendable {
    public enum Direction: String, Hashable, Sendable {
        /// Forward sweeps (jvp), one per colour of columns.
        case columns
        /// Reverse sweeps (vjp), one per colour of rows.
        case rows
        /// Hessian-vector products, one per colour of a symmetric colouring.
        case symmetric
    }
    public let direction: Direction
    /// The colour of each column (`.columns`, `.symmetric`) or row (`.rows`), `0 ..< colourCount`.
    public let colours: [Int32]
    public let colourCount: Int
    /// For each structural non-zero, in the pattern's CSR order, its flat index in the
    /// row-major compressed matrix (`rows × colourCount`, or `colourCount × columns` for rows).
    public let recovery: [Int]

    public init(direction: Direction, colours: [Int32], colourCount: Int, recovery: [Int]) {
        self.direction = direction
        self.colours = colours
        self.colourCount = colourCount
        self.recovery = recovery
    }
}

public enum Colouring {
    /// Distance-2 colouring of the columns: two columns that share a row get different
    /// colours (a greedy colouring of the column intersection graph, columns in natural
    /// order; at most 1 + the maximum number of other columns a column shares a row with,
    /// and at least the most non-zeros in a row).
    public static func columnColouring(_ p: SparsityPattern) -> CompressedLayout {
        let colours = greedyDistance2(p, p.transposed())
        let count = Int(colours.max().map { $0 + 1 } ?? 0)
        var recovery: [Int] = []
        recovery.reserveCapacity(p.nonZeroCount)
        for i in 0..<p.rows {
            for j in p.columns(ofRow: i) { recovery.append(i * count + Int(colours[Int(j)])) }
        }
        return CompressedLayout(direction: .columns, colours: colours, colourCount: count, recovery: recovery)
    }

    /// Distance-2 colouring of the rows (the column colouring of the transpose).
    public static func rowColouring(_ p: SparsityPattern) -> CompressedLayout {
        let t = p.transposed()
        let colours = greedyDistance2(t, p)
        let count = Int(colours.max().map { $0 + 1 } ?? 0)
        var recovery: [Int] = []
        recovery.reserveCapacity(p.nonZeroCount)
        for i in 0..<p.rows {
            for j in p.columns(ofRow: i) { recovery.append(Int(colours[i]) * p.columns + Int(j)) }
        }
        return CompressedLayout(direction: .rows, colours: colours, colourCount: count, recovery: recovery)
    }

    /// A star colouring of a symmetric pattern's columns for Hessian compression with direct
    /// recovery (the star colouring of Gebremedhin, Manne & Pothen 2005, "What color is your
    /// Jacobian?", greedy, columns in natural order; the forbidding rule is `greedyStar`'s):
    /// adjacent columns get different colours
    /// and every path on four vertices uses at least three colours, so each non-zero `(i, j)`
    /// is alone in `B[i, colour(j)]` (j the only column of its colour in row i) or else in
    /// `B[j, colour(i)]`; `recovery` says which. A star colouring needs at least as many colours as
    /// the largest clique; this one at most Δ² + 1 (Δ the most off-diagonal non-zeros in a row:
    /// at most Δ neighbours and Δ(Δ − 1) vertices at distance two forbid a colour); this greedy uses 3 on a tridiagonal pattern, 2 on an arrowhead,
    /// 1 on a diagonal. A pattern that is not square gets the column colouring (read as
    /// `B[i, colour(j)]`).
    public static func symmetricColouring(_ p: SparsityPattern) -> CompressedLayout {
        guard p.rows == p.columns else {
            let c = columnColouring(p)
            return CompressedLayout(direction: .symmetric, colours: c.colours, colourCount: c.colourCount, recovery: c.recovery)
        }
        let s = p.symmetrized()
        let colours = greedyStar(s)
        let count = Int(colours.max().map { $0 + 1 } ?? 0)
        var recovery: [Int] = []
        recovery.reserveCapacity(p.nonZeroCount)
        // inRow[c] counts the columns of colour c in the current row (stamped by row).
        var inRow = [Int](repeating: 0, count: count + 1)
        var stamp = [Int](repeating: -1, count: count + 1)
        for i in 0..<p.rows {
            for k in s.columns(ofRow: i) {
                let c = Int(colours[Int(k)])
                if stamp[c] != i {
                    stamp[c] = i
                    inRow[c] = 0
                }
                inRow[c] += 1
            }
            for j in p.columns(ofRow: i) {
                let cj = Int(colours[Int(j)])
                let alone = stamp[cj] == i && inRow[cj] == 1
                recovery.append(alone || Int(j) == i ? i * count + cj : Int(j) * count + Int(colours[i]))
            }
        }
        return CompressedLayout(direction: .symmetric, colours: colours, colourCount: count, recovery: recovery)
    }

    /// Greedy star colouring of the adjacency graph of a symmetric pattern (the diagonal is
    /// ignored). Vertex v takes the smallest colour that is neither a neighbour's nor one that
    /// would make a path on four vertices two-coloured: with w a coloured neighbour (colour b)
    /// and x a coloured neighbour of w (colour a), colour a is forbidden when x has another
    /// neighbour of colour b (the path v–w–x–y) or v has another neighbour of colour b (the
    /// path x–w–v–y).
    static func greedyStar(_ s: SparsityPattern) -> [Int32] {
        let n = s.rows
        var colours = [Int32](repeating: -1, count: n)
        // forbidden[c] == v: colour c is taken for v.
        var forbidden = [Int](repeating: -1, count: n + 1)
        // around[c]: how many coloured neighbours of v have colour c (valid where stampOf[c] == v).
        var around = [Int](repeating: 0, count: n + 1)
        var stampOf = [Int](repeating: -1, count: n + 1)
        for v in 0..<n {
            for w in s.columns(ofRow: v) where Int(w) != v && colours[Int(w)] >= 0 {
                let b = Int(colours[Int(w)])
                forbidden[b] = v
                if stampOf[b] != v {
                    stampOf[b] = v
                    around[b] = 0
                }
                around[b] += 1
            }
            for w in s.columns(ofRow: v) where Int(w) != v && colours[Int(w)] >= 0 {
                let b = colours[Int(w)]
                let vHasAnother = around[Int(b)] >= 2
                for x in s.columns(ofRow: Int(w)) where Int(x) != v && x != w && colours[Int(x)] >= 0 {
                    let a = Int(colours[Int(x)])
                    if forbidden[a] == v { continue }
                    if vHasAnother {
                        forbidden[a] = v
                        continue
                    }
                    for y in s.columns(ofRow: Int(x)) where y != w && y != x && colours[Int(y)] == b {
                        forbidden[a] = v
                        break
                    }
                }
            }
            var c = 0
            while forbidden[c] == v { c += 1 }
            colours[v] = Int32(c)
        }
        return colours
    }

    /// Greedy distance-2 colouring of `p`'s columns, `t` its transpose: column `j` takes the
    /// smallest colour no column sharing a row with it has taken.
    static func greedyDistance2(_ p: SparsityPattern, _ t: SparsityPattern) -> [Int32] {
        var colours = [Int32](repeating: -1, count: p.columns)
        // forbidden[c] == j marks colour c as taken by a neighbour of column j.
        var forbidden = [Int](repeating: -1, count: p.columns + 1)
        for j in 0..<p.columns {
            for i in t.columns(ofRow: j) {
                for k in p.columns(ofRow: Int(i)) where colours[Int(k)] >= 0 {
                    forbidden[Int(colours[Int(k)])] = j
                }
            }
            var c = 0
            while forbidden[c] == j { c += 1 }
            colours[j] = Int32(c)
        }
        return colours
    }
}
