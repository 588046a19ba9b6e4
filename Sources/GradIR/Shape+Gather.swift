// The index arithmetic of the indexing ops (`take`, `take_along_axis`, `scatter_add`,
// `scatter_add_along_axis`), in one place for the type rules, the reference kernels, the VM
// and the C emitter.

/// How an indexing op walks its tensors. The data tensor (`x`, or `base`) is read as
/// `[outer, n, inner]` around the indexed axis; the gathered tensor (take's result,
/// scatter_add's `updates`) as `[outer, k, inner]`, in row-major order: element `(o, j, i)`
/// moves data element `(o, position, i)`, where `position` is the wrapped index
/// `idx[indexPosition(o, j, i)]`.
///
/// - `take`: `k` is the number of indices and element `(o, j, i)` uses `idx[j]`.
/// - along an axis: `idx` has the gathered tensor's shape `[outer, k, inner]` and element
///   `(o, j, i)` uses `idx[(o·k + j)·inner + i]`.
public struct GatherLayout: Hashable, Sendable {
    /// Product of the data tensor's dimensions before the axis.
    public let outer: Int
    /// Length of the indexed axis of the data tensor.
    public let n: Int
    /// Product of the dimensions after the axis.
    public let inner: Int
    /// Indices per line of the gathered tensor.
    public let k: Int
    /// `take_along_axis` / `scatter_add_along_axis` (else `take` / `scatter_add`).
    public let alongAxis: Bool

    /// The layout for a data tensor of shape `data` and an index tensor of shape `indices`
    /// (shapes already checked by the op's type rule; `axis` normalized).
    public init(data: [Int], indices: [Int], axis: Int, alongAxis: Bool) {
        outer = data[..<axis].reduce(1, *)
        n = data[axis]
        inner = data[(axis + 1)...].reduce(1, *)
        k = alongAxis ? indices[axis] : indices.reduce(1, *)
        self.alongAxis = alongAxis
    }

    /// Elements of the gathered tensor: `outer · k · inner`.
    public var count: Int { outer * k * inner }

    /// Where in `idx` the index of gathered element `(o, j, i)` is.
    @inlinable public func indexPosition(_ o: Int, _ j: Int, _ i: Int) -> Int {
        alongAxis ? (o &* k &+ j) &* inner &+ i : j
    }

    /// The data element `(o, position, i)`.
    @inlinable public func dataPosition(_ o: Int, _ position: Int, _ i: Int) -> Int {
        (o &* n &+ position) &* inner &+ i
    }
}

/// The position an index names on an axis of length `n`, with NumPy's wrap-around: `i` for
/// `0 ≤ i < n`, `i + n` for `−n ≤ i < 0`; `nil` (an error for every indexing op) otherwise.
/// ```
/// wrappedIndex(i, n) = i      if 0 ≤ i < n
///                      i + n  if −n ≤ i < 0
///                      nil    otherwise
/// ```
/// C: `v = i < 0 ? i + n : i`, out of range when `(uint64_t)v >= n`.
@inlinable public func wrappedIndex(_ i: Int64, length n: Int) -> Int? {
    let v = i < 0 ? i + Int64(n) : i
    return v >= 0 && v < Int64(n) ? Int(v) : nil
}

/// The first index of `indices` (in row-major order) that names no position of an axis of
/// length `n`, or `nil` when all are valid: every indexing op checks all its indices, in this
/// order, before it moves any data.
@inlinable public func firstInvalidIndex(_ indices: UnsafeBufferPointer<Int64>, length n: Int) -> Int64? {
    for v in indices where wrappedIndex(v, length: n) == nil { return v }
    return nil
}
