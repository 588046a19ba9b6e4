
/// Why a pattern was not computed.
public enum SparsityError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The pattern would have more than `limit` structural non-zeros.
    case tooManyNonZeros(limit: Int)

    public var description: String {
        switch self {
        case .tooManyNonZeros(let limit): return "the sparsity pattern has more than \(limit) non-zeros"
        }
    }
}

/// Structural sparsity of derivatives, computed on the graph.
public enum Sparsity {
    /// The most structural non-zeros a pattern may have by default (2²⁶, 512 MiB of indices).
    public static let defaultLimit = 1 << 26

    /// The pattern of ∂y/∂x in `function`: rows are y's elements, columns x's (both flattened
    /// row-major). Conservative: an element outside the pattern is zero at every point.
    ///
    /// Per-element dependency propagation (docs/sparsity.md): every node from x to y gets, per
    /// element, the sorted set of x's elements it depends on; the rows of the pattern are y's
    /// sets. `limit` bounds the pattern's non-zeros, its rows and columns (the CSR offsets, x's
    /// seed) and the indices any one value's sets hold; a value with more elements than `limit`
    /// is treated conservatively (every element depends on everything its operands do).
    /// Values that are not float (or ids outside the function) give an empty pattern.
    public static func jacobian(of y: ValueID, wrt x: ValueID, in function: Function,
                                limit: Int = defaultLimit) throws(SparsityError) -> SparsityPattern {
        try jacobian(of: y, wrt: x, in: function, limit: limit, indexValues: [:])
    }

    /// `jacobian(of:wrt:in:limit:)` with the values of some i64 nodes given (`indexValues`,
    /// row-major, keyed by node; typically index inputs such as bundle adjustment's
    /// observations): an indexing op whose index operand is one of them is exact, as with a
    /// `const` index, instead of conservative along the indexed axis. The pattern then holds
    /// for those index values only.
    public static func jacobian(of y: ValueID, wrt x: ValueID, in function: Function, limit: Int = defaultLimit,
                                indexValues: [ValueID: [Int64]]) throws(SparsityError) -> SparsityPattern {
        guard y >= 0, y < function.nodes.count, x >= 0, x < function.nodes.count else {
            return SparsityPattern(unchecked: 0, 0, [0], [])
        }
        let rows = function.type(of: y).count
        let columns = function.type(of: x).count
        // The CSR offsets have a row each and x's seed a set element each.
        guard rows <= limit, columns <= limit else { throw .tooManyNonZeros(limit: limit) }
        let emptyPattern = SparsityPattern(unchecked: rows, columns, [Int](repeating: 0, count: rows + 1), [])
        guard function.type(of: y).dtype.isFloat, function.type(of: x).dtype.isFloat, reaches(y, from: x, in: function) else {
            return emptyPattern
        }
        guard columns <= Int(Int32.max) else { throw .tooManyNonZeros(limit: limit) }
        let bound = Swift.min(Swift.max(limit, 0), Int(Int32.max))
        // Only the nodes y is computed from.
        var needed = [Bool](repeating: false, count: y + 1)
        needed[y] = true
        for v in stride(from: y, to: x, by: -1) where needed[v] {
            for u in function.nodes[v].inputs where u >= x { needed[u] = true }
        }
        var propagator = Propagator(columns: columns, limit: bound, pairs: false)
        let deps = try propagator.run(function, seeds: [x: .identity(columns)], start: x, targets: [y], needed: needed,
                                      knownIndices: indexValues)[0]
        var total = 0
        for e in 0..<rows {
            total += deps.range(deps.setID(e)).count
            guard total <= limit else { throw .tooManyNonZeros(limit: limit) }
        }
        var starts = [Int](repeating: 0, count: rows + 1)
        var indices: [Int32] = []
        indices.reserveCapacity(total)
        for e in 0..<rows {
            indices.append(contentsOf: deps.indices[deps.range(deps.setID(e))])
            starts[e + 1] = indices.count
        }
        return SparsityPattern(unchecked: rows, columns, starts, indices)
    }

    /// The pattern of the Hessian ∂²f/∂x² of a scalar `f` (symmetric, `x.count` square); for a
    /// non-scalar f, the Hessian of the sum of its elements.
    ///
    /// Nonlinear interaction propagation (Walther 2008): the dependency sets are carried as
    /// for `jacobian`, and every node on a differentiable path to f that is nonlinear in its
    /// operands adds the pairs of x's elements that meet in it (g(a): D(a)×D(a); a·b: D(a)×D(b);
    /// a reduction like logsumexp: the group's union squared; matmul: D(A)×D(B) per inner
    /// index). Linear and piecewise-linear ops add nothing. Conservative.
    public static func hessian(of f: ValueID, wrt x: ValueID, in function: Function,
                               limit: Int = defaultLimit) throws(SparsityError) -> SparsityPattern {
        try hessian(of: f, wrt: x, in: function, limit: limit, indexValues: [:])
    }

