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

    /// A colouring of a symmetric pattern's columns for Hessian compression with direct
    /// recovery. (For now a distance-2 colouring of the symmetrized pattern: every non-zero
    /// is read as `B[i, colour(j)]`.)
    public static func symmetricColouring(_ p: SparsityPattern) -> CompressedLayout {
        let s = p.symmetrized()
        let colours = greedyDistance2(s, s)
        let count = Int(colours.max().map { $0 + 1 } ?? 0)
        var recovery: [Int] = []
        recovery.reserveCapacity(p.nonZeroCount)
        for i in 0..<p.rows {
            for j in p.columns(ofRow: i) { recovery.append(i * count + Int(colours[Int(j)])) }
        }
        return CompressedLayout(direction: .symmetric, colours: colours, colourCount: count, recovery: recovery)
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
