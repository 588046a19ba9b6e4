
/// The values of i64 index operands computed from what is known before any x is: `const`
/// nodes, `iota`, the values the caller gives (`indexValues`), and the integer data movement and
/// arithmetic on them (`obs[:, 0]`, `mod(iota(…) * 5 + 1, n)`). An indexing op whose index has
/// known values is exact. Any other op, a value over `maxElements` or an operand out of range
/// gives `nil` (the indexing op is then conservative).
struct IndexValues {
    let function: Function
    var known: [ValueID: [Int64]]
    private var memo: [ValueID: [Int64]?] = [:]
    /// Elements one value may have (the evaluation's memory bound).
    static let maxElements = 1 << 24

    init(_ function: Function, known: [ValueID: [Int64]]) {
        self.function = function
        self.known = known
    }

    mutating func values(_ id: ValueID) -> [Int64]? {
        if let v = known[id], v.count == function.type(of: id).count { return v }
        if let m = memo[id] { return m }
        let v = compute(id)
        memo[id] = v
        return v
    }

    private mutating func compute(_ id: ValueID) -> [Int64]? {
        let node = function.nodes[id]
        let out = node.type
        guard out.dtype == .i64, out.count <= IndexValues.maxElements else { return nil }
        let shapes = node.inputs.map { function.type(of: $0).shape }
        func operand(_ k: Int) -> [Int64]? { values(node.inputs[k]) }
        func moved(_ map: [Int]) -> [Int64]? {
            guard let v = operand(0) else { return nil }
            return map.map { v[$0] }
        }
        func elementwise(_ op: (Int64, Int64) -> Int64) -> [Int64]? {
            guard let a = operand(0), let b = operand(1) else { return nil }
            let ma = broadcastIndexMap(from: shapes[0], to: out.shape), mb = broadcastIndexMap(from: shapes[1], to: out.shape)
            return (0..<out.count).map { op(a[ma[$0]], b[mb[$0]]) }
        }
        let attrs = node.attrs
        switch node.op {
        case .const:
            return constantIndices(function, id)
        case .iota:
            guard let axis = normalizeAxis(attrs.axis ?? 0, rank: out.rank) else { return nil }
            let stride = rowMajorStrides(out.shape)[axis]
            let n = out.shape[axis]
            return (0..<out.count).map { Int64(($0 / stride) % n) }
        case .reshape, .expand_dims, .squeeze:
            return operand(0)
        case .cast:
            return function.type(of: node.inputs[0]).dtype == .i64 ? operand(0) : nil
        case .broadcast_to:
            return moved(broadcastIndexMap(from: shapes[0], to: out.shape))
        case .transpose:
            let perm = attrs.perm ?? Array((0..<shapes[0].count).reversed())
            let strides = rowMajorStrides(shapes[0])
            return moved(stridedIndexMap(shape: out.shape, strides: perm.map { strides[$0] }))
        case .slice:
            let strides = rowMajorStrides(shapes[0])
            let offset = zip(attrs.start ?? [], strides).reduce(0) { $0 + $1.0 * $1.1 }
            return moved(stridedIndexMap(shape: out.shape, strides: steppedStrides(strides, attrs.step ?? [], extents: out.shape), offset: offset))
        case .concat:
            guard let axis = attrs.axis.flatMap({ normalizeAxis($0, rank: out.rank) }) else { return nil }
            var result = [Int64](repeating: 0, count: out.count)
            let strides = rowMajorStrides(out.shape)
            var offset = 0
            for k in node.inputs.indices {
                guard let v = operand(k) else { return nil }
                for (e, p) in stridedIndexMap(shape: shapes[k], strides: strides, offset: offset * strides[axis]).enumerated() { result[p] = v[e] }
                offset += shapes[k][axis]
            }
            return result
        case .neg:
            return operand(0).map { $0.map { 0 &- $0 } }
        case .add: return elementwise { $0 &+ $1 }
        case .sub: return elementwise { $0 &- $1 }
        case .mul: return elementwise { $0 &* $1 }
        case .floordiv:
            // NumPy: round toward −inf, 0 where b = 0, wrap for min / −1.
            return elementwise { a, b in
                if b == 0 { return 0 }
                if b == -1 { return 0 &- a }
                let q = a / b
                return (a % b != 0) && ((a < 0) != (b < 0)) ? q - 1 : q
            }
        case .mod:
            return elementwise { a, b in
                if b == 0 || b == -1 { return 0 }
                let r = a % b
                return r != 0 && ((r < 0) != (b < 0)) ? r + b : r
            }
        case .input, .abs, .sign, .exp, .log, .log1p, .expm1, .sqrt, .rsqrt, .square, .reciprocal, .sin, .cos, .tan, .tanh,
             .sigmoid, .relu, .softplus, .erf, .floor, .ceil, .div, .pow, .maximum, .minimum, .atan2, .zmul, .zdiv, .lgamma,
             .digamma, .erfc, .log_sigmoid, .polygamma, .logaddexp, .xlogy, .eq, .ne, .lt, .le, .gt, .ge, .select, .sum,
             .mean, .max, .min, .prod, .logsumexp, .argmax, .argmin, .matmul, .dot, .pad, .cumsum, .one_hot, .take,
             .take_along_axis, .scatter_add, .scatter_add_along_axis, .softmax, .log_softmax, .softmax_cross_entropy, .conv2d,
             .conv2d_input_grad, .conv2d_kernel_grad, .grad, .jacobian, .hessian, .scan, .result, .cholesky,
             .triangular_solve, .logdet, .solve, .det, .jvp, .hvp, .max_pool2d, .max_pool2d_grad, .max_pool2d_tangent,
             .avg_pool2d, .avg_pool2d_grad, .logabsdet, .det_sign:
            // Not followed (an index from these is rare, or depends on float values).
            return nil
        }
    }
}
