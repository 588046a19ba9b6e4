// Spy plots of a pattern: a picture with one dark cell per structural non-zero, downsampled so
// that a pattern of millions of rows stays a picture of at most `maxSide` cells a side.

/// A pattern's occupancy on a grid of cells, each cell `scale × scale` entries of the matrix.
public struct SpyGrid: Hashable, Sendable {
    public let width: Int
    public let height: Int
    /// Matrix entries per cell side (1 when the pattern fits).
    public let scale: Int
    /// Row-major, `true` where the cell holds a non-zero.
    public let filled: [Bool]
}

extension SparsityPattern {
    /// The cells of a spy plot of at most `maxSide` × `maxSide` cells (each cell a square
    /// block of entries, dark when the block holds a non-zero).
    public func spyGrid(maxSide: Int = 1000) -> SpyGrid {
        let side = Swift.max(1, maxSide)
        let longest = Swift.max(rows, columns, 1)
        let scale = (longest + side - 1) / side
        let width = Swift.max(1, (columns + scale - 1) / scale)
        let height = Swift.max(1, (rows + scale - 1) / scale)
        var filled = [Bool](repeating: false, count: width * height)
        for i in 0..<rows {
            let base = (i / scale) * width
            for j in columns(ofRow: i) { filled[base + Int(j) / scale] = true }
        }
        return SpyGrid(width: width, height: height, scale: scale, filled: filled)
    }

    /// A spy plot as SVG: a white square per cell, black runs of non-zero cells (one
    /// rectangle per run of a row), drawn at least 400 pixels wide or tall.
    public func spySVG(maxSide: Int = 1000) -> String {
        let g = spyGrid(maxSide: maxSide)
        let pixels = Swift.max(1, 400 / Swift.max(g.width, g.height))
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(g.width * pixels)" height="\(g.height * pixels)" \
        viewBox="0 0 \(g.width) \(g.height)" shape-rendering="crispEdges">
        <title>\(rows)×\(columns), \(nonZeroCount) non-zeros\(g.scale > 1 ? " (one cell per \(g.scale)×\(g.scale) block)" : "")</title>
        <rect width="\(g.width)" height="\(g.height)" fill="white"/>
        <g fill="black">

        """
        for y in 0..<g.height {
            var x = 0
            while x < g.width {
                guard g.filled[y * g.width + x] else {
                    x += 1
                    continue
                }
                let start = x
                while x < g.width && g.filled[y * g.width + x] { x += 1 }
                out += "<rect x=\"\(start)\" y=\"\(y)\" width=\"\(x - start)\" height=\"1\"/>\n"
            }
        }
        out += "</g>\n</svg>\n"
        return out
    }

    /// A spy plot as a binary PBM (P4) image: black pixels for the non-zero cells, each cell
    /// repeated so that small patterns come out at least ~200 pixels a side (at most `maxSide`).
    public func spyPBM(maxSide: Int = 1000) -> [UInt8] {
        let g = spyGrid(maxSide: maxSide)
        let repeatBy = Swift.max(1, Swift.min(200, Swift.max(1, maxSide)) / Swift.max(g.width, g.height))
        let (w, h) = (g.width * repeatBy, g.height * repeatBy)
        var out = Array("P4\n# \(rows)x\(columns), \(nonZeroCount) non-zeros\n\(w) \(h)\n".utf8)
        let rowBytes = (w + 7) / 8
        for y in 0..<h {
            var line = [UInt8](repeating: 0, count: rowBytes)
            let cy = y / repeatBy
            for x in 0..<w where g.filled[cy * g.width + x / repeatBy] { line[x / 8] |= 0x80 >> UInt8(x % 8) }
            out += line
        }
        return out
    }
}
