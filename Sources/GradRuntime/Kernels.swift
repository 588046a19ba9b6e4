/// Largest result (in elements) the reference kernels will allocate; larger results are
/// refused with a diagnostic instead of exhausting memory.
public let referenceMaxElements = 1 << 31

/// Computes one op on concrete tensors: the reference semantics of the IR.
///
/// `resultType` is the type the op's type rule inferred; the operands are checked against the
/// rule again (cheap) so that a malformed graph gives a diagnostic instead of a crash.
/// Constant folding, the reference evaluator and the tests all call this; the VM and C
/// backends must agree with it (bit for bit where the documented formulas allow).
public func evaluateOp(_ op: Op, _ attrs: Attributes, _ inputs: [Tensor], resultType: TensorType) throws(Diagnostic) -> Tensor {
    if op == .input {
        throw Diagnostic(.invalidOperand(op: op.name, "an input has no value until the caller provides one"))
    }
    let inferred = try op.inferType(inputs.map(\.type), attrs)
    guard inferred == resultType else {
        throw Diagnostic(.annotationMismatch(declared: resultType, inferred: inferred))
    }
    guard resultType.count <= referenceMaxElements else {
        throw Diagnostic(.invalidShape("\(resultType) has more than \(referenceMaxElements) elements, too many to evaluate"))
    }
    let rt = resultType

    if let e = op.elementwise { return try elementwiseKernel(e, inputs, rt) }
    guard let structural = op.structural else { throw operandMismatch(op, inputs) }
    switch structural {
    case .input:
        throw Diagnostic(.invalidOperand(op: op.name, "an input has no value until the caller provides one"))
    case .const:
        return try constantKernel(attrs, rt)

    // MARK: Reductions
    case .sum: return try reductionKernel(op, .sum, attrs, inputs, rt)
    case .mean: return try reductionKernel(op, .mean, attrs, inputs, rt)
    case .max: return try reductionKernel(op, .max, attrs, inputs, rt)
    case .min: return try reductionKernel(op, .min, attrs, inputs, rt)
    case .prod: return try reductionKernel(op, .prod, attrs, inputs, rt)
    case .logsumexp: return try reductionKernel(op, .logsumexp, attrs, inputs, rt)
    case .argmax, .argmin: return try argReduceKernel(op, attrs, inputs, rt)

    // MARK: Linear algebra
    case .matmul: return try matmulKernel(op, inputs, rt)
    case .dot: return try dotKernel(op, inputs, rt)
    case .transpose: return try transposeKernel(op, attrs, inputs, rt)
    case .cholesky, .triangular_solve, .logdet, .solve, .det, .logabsdet, .det_sign: return try linalgKernel(op, attrs, inputs, rt)

    // MARK: Shape and data movement
    case .reshape, .expand_dims, .squeeze:
        return try makeTensor(inputs[0].storage, rt.shape, op)
    case .broadcast_to:
        return try makeTensor(inputs[0].storage.gathered(broadcastIndexMap(from: inputs[0].shape, to: rt.shape)), rt.shape, op)
    case .slice: return try sliceKernel(op, attrs, inputs, rt)
    case .pad: return try padKernel(op, attrs, inputs, rt)
    case .concat: return try concatKernel(op, attrs, inputs, rt)
    case .cumsum: return try cumsumKernel(op, attrs, inputs, rt)
    case .one_hot: return try oneHotKernel(op, attrs, inputs, rt)
    case .cast: return try castKernel(op, inputs[0], rt)

    // MARK: Indexing
    case .take, .take_along_axis: return try takeKernel(op, attrs, inputs, rt)
    case .scatter_add, .scatter_add_along_axis: return try scatterAddKernel(op, attrs, inputs, rt)
    case .iota: return try iotaKernel(op, attrs, rt)

    // MARK: Neural-network helpers
    case .softmax, .log_softmax: return try softmaxKernel(op, attrs, inputs, rt)
    case .softmax_cross_entropy: return try crossEntropyKernel(op, attrs, inputs, rt)

    // MARK: Convolution
    case .conv2d, .conv2d_input_grad, .conv2d_kernel_grad: return try convKernel(op, attrs, inputs, rt)
    case .max_pool2d, .max_pool2d_grad, .max_pool2d_tangent, .avg_pool2d, .avg_pool2d_grad: return try poolKernel(op, attrs, inputs, rt)

    // MARK: Derivative requests
    case .grad, .jacobian, .hessian, .jvp, .hvp:
        throw Diagnostic(.unexpandedDerivative(op: op.name))

    // MARK: Loops: run by `ReferenceEvaluator`, which holds the function and its bodies
    case .scan, .result:
        throw Diagnostic(.invalidOperand(op: op.name, "is evaluated with its function (ReferenceEvaluator), not as a single op"))
    }
}

// MARK: - Elementwise dispatch

