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

    switch op {
    case .input:
        throw Diagnostic(.invalidOperand(op: op.name, "an input has no value until the caller provides one"))
    case .const:
        return try constantKernel(attrs, rt)

    // MARK: Elementwise unary
    case .neg: return try numericUnary(op, inputs, rt, ScalarMath.neg, ScalarMath.neg, ScalarMath.neg)
    case .abs: return try numericUnary(op, inputs, rt, ScalarMath.abs, ScalarMath.abs, ScalarMath.abs)
    case .sign: return try numericUnary(op, inputs, rt, ScalarMath.sign, ScalarMath.sign, ScalarMath.sign)
    case .square: return try numericUnary(op, inputs, rt, ScalarMath.square, ScalarMath.square, ScalarMath.square)
    case .relu: return try numericUnary(op, inputs, rt, ScalarMath.relu, ScalarMath.relu, ScalarMath.relu)
    case .exp: return try realUnary(op, inputs, rt, ScalarMath.exp, ScalarMath.exp)
    case .log: return try realUnary(op, inputs, rt, ScalarMath.log, ScalarMath.log)
    case .log1p: return try realUnary(op, inputs, rt, ScalarMath.log1p, ScalarMath.log1p)
    case .expm1: return try realUnary(op, inputs, rt, ScalarMath.expm1, ScalarMath.expm1)
    case .sqrt: return try realUnary(op, inputs, rt, ScalarMath.sqrt, ScalarMath.sqrt)
    case .rsqrt: return try realUnary(op, inputs, rt, ScalarMath.rsqrt, ScalarMath.rsqrt)
    case .reciprocal: return try realUnary(op, inputs, rt, ScalarMath.reciprocal, ScalarMath.reciprocal)
    case .sin: return try realUnary(op, inputs, rt, ScalarMath.sin, ScalarMath.sin)
    case .cos: return try realUnary(op, inputs, rt, ScalarMath.cos, ScalarMath.cos)
    case .tan: return try realUnary(op, inputs, rt, ScalarMath.tan, ScalarMath.tan)
    case .tanh: return try realUnary(op, inputs, rt, ScalarMath.tanh, ScalarMath.tanh)
    case .sigmoid: return try realUnary(op, inputs, rt, ScalarMath.sigmoid, ScalarMath.sigmoid)
    case .softplus: return try realUnary(op, inputs, rt, ScalarMath.softplus, ScalarMath.softplus)
    case .erf: return try realUnary(op, inputs, rt, ScalarMath.erf, ScalarMath.erf)
    case .floor: return try realUnary(op, inputs, rt, ScalarMath.floor, ScalarMath.floor)
    case .ceil: return try realUnary(op, inputs, rt, ScalarMath.ceil, ScalarMath.ceil)

    // MARK: Elementwise binary
    case .add: return try numericBinary(op, inputs, rt, ScalarMath.add, ScalarMath.add, ScalarMath.add)
    case .sub: return try numericBinary(op, inputs, rt, ScalarMath.sub, ScalarMath.sub, ScalarMath.sub)
    case .mul: return try numericBinary(op, inputs, rt, ScalarMath.mul, ScalarMath.mul, ScalarMath.mul)
    case .maximum: return try numericBinary(op, inputs, rt, ScalarMath.maximum, ScalarMath.maximum, ScalarMath.maximum)
    case .minimum: return try numericBinary(op, inputs, rt, ScalarMath.minimum, ScalarMath.minimum, ScalarMath.minimum)
    case .div: return try realBinary(op, inputs, rt, ScalarMath.div, ScalarMath.div)
    case .pow: return try realBinary(op, inputs, rt, ScalarMath.pow, ScalarMath.pow)
    case .atan2: return try realBinary(op, inputs, rt, ScalarMath.atan2, ScalarMath.atan2)
    case .zmul: return try realBinary(op, inputs, rt, ScalarMath.zmul, ScalarMath.zmul)
    case .zdiv: return try realBinary(op, inputs, rt, ScalarMath.zdiv, ScalarMath.zdiv)

    // MARK: Comparisons and selection (IEEE: every comparison with NaN is false except `ne`)
    case .eq: return try comparison(op, inputs, rt, { $0 == $1 }, { $0 == $1 }, { $0 == $1 }, { $0 == $1 })
    case .ne: return try comparison(op, inputs, rt, { $0 != $1 }, { $0 != $1 }, { $0 != $1 }, { $0 != $1 })
    case .lt: return try comparison(op, inputs, rt, { $0 < $1 }, { $0 < $1 }, { $0 < $1 }, nil)
    case .le: return try comparison(op, inputs, rt, { $0 <= $1 }, { $0 <= $1 }, { $0 <= $1 }, nil)
    case .gt: return try comparison(op, inputs, rt, { $0 > $1 }, { $0 > $1 }, { $0 > $1 }, nil)
    case .ge: return try comparison(op, inputs, rt, { $0 >= $1 }, { $0 >= $1 }, { $0 >= $1 }, nil)
    case .select: return try selectKernel(op, inputs, rt)

    // MARK: Reductions
    case .sum: return try reductionKernel(op, .sum, attrs, inputs, rt)
    case .mean: return try reductionKernel(op, .mean, attrs, inputs, rt)
    case .max: return try reductionKernel(op, .max, attrs, inputs, rt)
    case .min: return try reductionKernel(op, .min, attrs, inputs, rt)
    case .prod: return try reductionKernel(op, .prod, attrs, inputs, rt)
    case .logsumexp: return try reductionKernel(op, .logsumexp, attrs, inputs, rt)

    // MARK: Linear algebra
    case .matmul: return try matmulKernel(op, inputs, rt)
    case .dot: return try dotKernel(op, inputs, rt)
    case .transpose: return try transposeKernel(op, attrs, inputs, rt)

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

    // MARK: Neural-network helpers
    case .softmax, .log_softmax: return try softmaxKernel(op, attrs, inputs, rt)
    case .softmax_cross_entropy: return try crossEntropyKernel(op, attrs, inputs, rt)

    // MARK: Derivative requests
    case .grad, .jacobian, .hessian:
        throw Diagnostic(.unexpandedDerivative(op: op.name))
    }
}

