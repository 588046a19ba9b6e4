/// The two kinds of ops, as enums of their own, so that a layer which handles only one kind
/// switches exhaustively over exactly those ops: the elementwise layers (scalar semantics, VM
/// scalar machine and fused loops, C formulas) over `ElementwiseOp`, the kernel layers over
/// `StructuralOp`. Adding an op to `Op` and to one of these (a test checks they partition
/// `Op`) makes the compiler list every place to update, with no hand-kept list of the ops a
/// layer does *not* handle.

/// An op computed element by element: unary and binary ops, comparisons and `select`
/// (families `.unary`, `.binary`, `.comparison`, `.select`). Raw values are the op names.
public enum ElementwiseOp: String, CaseIterable, Hashable, Sendable {
    case neg, abs, sign, exp, log, log1p, expm1, sqrt, rsqrt, square, reciprocal
    case sin, cos, tan, tanh, sigmoid, relu, softplus, erf, floor, ceil
    case add, sub, mul, div, pow, maximum, minimum, atan2, floordiv, mod
    case zmul, zdiv
    // Special functions (issue 17)
    case lgamma, digamma, erfc, log_sigmoid
    case polygamma, logaddexp, xlogy
    case eq, ne, lt, le, gt, ge, select

    /// Position in declaration order (a one-byte tag, like `Op.index`).
    @inlinable @inline(__always) public var index: Int { Int(unsafeBitCast(self, to: UInt8.self)) }

    /// The op this is.
    @inlinable public var op: Op { ElementwiseOp.ops[index] }
    @usableFromInline static let ops: [Op] = allCases.map { e in Op(rawValue: e.rawValue) ?? .input }  // a test checks every name

    /// Number of operands (1, 2, or 3 for `select`).
    @inlinable public var arity: Int { ElementwiseOp.arities[index] }
    @usableFromInline static let arities: [Int] = allCases.map { e in
        switch e.op.family {
        case .unary: return 1
        case .select: return 3
        default: return 2
        }
    }

    /// Whether the result is `bool` (a comparison): the op then computes in its operands'
    /// dtype, every other elementwise op in its result's. (A switch, so that it folds for a
    /// literal op; a test checks it against the op table's families.)
    @inlinable @inline(__always) public var isComparison: Bool {
        switch self {
        case .eq, .ne, .lt, .le, .gt, .ge: return true
        default: return false
        }
    }

    /// The dtype the op computes in, given its result's and its first operand's.
    @inlinable public func computeDType(result: DType, firstOperand: DType) -> DType {
        isComparison ? firstOperand : result
    }
}

/// Every op that is not elementwise: leaves, reductions, linear algebra, shape ops, the
/// neural-network helpers and the derivative requests. Raw values are the op names.
public enum StructuralOp: String, CaseIterable, Hashable, Sendable {
    case input, const
    case sum, mean, max, min, prod, logsumexp, argmax, argmin
    case matmul, transpose, dot
    case reshape, broadcast_to, slice, pad, concat, expand_dims, squeeze, cumsum, one_hot, cast
    case take, take_along_axis, scatter_add, scatter_add_along_axis, iota
    case softmax, log_softmax, softmax_cross_entropy
    case conv2d, conv2d_input_grad, conv2d_kernel_grad
    case grad, jacobian, hessian
    case scan, result
    // Linear algebra factorizations and solves (issue 17)
    case cholesky
    case triangular_solve
    case logdet
    case solve
    case det
    // Forward-mode derivative requests (issue 18)
    case jvp
    case hvp
    // Pooling (issue 17)
    case max_pool2d, max_pool2d_grad, max_pool2d_tangent
    case avg_pool2d, avg_pool2d_grad
    // slogdet (issue 17)
    case logabsdet, det_sign

    @inlinable @inline(__always) public var index: Int { Int(unsafeBitCast(self, to: UInt8.self)) }

    /// The op this is.
    @inlinable public var op: Op { StructuralOp.ops[index] }
    @usableFromInline static let ops: [Op] = allCases.map { s in Op(rawValue: s.rawValue) ?? .input }  // a test checks every name
}

extension Op {
    /// The op as an elementwise op, or `nil` for a structural one.
    @inlinable public var elementwise: ElementwiseOp? { Op.elementwiseOps[index] }
    /// The op as a structural op, or `nil` for an elementwise one.
    @inlinable public var structural: StructuralOp? { Op.structuralOps[index] }

    @usableFromInline static let elementwiseOps: [ElementwiseOp?] = allCases.map { ElementwiseOp(rawValue: $0.rawValue) }
    @usableFromInline static let structuralOps: [StructuralOp?] = allCases.map { StructuralOp(rawValue: $0.rawValue) }
}
