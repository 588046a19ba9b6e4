
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
    /// TODO(sparsity propagation): per-element dependency propagation through every op. Until
    /// then every element of y depends on every element of x that y depends on at all.
    public static func jacobian(of y: ValueID, wrt x: ValueID, in function: Function,
                                limit: Int = defaultLimit) throws(SparsityError) -> SparsityPattern {
        let rows = function.type(of: y).count
        let columns = function.type(of: x).count
        guard reaches(y, from: x, in: function) else {
            return SparsityPattern(unchecked: rows, columns, [Int](repeating: 0, count: rows + 1), [])
        }
        let (total, overflow) = rows.multipliedReportingOverflow(by: columns)
        guard !overflow, total <= limit else { throw .tooManyNonZeros(limit: limit) }
        return .dense(rows: rows, columns: columns)
    }

    /// The pattern of the Hessian ∂²f/∂x² of a scalar `f` (symmetric, `x.count` square).
    ///
    /// TODO(sparsity propagation): nonlinear interaction propagation. Until then dense where f
    /// depends on x.
    public static func hessian(of f: ValueID, wrt x: ValueID, in function: Function,
                               limit: Int = defaultLimit) throws(SparsityError) -> SparsityPattern {
        let n = function.type(of: x).count
        guard reaches(f, from: x, in: function) else {
            return SparsityPattern(unchecked: n, n, [Int](repeating: 0, count: n + 1), [])
        }
        let (total, overflow) = n.multipliedReportingOverflow(by: n)
        guard !overflow, total <= limit else { throw .tooManyNonZeros(limit: limit) }
        return .dense(rows: n, columns: n)
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
            switch op {
            case .hessian: return try Sparsity.hessian(of: inputs[0], wrt: inputs[1], in: self)
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
        let t = try op.inferType(inputs.map { nodes[$0].type }, dense)
        return TensorType(t.dtype, [try requestPattern(op, inputs).nonZeroCount])
    }
}