    /// `hessian(of:wrt:in:limit:)` with the values of some i64 nodes given, as for `jacobian`.
    public static func hessian(of f: ValueID, wrt x: ValueID, in function: Function, limit: Int = defaultLimit,
                               indexValues: [ValueID: [Int64]]) throws(SparsityError) -> SparsityPattern {
        guard f >= 0, f < function.nodes.count, x >= 0, x < function.nodes.count else {
            return SparsityPattern(unchecked: 0, 0, [0], [])
        }
        let n = function.type(of: x).count
        guard n <= limit else { throw .tooManyNonZeros(limit: limit) }
        let emptyPattern = SparsityPattern(unchecked: n, n, [Int](repeating: 0, count: n + 1), [])
        guard function.type(of: f).dtype.isFloat, function.type(of: x).dtype.isFloat, reaches(f, from: x, in: function) else {
            return emptyPattern
        }
        guard n <= Int(Int32.max) else { throw .tooManyNonZeros(limit: limit) }
        let bound = Swift.min(Swift.max(limit, 0), Int(Int32.max))
        let (emit, needed) = Propagator.interactionAnalysis(function, roots: [f], rootsNeeded: false, from: x)
        var propagator = Propagator(columns: n, limit: bound, pairs: true)
        _ = try propagator.run(function, seeds: [x: .identity(n)], start: x, targets: [f], emit: emit, needed: needed,
                               knownIndices: indexValues)
        return try propagator.pairs?.pattern() ?? emptyPattern
    }

    /// Whether `y` depends on `x` through the graph's edges.
    static func reaches(_ y: ValueID, from x: ValueID, in function: Function) -> Bool {
        guard x <= y, y < function.nodes.count else { return false }
        var reached = [Bool](repeating: false, count: y - x + 1)
        reached[0] = true
        for id in x...y where !reached[id - x] {
            reached[id - x] = function.nodes[id].inputs.contains { $0 >= x && reached[$0 - x] }
        }
        return reached[y - x]
    }
}

extension Function {
    /// The pattern of a `jacobian(y, x, sparse=true)` (∂y/∂x) or `hessian(f, x, sparse=true)`
    /// request with these operands, on this function's nodes (those before the request: the
    /// type rule and the expansion see the same graph, so they agree on the length).
    public func requestPattern(_ op: Op, _ inputs: Operands) throws(Diagnostic) -> SparsityPattern {
        guard inputs.count == 2, inputs.allSatisfy({ $0 >= 0 && $0 < nodes.count }) else {
            throw Diagnostic(.invalidOperand(op: op.name, "takes y and x, earlier values"))
        }
        do {
            let y = nodes[inputs[0]]
            switch op {
            case .hessian: return try Sparsity.hessian(of: inputs[0], wrt: inputs[1], in: self)
            case .jacobian where y.op == .grad && y.inputs.count == 2 && y.inputs[1] == inputs[1]:
                // The Jacobian of a gradient is a Hessian: its pattern, rather than the
                // conservative one through the unexpanded `grad` node.
                return try Sparsity.hessian(of: y.inputs[0], wrt: inputs[1], in: self)
            default: return try Sparsity.jacobian(of: inputs[0], wrt: inputs[1], in: self)
            }
        } catch {
            throw Diagnostic(.other("\(op.name)(…, sparse=true): \(error); ask for the dense \(op.name) or a smaller one"))
        }
    }

    /// The type of a sparse request: a vector of its pattern's non-zeros (the Jacobian's y
    /// dtype, the Hessian's x dtype), after the dense rule checked the operands.
    func sparseRequestType(_ op: Op, _ inputs: Operands, _ attrs: Attributes) throws(Diagnostic) -> TensorType {
        var dense = attrs
        dense[.sparse] = nil
        // The operands checked by the dense rule, but not the dense shape (y.shape + x.shape
        // past 2⁴⁰ elements is no reason to refuse nnz of them): x's shape left out then.
        var types = inputs.map { nodes[$0].type }
        if types.count == 2, checkedElementCount((op == .hessian ? types[1].shape : types[0].shape) + types[1].shape) == nil {
            types[1] = types[1].with(shape: [])
            if op != .hessian { types[0] = types[0].with(shape: []) }
        }
        let t = try op.inferType(types, dense)
        return TensorType(t.dtype, [try requestPattern(op, inputs).nonZeroCount])
    }
}