// MARK: - Elementwise dispatch

func realUnary(_ op: Op, _ inputs: [Tensor], _ rt: TensorType,
               _ f32: (Float) -> Float, _ f64: (Double) -> Double) throws(Diagnostic) -> Tensor {
    switch inputs[0].storage {
    case .f32(let v): return try makeTensor(.f32(v.map(f32)), rt.shape, op)
    case .f64(let v): return try makeTensor(.f64(v.map(f64)), rt.shape, op)
    case .i64, .bool: throw operandMismatch(op, inputs)
    }
}

func numericUnary(_ op: Op, _ inputs: [Tensor], _ rt: TensorType,
                  _ f32: (Float) -> Float, _ f64: (Double) -> Double, _ i64: (Int64) -> Int64) throws(Diagnostic) -> Tensor {
    switch inputs[0].storage {
    case .f32(let v): return try makeTensor(.f32(v.map(f32)), rt.shape, op)
    case .f64(let v): return try makeTensor(.f64(v.map(f64)), rt.shape, op)
    case .i64(let v): return try makeTensor(.i64(v.map(i64)), rt.shape, op)
    case .bool: throw operandMismatch(op, inputs)
    }
}

func realBinary(_ op: Op, _ inputs: [Tensor], _ rt: TensorType,
                _ f32: (Float, Float) -> Float, _ f64: (Double, Double) -> Double) throws(Diagnostic) -> Tensor {
    let (x, y) = (inputs[0], inputs[1])
    switch (x.storage, y.storage) {
    case (.f32(let a), .f32(let b)): return try makeTensor(.f32(zipBroadcast(a, x.shape, b, y.shape, rt.shape, f32)), rt.shape, op)
    case (.f64(let a), .f64(let b)): return try makeTensor(.f64(zipBroadcast(a, x.shape, b, y.shape, rt.shape, f64)), rt.shape, op)
    default: throw operandMismatch(op, inputs)
    }
}

func numericBinary(_ op: Op, _ inputs: [Tensor], _ rt: TensorType,
                   _ f32: (Float, Float) -> Float, _ f64: (Double, Double) -> Double,
                   _ i64: (Int64, Int64) -> Int64) throws(Diagnostic) -> Tensor {
    let (x, y) = (inputs[0], inputs[1])
    switch (x.storage, y.storage) {
    case (.f32(let a), .f32(let b)): return try makeTensor(.f32(zipBroadcast(a, x.shape, b, y.shape, rt.shape, f32)), rt.shape, op)
    case (.f64(let a), .f64(let b)): return try makeTensor(.f64(zipBroadcast(a, x.shape, b, y.shape, rt.shape, f64)), rt.shape, op)
    case (.i64(let a), .i64(let b)): return try makeTensor(.i64(zipBroadcast(a, x.shape, b, y.shape, rt.shape, i64)), rt.shape, op)
    default: throw operandMismatch(op, inputs)
    }
}

func comparison(_ op: Op, _ inputs: [Tensor], _ rt: TensorType,
                _ f32: (Float, Float) -> Bool, _ f64: (Double, Double) -> Bool, _ i64: (Int64, Int64) -> Bool,
                _ bool: ((Bool, Bool) -> Bool)?) throws(Diagnostic) -> Tensor {
    let (x, y) = (inputs[0], inputs[1])
    let out: [Bool]
    switch (x.storage, y.storage) {
    case (.f32(let a), .f32(let b)): out = zipBroadcast(a, x.shape, b, y.shape, rt.shape, f32)
    case (.f64(let a), .f64(let b)): out = zipBroadcast(a, x.shape, b, y.shape, rt.shape, f64)
    case (.i64(let a), .i64(let b)): out = zipBroadcast(a, x.shape, b, y.shape, rt.shape, i64)
    case (.bool(let a), .bool(let b)):
        guard let bool else { throw operandMismatch(op, inputs) }
        out = zipBroadcast(a, x.shape, b, y.shape, rt.shape, bool)
    default: throw operandMismatch(op, inputs)
    }
    return try makeTensor(.bool(out), rt.shape, op)
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