/// An elementwise op with NumPy broadcasting, every element computed by
/// `ElementwiseOp.real` (floats) or `ElementwiseOp.integer` (i64; bool as 0/1).
func elementwiseKernel(_ e: ElementwiseOp, _ inputs: [Tensor], _ rt: TensorType) throws(Diagnostic) -> Tensor {
    let op = e.op
    if e == .select { return try selectKernel(op, inputs, rt) }
    let x = inputs[0]
    let y = inputs.count > 1 ? inputs[1] : inputs[0]
    let s = rt.shape
    func out<R>(_ a: [R], _ b: [R], _ f: (R, R) -> R) -> [R] {
        e.arity == 1 ? a.map { f($0, $0) } : zipBroadcast(a, x.shape, b, y.shape, s, f)
    }
    switch (x.storage, y.storage) {
    case (.f32(let a), .f32(let b)):
        let r = out(a, b) { e.real($0, $1, 0) }
        return try makeTensor(e.isComparison ? .bool(r.map { $0 != 0 }) : .f32(r), s, op)
    case (.f64(let a), .f64(let b)):
        let r = out(a, b) { e.real($0, $1, 0) }
        return try makeTensor(e.isComparison ? .bool(r.map { $0 != 0 }) : .f64(r), s, op)
    case (.i64(let a), .i64(let b)):
        guard e.hasIntegerForm else { throw operandMismatch(op, inputs) }
        let r = out(a, b) { p, q in e.integer(p, q, 0) ?? 0 }
        return try makeTensor(e.isComparison ? .bool(r.map { $0 != 0 }) : .i64(r), s, op)
    case (.bool(let a), .bool(let b)) where e == .eq || e == .ne:
        return try makeTensor(.bool(out(a, b) { p, q in (p == q) == (e == .eq) }), s, op)
    default:
        throw operandMismatch(op, inputs)
    }
}

func selectKernel(_ op: Op, _ inputs: [Tensor], _ rt: TensorType) throws(Diagnostic) -> Tensor {
    let (c, a, b) = (inputs[0], inputs[1], inputs[2])
    guard case .bool(let cv) = c.storage else { throw operandMismatch(op, inputs) }
    let s = rt.shape
    switch (a.storage, b.storage) {
    case (.f32(let x), .f32(let y)): return try makeTensor(.f32(selectBroadcast(cv, c.shape, x, a.shape, y, b.shape, s)), s, op)
    case (.f64(let x), .f64(let y)): return try makeTensor(.f64(selectBroadcast(cv, c.shape, x, a.shape, y, b.shape, s)), s, op)
    case (.i64(let x), .i64(let y)): return try makeTensor(.i64(selectBroadcast(cv, c.shape, x, a.shape, y, b.shape, s)), s, op)
    case (.bool(let x), .bool(let y)): return try makeTensor(.bool(selectBroadcast(cv, c.shape, x, a.shape, y, b.shape, s)), s, op)
    default: throw operandMismatch(op, inputs)
    }
}

// MARK: - Constants and casts

/// `const`: `values` row-major or `value` splat, converted to the dtype like `cast` from f64
/// (f32 rounds to nearest; i64 truncates toward zero with NaN/inf/out of range → 0; bool is
/// `!= 0`). Integer attributes (`value=3`, `values=[1,2]`) convert to i64 exactly.
func constantKernel(_ attrs: Attributes, _ rt: TensorType) throws(Diagnostic) -> Tensor {
    let n = rt.count
    if rt.dtype == .i64 {
        var ints: [Int64]
        switch (attrs[.values], attrs[.value]) {
        case (.ints(let v)?, _): ints = v.map { Int64($0) }
        case (.floats(let v)?, _): ints = v.map { ScalarMath.toInt64($0) }
        case (_, .int(let v)?): ints = [Int64](repeating: Int64(v), count: n)
        case (_, .float(let v)?): ints = [Int64](repeating: ScalarMath.toInt64(v), count: n)
        default: throw Diagnostic(.missingAttribute(op: Op.const.name, name: "value"))
        }
        if ints.count != n { ints = [Int64](repeating: ints.first ?? 0, count: n) }
        return try makeTensor(.i64(ints), rt.shape, .const)
    }
    let doubles: [Double]
    if let values = attrs.values {
        doubles = values
    } else if let value = attrs.value {
        doubles = [Double](repeating: value, count: n)
    } else {
        throw Diagnostic(.missingAttribute(op: Op.const.name, name: "value"))
    }
    return try castKernel(.const, Tensor(.f64(doubles), shape: rt.shape) ?? Tensor(rt.with(dtype: .f64), doubles: doubles), rt)
}

/// `cast`: f64→f32 rounds to nearest; f32→f64 and i64→real are the nearest representable
/// value; real→i64 truncates toward zero with NaN, ±inf and out-of-range values giving 0
/// (`ScalarMath.toInt64`); anything→bool is `x != 0` (so NaN → true); bool→number is 0 or 1.
func castKernel(_ op: Op, _ x: Tensor, _ rt: TensorType) throws(Diagnostic) -> Tensor {
    let s: Tensor.Storage
    switch (x.storage, rt.dtype) {
    case (.f32(let v), .f32): s = .f32(v)
    case (.f32(let v), .f64): s = .f64(v.map { Double($0) })
    case (.f32(let v), .i64): s = .i64(v.map { ScalarMath.toInt64($0) })
    case (.f32(let v), .bool): s = .bool(v.map { $0 != 0 })
    case (.f64(let v), .f32): s = .f32(v.map { Float($0) })
    case (.f64(let v), .f64): s = .f64(v)
    case (.f64(let v), .i64): s = .i64(v.map { ScalarMath.toInt64($0) })
    case (.f64(let v), .bool): s = .bool(v.map { $0 != 0 })
    case (.i64(let v), .f32): s = .f32(v.map { Float($0) })
    case (.i64(let v), .f64): s = .f64(v.map { Double($0) })
    case (.i64(let v), .i64): s = .i64(v)
    case (.i64(let v), .bool): s = .bool(v.map { $0 != 0 })
    case (.bool(let v), .f32): s = .f32(v.map { $0 ? 1 : 0 })
    case (.bool(let v), .f64): s = .f64(v.map { $0 ? 1 : 0 })
    case (.bool(let v), .i64): s = .i64(v.map { $0 ? 1 : 0 })
    case (.bool(let v), .bool): s = .bool(v)
    }
    return try makeTensor(s, rt.shape, op)
}
