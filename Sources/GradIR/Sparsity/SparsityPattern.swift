
/// The structural non-zeros of a `rows × columns` matrix in compressed sparse row (CSR) form:
/// row `i` holds the columns `columnIndices[rowStarts[i] ..< rowStarts[i + 1]]`, ascending.
///
/// For a Jacobian ∂y/∂x the rows are y's elements and the columns x's, both flattened in
/// row-major order. A structural non-zero may still evaluate to 0 at a point (`x·0`); an
/// element outside the pattern is 0 at every point.
public struct SparsityPattern: Hashable, Sendable, CustomStringConvertible {
    public let rows: Int
    public let columns: Int
    /// `rows + 1` offsets into `columnIndices`.
    public let rowStarts: [Int]
    /// The columns of each row, ascending within a row.
    public let columnIndices: [Int32]

    /// A pattern from CSR arrays; `nil` unless they are consistent (offsets ascending from 0
    /// to the index count, columns ascending within a row and in range).
    public init?(rows: Int, columns: Int, rowStarts: [Int], columnIndices: [Int32]) {
        guard rows >= 0, columns >= 0, columns <= Int(Int32.max), rowStarts.count == rows + 1,
              rowStarts.first == 0, rowStarts.last == columnIndices.count else { return nil }
        for i in 0..<rows {
            let (start, end) = (rowStarts[i], rowStarts[i + 1])
            guard start <= end, end <= columnIndices.count else { return nil }
            var previous: Int32 = -1
            for k in start..<end {
                let c = columnIndices[k]
                guard c > previous, Int(c) < columns else { return nil }
                previous = c
            }
        }
        self.rows = rows
        self.columns = columns
        self.rowStarts = rowStarts
        self.columnIndices = columnIndices
    }

    /// From arrays already known to be consistent (the propagation's own results).
    init(unchecked rows: Int, _ columns: Int, _ rowStarts: [Int], _ columnIndices: [Int32]) {
        self.rows = rows
        self.columns = columns
        self.rowStarts = rowStarts
        self.columnIndices = columnIndices
    }

    /// From the non-zero positions `(row, column)`, in any order, duplicates allowed.
    public init?(rows: Int, columns: Int, entries: [(row: Int, column: Int)]) {
        guard rows >= 0, columns >= 0, columns <= Int(Int32.max) else { return nil }
        var perRow = [[Int32]](repeating: [], count: rows)
        for (r, c) in entries {
            guard r >= 0, r < rows, c >= 0, c < columns else { return nil }
            perRow[r].append(Int32(c))
        }
        var starts = [0]
        starts.reserveCapacity(rows + 1)
        var indices: [Int32] = []
        for row in perRow {
            var previous: Int32 = -1
            for c in row.sorted() where c != previous {
                indices.append(c)
                previous = c
            }
            starts.append(indices.count)
        }
        self.init(unchecked: rows, columns, starts, indices)
    }

    /// Every element non-zero.
    public static func dense(rows: Int, columns: Int) -> SparsityPattern {
        var indices: [Int32] = []
        indices.reserveCapacity(rows * columns)
        for _ in 0..<rows { indices.append(contentsOf: (0..<Int32(columns))) }
        return SparsityPattern(unchecked: rows, columns, (0...rows).map { $0 * columns }, indices)
    }

    public var nonZeroCount: Int { columnIndices.count }

    /// The most non-zeros in one column (a lower bound of any row colouring's colours).
    public var maxColumnCount: Int {
        var counts = [Int](repeating: 0, count: columns)
        for c in columnIndices { counts[Int(c)] += 1 }
        return counts.max() ?? 0
    }

    /// The columns of row `i`.
    public func columns(ofRow i: Int) -> ArraySlice<Int32> { columnIndices[rowStarts[i]..<rowStarts[i + 1]] }

    public func contains(row: Int, column: Int) -> Bool {
        guard row >= 0, row < rows else { return false }
        return columns(ofRow: row).contains(Int32(column))
    }

    /// The transposed pattern (columns become rows), in CSR form.
    public func transposed() -> SparsityPattern {
        var counts = [Int](repeating: 0, count: columns + 1)
        for c in columnIndices { counts[Int(c) + 1] += 1 }
        for j in 0..<columns { counts[j + 1] += counts[j] }
        var next = counts
        var indices = [Int32](repeating: 0, count: columnIndices.count)
        for i in 0..<rows {
            for k in rowStarts[i]..<rowStarts[i + 1] {
                let c = Int(columnIndices[k])
                indices[next[c]] = Int32(i)
                next[c] += 1
            }
        }
        return SparsityPattern(unchecked: columns, rows, counts, indices)
    }

    /// The union of a square pattern with its transpose (a Hessian's pattern is symmetric);
    /// a pattern that is not square is returned as it is (it has no transpose of its shape).
    public func symmetrized() -> SparsityPattern {
        guard rows == columns else { return self }
        let t = transposed()
        var starts = [0]
        starts.reserveCapacity(rows + 1)
        var indices: [Int32] = []
        indices.reserveCapacity(columnIndices.count)
        for i in 0..<rows {
            var a = rowStarts[i], b = t.rowStarts[i]
            let (aEnd, bEnd) = (rowStarts[i + 1], t.rowStarts[i + 1])
            while a < aEnd || b < bEnd {
                let ca = a < aEnd ? columnIndices[a] : Int32.max
                let cb = b < bEnd ? t.columnIndices[b] : Int32.max
                indices.append(min(ca, cb))
                if ca <= cb { a += 1 }
                if cb <= ca { b += 1 }
            }
            starts.append(indices.count)
        }
        return SparsityPattern(unchecked: rows, columns, starts, indices)
    }

    /// `rows×columns, N non-zeros`, then one line per row (`i: j j j`) up to 64 rows.
    public var description: String {
        var lines = ["\(rows)×\(columns), \(nonZeroCount) non-zeros"]
        for i in 0..<min(rows, 64) { lines.append("\(i): " + columns(ofRow: i).map(String.init).joined(separator: " ")) }
        if rows > 64 { lines.append("… \(rows - 64) more rows") }
        return lines.joined(separator: "\n")
    }
}
