import GradIR

/// Structural sparsity of derivatives, computed on the graph.
public enum Sparsity {
    /// The pattern of ∂y/∂x in `function`: rows are y's elements, columns x's (both flattened
    /// row-major). Conservative: an element outside the pattern is zero at every point.
    ///
    /// TODO(sparsity propagation): per-element dependency propagation through every op. Until
    /// then every element of y depends on every element of x that y depends on at all.
    public static func jacobian(of y: ValueID, wrt x: ValueID, in function: Function) -> SparsityPattern {
        let rows = function.type(of: y).count
        let columns = function.type(of: x).count
        var reaches = [Bool](repeating: false, count: function.nodes.count)
        if x < reaches.count { reaches[x] = true }
        if x <= y {
            for id in x...y where !reaches[id] {
                reaches[id] = function.nodes[id].inputs.contains { reaches[$0] }
            }
        }
        return reaches[y] ? .dense(rows: rows, columns: columns) : SparsityPattern(unchecked: rows, columns, [Int](repeating: 0, count: rows + 1), [])
    }
}
