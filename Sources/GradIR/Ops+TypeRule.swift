/// Shape and dtype inference: the result type of an op applied to operands of the given
/// types, or a diagnostic saying what was expected.
extension Op {
    /// The result type of an elementwise op (unary, binary or comparison) whose
    /// `operandCount` operands all have type `t`, or `nil` when the op is not elementwise, the
    /// count is wrong or the dtype is not accepted. The same rule as `inferType` below (for
    /// one operand type nothing broadcasts), stated through the op table, and without the
    /// operand list `inferType` takes — the hot path of parsing and differentiating scalar
    /// graphs.
    public func sameTypeElementwiseResult(_ t: TensorType, operandCount: Int) -> TensorType? {
        let accepted = t.dtype.isFloat || (t.dtype == .i64 && acceptsIntegers)
        switch info.family {
        case .unary: return operandCount == 1 && accepted ? t : nil
        case .binary: return operandCount == 2 && accepted ? t : nil
        case .comparison:
            guard operandCount == 2, self == .eq || self == .ne || t.dtype.isNumeric else { return nil }
            return t.with(dtype: .bool)
        default: return nil
        }
    }

    public func inferType(_ operands: [TensorType], _ attrs: Attributes) throws(Diagnostic) -> TensorType {
        guard info.arity.accepts(operands.count) else {
            throw Diagnostic(.wrongArity(op: name, expected: info.arity.description, got: operands.count))
        }
        func fail(_ kind: DiagnosticKind) -> Diagnostic { Diagnostic(kind) }
        func requireFloat(_ t: TensorType) throws(Diagnostic) {
            if !t.dtype.isFloat { throw fail(.unsupportedDType(op: name, t, expected: "f32 or f64")) }
        }
        func requireNumeric(_ t: TensorType) throws(Diagnostic) {
            if acceptsIntegers {
                if !t.dtype.isNumeric { throw fail(.unsupportedDType(op: name, t, expected: "f32, f64 or i64")) }
            } else {
                try requireFloat(t)
            }
        }
        func sameDType(_ ts: [TensorType]) throws(Diagnostic) {
            if let f = ts.first, ts.contains(where: { $0.dtype != f.dtype }) { throw fail(.dtypeMismatch(op: name, ts)) }
        }
        func broadcast(_ ts: [TensorType]) throws(Diagnostic) -> [Int] {
            var shape: [Int] = []
            for t in ts {
                guard let s = broadcastShapes(shape, t.shape) else { throw fail(.shapeMismatch(op: name, ts)) }
                shape = s
            }
            return shape
        }
        func reducedShape(_ t: TensorType) throws(Diagnostic) -> [Int] {
            let axes = try normalizedAxes(attrs.axes, rank: t.rank)
            return t.shape.indices.compactMap { i in
                axes.contains(i) ? (attrs.keepdims ? 1 : nil) : t.shape[i]
            }
        }
        func normalizedAxes(_ given: [Int]?, rank: Int) throws(Diagnostic) -> [Int] {
            guard let given else { return Array(0..<rank) }
            var out: [Int] = []
            for a in given {
                guard let n = normalizeAxis(a, rank: rank), !out.contains(n) else {
                    throw fail(.invalidAttribute(op: name, name: "axes", expected: "distinct axes in -\(rank)..<\(rank)"))
                }
                out.append(n)
            }
            return out.sorted()
        }
        func axisAttr(rank: Int, default def: Int? = nil, extra: Int = 0) throws(Diagnostic) -> Int {
            guard let a = attrs.axis ?? def else { throw fail(.missingAttribute(op: name, name: "axis")) }
            guard let n = normalizeAxis(a, rank: rank + extra) else {
                throw fail(.invalidAttribute(op: name, name: "axis", expected: "an axis in -\(rank + extra)..<\(rank + extra)"))
            }
            return n
        }
        /// The normalized `axis` of an indexing op on data `x` with indices `idx` (i64).
        func indexedAxis(_ x: TensorType, _ idx: TensorType) throws(Diagnostic) -> Int {
            guard idx.dtype == .i64 else { throw fail(.unsupportedDType(op: name, idx, expected: "i64 indices")) }
            guard x.rank >= 1 else { throw fail(.invalidOperand(op: name, "needs a tensor with an axis to index, got \(x)")) }
            return try axisAttr(rank: x.rank)
        }
        /// Along an axis: indices of x's rank and x's length on every other axis.
        func alongAxisShapes(_ x: TensorType, _ idx: TensorType, _ axis: Int) throws(Diagnostic) {
            guard idx.rank == x.rank, (0..<x.rank).allSatisfy({ $0 == axis || idx.shape[$0] == x.shape[$0] }) else {
                throw fail(.invalidOperand(op: name, "indices \(idx) must have the rank of \(x) and its length on every axis but axis \(axis)"))
            }
        }
        func validShape(_ key: String, _ s: [Int]?) throws(Diagnostic) -> [Int] {
            guard let s else { throw fail(.missingAttribute(op: name, name: key)) }
            guard checkedElementCount(s) != nil else {
                throw fail(.invalidShape("\(s) (dimensions must be ≥ 0, rank ≤ \(maxRank), at most \(maxElementCount) elements)"))
            }
            return s
        }

        if let e = elementwise {
            // Operands broadcast together; comparisons give bool, `select` takes a bool
            // condition, every other elementwise op keeps its operands' dtype.
            if e == .select {
                if operands[0].dtype != .bool { throw fail(.unsupportedDType(op: name, operands[0], expected: "a bool condition")) }
                try sameDType([operands[1], operands[2]])
                return TensorType(operands[1].dtype, try broadcast(operands))
            }
            try sameDType(operands)
            if e.isComparison {
                if e != .eq && e != .ne && !operands[0].dtype.isNumeric {
                    throw fail(.unsupportedDType(op: name, operands[0], expected: "f32, f64 or i64"))
                }
                return TensorType(.bool, try broadcast(operands))
            }
            try requireNumeric(operands[0])
            return TensorType(operands[0].dtype, try broadcast(operands))
        }
        guard let structural else { throw fail(.other("\(name) is neither elementwise nor structural")) }
        switch structural {
        case .input:
            throw fail(.other("an input's type is declared, not inferred"))
        case .const:
            guard let dtype = attrs.dtype else { throw fail(.missingAttribute(op: name, name: "dtype")) }
            let shape = try validShape("shape", attrs.shape ?? [])
            if let values = attrs.values {
                if attrs.value != nil { throw fail(.invalidAttribute(op: name, name: "values", expected: "either value or values, not both")) }
                if values.count != TensorType(dtype, shape).count {
                    throw fail(.invalidAttribute(op: name, name: "values", expected: "\(TensorType(dtype, shape).count) numbers for shape \(shape)"))
                }
            } else if attrs.value == nil {
                throw fail(.missingAttribute(op: name, name: "value"))
            }
            return TensorType(dtype, shape)
        case .sum, .mean, .max, .min, .prod, .logsumexp:
            try requireNumeric(operands[0])
            return TensorType(operands[0].dtype, try reducedShape(operands[0]))
        case .argmax, .argmin:
            let t = operands[0]
            try requireNumeric(t)
            for a in try normalizedAxes(attrs.axes, rank: t.rank) where t.shape[a] == 0 {
                throw fail(.invalidOperand(op: name, "axis \(a) of \(t) is empty, so it has no \(self == .argmax ? "maximum" : "minimum")"))
            }
            return TensorType(.i64, try reducedShape(t))
        case .matmul:
            let (a, b) = (operands[0], operands[1])
            try sameDType(operands)
            try requireNumeric(a)
            guard a.rank >= 2, b.rank >= 2, a.shape[a.rank - 1] == b.shape[b.rank - 2] else {
                throw fail(.shapeMismatch(op: name, operands))
            }
            guard let batch = broadcastShapes(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2))) else {
                throw fail(.shapeMismatch(op: name, operands))
            }
            return TensorType(a.dtype, batch + [a.shape[a.rank - 2], b.shape[b.rank - 1]])
        case .transpose:
            let t = operands[0]
            let perm = attrs.perm ?? Array((0..<t.rank).reversed())
            guard perm.count == t.rank, Set(perm) == Set(0..<t.rank) else {
                throw fail(.invalidAttribute(op: name, name: "perm", expected: "a permutation of 0..<\(t.rank)"))
            }
            return t.with(shape: perm.map { t.shape[$0] })
        case .dot:
            try sameDType(operands)
            try requireNumeric(operands[0])
            guard operands[0].rank == 1, operands[1].rank == 1, operands[0].shape == operands[1].shape else {
                throw fail(.shapeMismatch(op: name, operands))
            }
            return TensorType(operands[0].dtype, [])
        case .cholesky, .logdet, .det, .logabsdet, .det_sign:
            let t = operands[0]
            guard t.dtype.isFloat, t.rank >= 2, t.shape[t.rank - 1] == t.shape[t.rank - 2] else {
                throw fail(.invalidOperand(op: name, "expected a float square matrix […, n, n], got \(t)"))
            }
            return self == .cholesky ? t : t.with(shape: Array(t.shape.dropLast(2)))
        case .triangular_solve, .solve:
            let (l, b) = (operands[0], operands[1])
            try sameDType(operands)
            guard l.dtype.isFloat, l.rank >= 2, l.shape[l.rank - 1] == l.shape[l.rank - 2] else {
                throw fail(.invalidOperand(op: name, "expected a float square matrix […, n, n] first, got \(l)"))
            }
            guard b.rank == l.rank, b.shape[b.rank - 2] == l.shape[l.rank - 1], Array(b.shape.dropLast(2)) == Array(l.shape.dropLast(2)) else {
                throw fail(.invalidOperand(op: name, "expected a right-hand side […, n, k] with the matrix's batch dimensions and n = \(l.shape[l.rank - 1]), got \(b)"))
            }
            return b
        case .reshape:
            let shape = try validShape("shape", attrs.shape)
            guard shape.reduce(1, *) == operands[0].count else {
                throw fail(.invalidAttribute(op: name, name: "shape", expected: "\(operands[0].count) elements like \(operands[0]), got \(shape)"))
            }
            return operands[0].with(shape: shape)
        case .broadcast_to:
            let shape = try validShape("shape", attrs.shape)
            guard broadcastShapes(operands[0].shape, shape) == shape else {
                throw fail(.invalidAttribute(op: name, name: "shape", expected: "a shape \(operands[0]) broadcasts to, got \(shape)"))
            }
            return operands[0].with(shape: shape)
        case .slice:
            let t = operands[0]
            guard let start = attrs.start, let stop = attrs.stop, let step = attrs.step,
                  start.count == t.rank, stop.count == t.rank, step.count == t.rank else {
                throw fail(.invalidAttribute(op: name, name: "start/stop/step", expected: "\(t.rank) entries each"))
            }
            var shape: [Int] = []
            for i in 0..<t.rank {
                guard step[i] >= 1, start[i] >= 0, start[i] <= stop[i], stop[i] <= t.shape[i] else {
                    throw fail(.invalidAttribute(op: name, name: "start/stop/step", expected: "0 ≤ start ≤ stop ≤ \(t.shape[i]) and step ≥ 1 on axis \(i)"))
                }
                shape.append(stop[i] == start[i] ? 0 : (stop[i] - start[i] - 1) / step[i] + 1)
            }
            return t.with(shape: shape)
        case .pad:
            let t = operands[0]
            guard let low = attrs.low, let high = attrs.high, let step = attrs.step,
                  low.count == t.rank, high.count == t.rank, step.count == t.rank,
                  !low.contains(where: { $0 < 0 }), !high.contains(where: { $0 < 0 }), !step.contains(where: { $0 < 1 }) else {
                throw fail(.invalidAttribute(op: name, name: "low/high/step", expected: "\(t.rank) entries each, low, high ≥ 0, step ≥ 1"))
            }
            var shape: [Int] = []
            for i in 0..<t.rank {
                let (body, o1) = t.shape[i] == 0 ? (-1, false) : (t.shape[i] - 1).multipliedReportingOverflow(by: step[i])
                let (extent, o0) = body.addingReportingOverflow(1)
                let (withLow, o2) = extent.addingReportingOverflow(low[i])
                let (total, o3) = withLow.addingReportingOverflow(high[i])
                guard !(o0 || o1 || o2 || o3) else { throw fail(.invalidShape("padding of \(t) overflows")) }
                shape.append(total)
            }
            return t.with(shape: try validShape("shape", shape))
        case .concat:
            let first = operands[0]
            try sameDType(operands)
            let axis = try axisAttr(rank: first.rank)
            var total = 0
            for t in operands {
                guard t.rank == first.rank, (0..<t.rank).allSatisfy({ $0 == axis || t.shape[$0] == first.shape[$0] }) else {
                    throw fail(.shapeMismatch(op: name, operands))
                }
                total += t.shape[axis]
            }
            var shape = first.shape
            shape[axis] = total
            return first.with(shape: try validShape("shape", shape))
        case .expand_dims:
            let t = operands[0]
            let axis = try axisAttr(rank: t.rank, extra: 1)
            var shape = t.shape
            shape.insert(1, at: axis)
            return t.with(shape: try validShape("shape", shape))
        case .squeeze:
            let t = operands[0]
            let axes = try attrs.axes.map { (a: [Int]) throws(Diagnostic) -> [Int] in try normalizedAxes(a, rank: t.rank) }
                ?? t.shape.indices.filter { t.shape[$0] == 1 }
            for a in axes where t.shape[a] != 1 {
                throw fail(.invalidAttribute(op: name, name: "axes", expected: "axes of length 1, but axis \(a) of \(t) has length \(t.shape[a])"))
            }
            return t.with(shape: t.shape.indices.filter { !axes.contains($0) }.map { t.shape[$0] })
        case .cumsum:
            try requireNumeric(operands[0])
            _ = try axisAttr(rank: operands[0].rank)
            return operands[0]
        case .one_hot:
            let t = operands[0]
            guard t.dtype == .i64 else { throw fail(.unsupportedDType(op: name, t, expected: "i64 labels")) }
            guard let depth = attrs.depth, depth >= 1 else { throw fail(.invalidAttribute(op: name, name: "depth", expected: "a positive integer")) }
            let dtype = attrs.dtype ?? .f64
            return TensorType(dtype, try validShape("shape", t.shape + [depth]))
        case .take, .take_along_axis:
            let (x, idx) = (operands[0], operands[1])
            let axis = try indexedAxis(x, idx)
            if structural == .take {
                return x.with(shape: try validShape("shape", Array(x.shape[..<axis]) + idx.shape + Array(x.shape[(axis + 1)...])))
            }
            try alongAxisShapes(x, idx, axis)
            return x.with(shape: idx.shape)
        case .scatter_add, .scatter_add_along_axis:
            let (base, idx, updates) = (operands[0], operands[1], operands[2])
            try requireNumeric(base)
            try sameDType([base, updates])
            let axis = try indexedAxis(base, idx)
            let expected: [Int]
            let rule: String
            if structural == .scatter_add {
                expected = try validShape("shape", Array(base.shape[..<axis]) + idx.shape + Array(base.shape[(axis + 1)...]))
                rule = "base.shape[:axis] + idx.shape + base.shape[axis+1:], like take's result"
            } else {
                try alongAxisShapes(base, idx, axis)
                expected = idx.shape
                rule = "the shape of the indices"
            }
            guard updates.shape == expected else {
                throw fail(.invalidOperand(op: name, "updates must have shape \(AttrValue.ints(expected)) (\(rule)) for base \(base), indices \(idx) and axis \(axis), got \(updates)"))
            }
            return base
        case .iota:
            let shape = try validShape("shape", attrs.shape)
            guard !shape.isEmpty else { throw fail(.invalidAttribute(op: name, name: "shape", expected: "at least one dimension")) }
            _ = try axisAttr(rank: shape.count, default: 0)
            let dtype = attrs.dtype ?? .i64
            guard dtype.isNumeric else { throw fail(.invalidAttribute(op: name, name: "dtype", expected: "i64, f32 or f64, got \(dtype)")) }
            return TensorType(dtype, shape)
        case .cast:
            guard let dtype = attrs.dtype else { throw fail(.missingAttribute(op: name, name: "dtype")) }
            return operands[0].with(dtype: dtype)
        case .softmax, .log_softmax:
            try requireFloat(operands[0])
            guard operands[0].rank >= 1 else { throw fail(.invalidOperand(op: name, "needs at least one axis, got \(operands[0])")) }
            _ = try axisAttr(rank: operands[0].rank, default: -1)
            return operands[0]
        case .softmax_cross_entropy:
            try sameDType(operands)
            try requireFloat(operands[0])
            guard operands[0].rank >= 1, operands[0].shape == operands[1].shape else { throw fail(.shapeMismatch(op: name, operands)) }
            let axis = try axisAttr(rank: operands[0].rank, default: -1)
            var shape = operands[0].shape
            shape.remove(at: axis)
            return operands[0].with(shape: shape)
        case .conv2d, .conv2d_input_grad, .conv2d_kernel_grad:
            let (a, b) = (operands[0], operands[1])
            try sameDType(operands)
            try requireFloat(a)
            guard a.rank == 4, b.rank == 4 else {
                let what = structural == .conv2d ? "x[N,C,H,W] (NCHW) and w[O,C,KH,KW] (OIHW)"
                    : structural == .conv2d_input_grad ? "g[N,O,OH,OW] and w[O,C,KH,KW]" : "x[N,C,H,W] and g[N,O,OH,OW]"
                throw fail(.invalidOperand(op: name, "expects 4-D operands \(what), got \(a) and \(b)"))
            }
            var spatial: [Int] = []
            if structural != .conv2d {
                guard let s = attrs.shape, s.count == 2, s.allSatisfy({ $0 >= 0 && $0 <= maxElementCount }) else {
                    throw fail(.invalidAttribute(op: name, name: "shape", expected: structural == .conv2d_input_grad ? "the input's [H,W]" : "the kernel's [KH,KW]"))
                }
                spatial = s
            }
            let x: [Int], w: [Int]
            switch structural {
            case .conv2d_input_grad:
                guard a.shape[1] == b.shape[0] else {
                    throw fail(.invalidOperand(op: name, "the cotangent has \(a.shape[1]) channels but the kernel \(b) has \(b.shape[0]) outputs"))
                }
                (x, w) = ([a.shape[0], b.shape[1]] + spatial, b.shape)
            case .conv2d_kernel_grad:
                guard a.shape[0] == b.shape[0] else {
                    throw fail(.invalidOperand(op: name, "the input has batch \(a.shape[0]) but the cotangent \(b) has batch \(b.shape[0])"))
                }
                (x, w) = (a.shape, [b.shape[1], a.shape[1]] + spatial)
            default:
                (x, w) = (a.shape, b.shape)
            }
            let geometry: ConvGeometry
            switch ConvGeometry.make(input: x, kernel: w, attrs: attrs) {
            case .success(let g): geometry = g
            case .failure(let e):
                if let attribute = e.attribute { throw fail(.invalidAttribute(op: name, name: attribute, expected: e.message)) }
                throw fail(.invalidOperand(op: name, e.message))
            }
            switch structural {
            case .conv2d_input_grad, .conv2d_kernel_grad:
                guard b.shape == geometry.outputShape || structural == .conv2d_input_grad,
                      a.shape == geometry.outputShape || structural == .conv2d_kernel_grad else {
                    throw fail(.invalidOperand(op: name, "the cotangent must have the forward result's shape \(AttrValue.ints(geometry.outputShape)), got \(structural == .conv2d_input_grad ? a : b)"))
                }
                return a.with(shape: try validShape("shape", structural == .conv2d_input_grad ? geometry.inputShape : geometry.kernelShape))
            default:
                return a.with(shape: try validShape("shape", geometry.outputShape))
            }
        case .max_pool2d, .max_pool2d_grad, .max_pool2d_tangent, .avg_pool2d, .avg_pool2d_grad:
            let a = operands[0]
            try sameDType(operands)
            try requireFloat(a)
            guard a.rank == 4 else {
                let what = structural == .avg_pool2d_grad ? "g[N,C,OH,OW]" : "x[N,C,H,W] (NCHW)"
                throw fail(.invalidOperand(op: name, "expects a 4-D operand \(what), got \(a)"))
            }
            var input = a.shape
            if structural == .avg_pool2d_grad {
                guard let s = attrs.shape, s.count == 2, s.allSatisfy({ $0 >= 0 && $0 <= maxElementCount }) else {
                    throw fail(.invalidAttribute(op: name, name: "shape", expected: "the input's [H,W]"))
                }
                input = [a.shape[0], a.shape[1]] + s
            }
            let geometry: PoolGeometry
            switch PoolGeometry.make(input: input, attrs: attrs) {
            case .success(let g): geometry = g
            case .failure(let e):
                if let attribute = e.attribute { throw fail(.invalidAttribute(op: name, name: attribute, expected: e.message)) }
                throw fail(.invalidOperand(op: name, e.message))
            }
            switch structural {
            case .max_pool2d_grad:
                guard operands[1].shape == geometry.outputShape else {
                    throw fail(.invalidOperand(op: name, "the cotangent must have the pooled shape \(AttrValue.ints(geometry.outputShape)), got \(operands[1])"))
                }
                return a
            case .max_pool2d_tangent:
                guard operands[1].shape == a.shape else {
                    throw fail(.invalidOperand(op: name, "the tangent must have the input's shape \(AttrValue.ints(a.shape)), got \(operands[1])"))
                }
                return a.with(shape: try validShape("shape", geometry.outputShape))
            case .avg_pool2d_grad:
                return a.with(shape: try validShape("shape", geometry.inputShape))
            default:
                return a.with(shape: try validShape("shape", geometry.outputShape))
            }
        case .grad, .hessian:
            let (y, x) = (operands[0], operands[1])
            guard y.isScalar, y.dtype.isFloat else { throw fail(.notScalar(op: name, y)) }
            guard x.dtype.isFloat else { throw fail(.integerWRT(op: name, x)) }
            if attrs.sparse { throw fail(.invalidOperand(op: name, sparseTypedByFunction)) }
            return self == .grad ? x : x.with(shape: try validShape("shape", x.shape + x.shape))
        case .jacobian:
            let (y, x) = (operands[0], operands[1])
            guard y.dtype.isFloat else { throw fail(.unsupportedDType(op: name, y, expected: "f32 or f64")) }
            guard x.dtype.isFloat else { throw fail(.integerWRT(op: name, x)) }
            if attrs.sparse { throw fail(.invalidOperand(op: name, sparseTypedByFunction)) }
            return TensorType(y.dtype, try validShape("shape", y.shape + x.shape))
        case .jvp:
            let y = operands[0]
            guard y.dtype.isFloat else { throw fail(.unsupportedDType(op: name, y, expected: "f32 or f64")) }
            guard operands.count % 2 == 1 else {
                throw fail(.invalidOperand(op: name, "takes y then pairs of a value and its tangent (x, v), got \(operands.count) operands"))
            }
            for k in stride(from: 1, to: operands.count, by: 2) {
                let (x, v) = (operands[k], operands[k + 1])
                guard x.dtype.isFloat else { throw fail(.integerWRT(op: name, x)) }
                guard v == x else { throw fail(.invalidOperand(op: name, "the tangent must have the type of the value it moves, \(x), got \(v)")) }
            }
            return y
        case .hvp:
            let (y, x, v) = (operands[0], operands[1], operands[2])
            guard y.isScalar, y.dtype.isFloat else { throw fail(.notScalar(op: name, y)) }
            guard x.dtype.isFloat else { throw fail(.integerWRT(op: name, x)) }
            guard v == x else { throw fail(.invalidOperand(op: name, "the vector must have the type of x, \(x), got \(v)")) }
            return x
        case .scan, .result:
            // Their types depend on the loop body, which only the function holds.
            throw fail(.invalidOperand(op: name, "is typed with the function that holds its loop body (Function.loopNodeType)"))
        }
    }
}

/// Why `Op.inferType` cannot type a sparse request: its length is its pattern's non-zero count.
let sparseTypedByFunction = "with sparse=true is typed with the function that holds its operands (Function.nodeType: the length is the pattern's non-zero count)"
