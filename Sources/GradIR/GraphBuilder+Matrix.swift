/// Matrix helpers that are compositions of existing ops, not op-table entries: `eye`,
/// `diagonal`, `diag`, `trace`, `tril`, `triu`, `inv` (= `solve(A, I)`). The `.ir` parser and the Swift library both
/// call these, so the two spell the same graph; their derivatives are those of the ops they
/// are made of (`slice` ↔ `pad`, `select`, `reshape`), so they nest to any order.
///
/// Each is as cheap as a dedicated kernel would be:
/// - `diagonal(A)` of `[…, m, n]` is a strided `slice` of the matrix read as a row of `m·n`
///   elements (start 0, step n + 1): it touches only the min(m, n) diagonal elements.
/// - `diag(v)` of `[…, n]` is the inverse, a strided `pad` (step n + 1) then a `reshape`.
/// - `tril`/`triu` are one `select` with a bool mask that depends only on the shape (built
///   from two `iota`s; the optimizer folds it to a constant).
extension GraphBuilder {
    /// The n×n identity of `dtype` (`diag` of a vector of ones).
    public mutating func eye(_ n: Int, dtype: DType = .f64) throws(Diagnostic) -> ValueID {
        guard n >= 0 else { throw Diagnostic(.invalidAttribute(op: "eye", name: "n", expected: "a size n ≥ 0"), at: location) }
        guard dtype.isFloat else { throw Diagnostic(.invalidAttribute(op: "eye", name: "dtype", expected: "f32 or f64"), at: location) }
        return try diag(constant(1, TensorType(dtype, [n])))
    }

    /// The diagonal of the last two axes: `[…, m, n]` → `[…, min(m, n)]`.
    public mutating func diagonal(_ x: ValueID) throws(Diagnostic) -> ValueID {
        let t = type(of: x)
        guard t.rank >= 2, t.dtype.isFloat else {
            throw Diagnostic(.expected("a float matrix (rank ≥ 2; the last two axes are its rows and columns)", found: "\(t)"), at: location)
        }
        let batch = Array(t.shape.dropLast(2))
        let (m, n) = (t.shape[t.rank - 2], t.shape[t.rank - 1])
        let k = Swift.min(m, n)
        let flat = try reshape(x, batch + [m * n])
        let start = [Int](repeating: 0, count: batch.count + 1)
        let stop = batch + [k == 0 ? 0 : (k - 1) * (n + 1) + 1]
        var step = [Int](repeating: 1, count: batch.count + 1)
        step[batch.count] = n + 1
        return try add(.slice, [flat], Attributes([.start: .ints(start), .stop: .ints(stop), .step: .ints(step)]))
    }

    /// The square matrix with `v` on its diagonal: `[…, n]` → `[…, n, n]`.
    public mutating func diag(_ v: ValueID) throws(Diagnostic) -> ValueID {
        let t = type(of: v)
        guard t.rank >= 1, t.dtype.isFloat else {
            throw Diagnostic(.expected("a float vector (rank ≥ 1; the last axis is the diagonal)", found: "\(t)"), at: location)
        }
        let batch = Array(t.shape.dropLast())
        let n = t.shape[t.rank - 1]
        let zeros = [Int](repeating: 0, count: t.rank)
        var step = [Int](repeating: 1, count: t.rank)
        step[t.rank - 1] = n + 1
        let spread = try add(.pad, [v], Attributes([.low: .ints(zeros), .high: .ints(zeros), .step: .ints(step)]))
        return try reshape(spread, batch + [n, n])
    }

    /// A⁻¹ = solve(A, I) on the last two axes (inf/NaN where A is singular).
    public mutating func inverse(_ x: ValueID) throws(Diagnostic) -> ValueID {
        let t = type(of: x)
        guard t.rank >= 2, t.dtype.isFloat, t.shape[t.rank - 1] == t.shape[t.rank - 2] else {
            throw Diagnostic(.expected("a float square matrix […, n, n]", found: "\(t)"), at: location)
        }
        return try add(.solve, [x, broadcast(eye(t.shape[t.rank - 1], dtype: t.dtype), to: t.shape)])
    }

    /// `slogdet(A)`: (sign of det A, ln |det A|) on the last two axes, as the two ops
    /// `det_sign` and `logabsdet` (each factors A; CSE does not merge different ops).
    public mutating func slogdet(_ x: ValueID) throws(Diagnostic) -> (sign: ValueID, logAbsDet: ValueID) {
        (try add(.det_sign, [x]), try add(.logabsdet, [x]))
    }

    /// The sum of the diagonal of the last two axes: `[…, m, n]` → `[…]`.
    public mutating func trace(_ x: ValueID) throws(Diagnostic) -> ValueID {
        let d = try diagonal(x)
        return try reduce(.sum, d, axes: [type(of: d).rank - 1])
    }

    /// `tril(x, k)` (lower: keeps the elements with column − row ≤ k, zeros the rest) or
    /// `triu(x, k)` (upper: column − row ≥ k), on the last two axes.
    public mutating func triangle(_ x: ValueID, k: Int = 0, lower: Bool) throws(Diagnostic) -> ValueID {
        let t = type(of: x)
        guard t.rank >= 2, t.dtype.isFloat else {
            throw Diagnostic(.expected("a float matrix (rank ≥ 2; the last two axes are its rows and columns)", found: "\(t)"), at: location)
        }
        let shape = [t.shape[t.rank - 2], t.shape[t.rank - 1]]
        let row = try add(.iota, [], Attributes([.shape: .ints(shape), .axis: .int(0), .dtype: .dtype(.i64)]))
        let column = try add(.iota, [], Attributes([.shape: .ints(shape), .axis: .int(1), .dtype: .dtype(.i64)]))
        let offset = try binary(.sub, column, row)
        let bound = try constant(Double(Swift.max(-(1 << 53), Swift.min(k, 1 << 53))), TensorType(.i64))
        let keep = try binary(lower ? .le : .ge, offset, bound)
        return try add(.select, [keep, x, try scalar(0, like: x)])
    }
}
