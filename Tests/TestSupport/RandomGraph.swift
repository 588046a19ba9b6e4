import Grad

/// Generates random well-typed functions for differential testing: every op of `Op.allCases`
/// (over a few seeds), broadcasting, fan-out, ranks 0–3, f32 and f64. Seeded and reproducible.
///
/// The graphs stay in the smooth interior of every op (domains are guarded with softplus,
/// ties are unlikely) so finite differences are a fair judge of the gradients.
public struct RandomGraphGenerator {
    var rng: SplitMix64
    public let dtype: DType
    var fb: FunctionBuilder
    var pool: [Value] = []
    public private(set) var inputs: [String: Tensor] = [:]
    var params: [Value] = []
    var weights: [Value] = []

    public init(seed: UInt64) {
        rng = SplitMix64(seed: seed)
        dtype = seed % 3 == 0 ? .f32 : .f64
        fb = FunctionBuilder("random\(seed)")
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }

    mutating func randomShape() -> [Int] {
        (0..<int(0...3)).map { _ in int(1...3) }
    }

    /// A positive version of `v` (softplus(v) + 0.5), for ops with restricted domains.
    mutating func positive(_ v: Value) throws -> Value {
        try apply(.softplus, v) + 0.5
    }

    /// Builds a function and returns it with the loss's gradient (and sometimes a Hessian)
    /// requested for every input.
    public mutating func generate(steps: Int = 12) throws -> Function {
        let inputCount = int(1...3)
        for k in 0..<inputCount {
            let shape = randomShape()
            let v = try fb.input("x\(k)", dtype, shape)
            params.append(v)
            pool.append(v)
            inputs["x\(k)"] = Tensor.random(TensorType(dtype, shape), range: -1...1, using: &rng)
        }
        // Weights for matmuls, declared up front: parameters come first in canonical form.
        for k in 1...3 {
            let w = try fb.input("w\(k)", dtype, [k, 4 - k])
            params.append(w)
            weights.append(w)
            inputs["w\(k)"] = Tensor.random(w.type, range: -1...1, using: &rng)
        }
        for _ in 0..<steps {
            if let v = try? step() { pool.append(v) }
        }
        // Loss: a weighted sum of the last values (fan-out makes earlier ones feed several).
        var loss = try sum(pool[pool.count - 1])
        for v in pool.suffix(3).dropLast() {
            loss = try loss + sum(v) * 0.5
        }
        try fb.output(loss, "loss")
        try fb.output(fb.grad(of: loss, wrt: params))
        if let small = params.first(where: { $0.type.count <= 4 }), int(0...1) == 0 {
            try fb.output(fb.hessian(of: loss, wrt: small), "hessian")
        }
        // A Jacobian of a small intermediate value (not the loss) with respect to a parameter.
        let parameterIDs = Set(params.map(\.id))
        if let y = pool.last(where: { $0.type.rank >= 1 && $0.type.count <= 6 && !parameterIDs.contains($0.id) }),
           let x = params.first(where: { $0.type.count <= 4 }), int(0...2) == 0 {
            try fb.output(fb.jacobian(of: y, wrt: x), "jacobian")
        }
        // Forward mode along computed directions (no random draw here: earlier seeds keep
        // their graphs): the loss's directional derivative in every parameter at once, and a
        // Hessian–vector product.
        try fb.output(fb.jvp(of: loss, wrt: params, along: params.map { try cos($0 * 1.5) }), "jvp")
        try fb.output(fb.hvp(of: loss, wrt: params[0], along: sin(params[0] + 0.5)), "hvp")
        return fb.function
    }

    mutating func step() throws -> Value {
        let a = pick(pool)
        switch int(0...13) {
        case 0, 1:
            let op = pick([Op.neg, .exp, .sin, .cos, .tanh, .sigmoid, .softplus, .erf, .erfc, .log_sigmoid, .square, .expm1, .abs, .relu])
            if op == .exp || op == .expm1 { return try apply(op, apply(.tanh, a)) }
            return try apply(op, a)
        case 2:
            let op = pick([Op.log, .sqrt, .rsqrt, .reciprocal, .log1p, .lgamma, .digamma, .polygamma])
            if op == .polygamma { return try polygamma(int(1...2), positive(a)) }
            return try apply(op, positive(a))
        case 3, 4:
            let b = pick(pool.filter { broadcastShapes($0.shape, a.shape) != nil })
            let op = pick([Op.add, .sub, .mul, .maximum, .minimum, .atan2, .logaddexp, .xlogy])
            if op == .xlogy { return try fb.apply(.xlogy, [a, positive(b)]) }
            // atan2 has no derivative at (0, 0), which `a - a` reaches exactly: keep x > 0.
            if op == .atan2 { return try fb.apply(.atan2, [a, positive(b)]) }
            return try fb.apply(op, [a, b])
        case 5:
            let b = pick(pool.filter { broadcastShapes($0.shape, a.shape) != nil })
            switch int(0...3) {
            case 0: return try a / positive(b)
            case 1: return try fb.apply(.zdiv, [a, positive(b)])
            case 2: return try fb.apply(.zmul, [a, b])
            default: return try fb.apply(.pow, [positive(a), b])
            }
        case 6:
            guard a.type.rank > 0 else { return try a * a }
            let op = pick([Op.sum, .mean, .max, .min, .logsumexp, .prod])
            let axis = int(0...(a.type.rank - 1))
            var attrs = Attributes([.axes: .ints([axis])])
            if int(0...1) == 0 { attrs[.keepdims] = .bool(true) }
            return try fb.apply(op, [a], attrs)
        case 7:
            guard a.type.rank >= 1, a.shape[a.type.rank - 1] <= 3 else { return try a * 2 }
            let k = a.shape[a.type.rank - 1]
            let w = weights[k - 1]
            let lhs = a.type.rank == 1 ? try a.reshaped([1, k]) : a
            return try lhs.matmul(w)
        case 8:
            guard a.type.rank >= 1 else { return try select(fb.apply(.gt, [a, fb.constant(0, dtype)]), a, a * a) }
            switch int(0...4) {
            case 0: return try a.transposed()
            case 1: return try fb.apply(.cumsum, [a], Attributes([.axis: .int(a.type.rank - 1)]))
            case 2: return try softmax(a)
            case 3: return try a.sliced(axis: 0, 0, nil, step: 2)
            default: return try fb.apply(.concat, [a, a * 0.5], Attributes([.axis: .int(0)]))
            }
        case 9:
            let b = pick(pool.filter { broadcastShapes($0.shape, a.shape) != nil })
            let comparison = pick([Op.lt, .le, .gt, .ge, .eq, .ne])
            return try select(fb.apply(comparison, [a, b]), a * b, a - b)
        case 10:
            // Piecewise-constant ops, shifted off the integers and 0 that relu, sign, floor and
            // constants produce, so finite differences do not straddle a jump.
            let op = pick([Op.sign, .floor, .ceil, .tan])
            if op == .tan { return try apply(.tan, apply(.tanh, a)) }
            return try apply(op, a * 1.5 + 0.37) * a
        case 11:
            return try shapeStep(a)
        case 12:
            return try nnStep(a)
        default:
            return try dtypeStep(a)
        }
    }

    /// Reshape, broadcast_to, pad, expand_dims, squeeze, transpose with a permutation.
    mutating func shapeStep(_ a: Value) throws -> Value {
        let rank = a.type.rank
        switch int(0...4) {
        case 0:
            return try a.reshaped(a.shape.reversed())
        case 1:
            guard rank < 3 else { return try a.reshaped([a.type.count]) }
            return try fb.apply(.broadcast_to, [a], Attributes([.shape: .ints([2] + a.shape)]))
        case 2:
            let low = (0..<rank).map { _ in int(0...1) }
            let high = (0..<rank).map { _ in int(0...1) }
            let step = (0..<rank).map { _ in int(1...2) }
            return try fb.apply(.pad, [a], Attributes([.low: .ints(low), .high: .ints(high), .step: .ints(step)]))
        case 3:
            let e = try fb.apply(.expand_dims, [a], Attributes([.axis: .int(int(0...rank))]))
            return try apply(.sin, e)
        default:
            guard rank >= 2 else {
                let e = try fb.apply(.expand_dims, [a], Attributes([.axis: .int(0)]))
                return try fb.apply(.squeeze, [apply(.cos, e)], Attributes([.axes: .ints([0])]))
            }
            var perm = Array(0..<rank)
            perm.shuffle(using: &rng)
            return try a.transposed(perm)
        }
    }

    /// dot, batched matmul (or a 1×1 convolution of a matrix), log_softmax,
    /// softmax_cross_entropy, and the factorizations (cholesky, triangular_solve, logdet) of an
    /// SPD matrix made from the value.
    mutating func nnStep(_ a: Value) throws -> Value {
        let rank = a.type.rank
        switch int(0...4) {
        case 4:
            guard rank >= 2 else { return try a * 0.5 }
            var perm = Array(0..<rank)
            perm.swapAt(rank - 1, rank - 2)
            let r = a.shape[rank - 2]
            let spd = try a.matmul(a.transposed(perm)) + fb.eye(r, dtype: dtype) * Double(r + 1)
            let l = try cholesky(spd)
            let x = try int(0...2) == 0 ? solve(spd, a) : triangularSolve(l, a, transpose: int(0...1) == 0)
            // (logabsdet and det_sign of the SPD matrix, without another random draw: the
            // graphs of other seeds stay as they were.)
            let scale = try int(0...1) == 0 ? logdet(spd) : log(det(spd)) + (logabsdet(spd) - logdet(spd)) * detSign(spd)
            return try x + reshape(scale, Array(a.shape.dropLast(2)) + [1, 1]) * 0.125
        case 0:
            guard rank == 1 else { return try logSoftmax(a.reshaped([a.type.count])) }
            let b = pick(pool.filter { $0.shape == a.shape })
            return try a.dot(b)
        case 1:
            guard rank == 3 else {
                guard rank == 2, a.type.count > 0 else { return try a * apply(.sigmoid, a) }
                // A 1×1 convolution of the matrix as one image, and the two gradient ops, all of
                // the matrix's shape (no random draw: the graphs of other seeds stay as they were).
                let (h, w) = (a.shape[0], a.shape[1])
                let x = try a.reshaped([1, 1, h, w])
                let k = try a.sliced(axis: 0, 0, 1).sliced(axis: 1, 0, 1).reshaped([1, 1, 1, 1])
                let y = try conv2d(x, k) + conv2dInputGrad(x, conv2dKernelGrad(x, x, kernelSize: [1, 1]) * 0.5, inputSize: [h, w])
                // Overlapping poolings of it (windows of up to 1×2 with padding), the gradient
                // ops shaped like the matrix, the pooled values summed (no random draw either).
                let kw = Swift.min(2, w)
                let (window, stride, padding) = ([1, kw], [1, 1], [0, kw / 2])
                let avg = try avgPool2d(x, window: window, stride: stride, padding: padding)
                let mx = try maxPool2d(x, window: window, stride: stride, padding: padding)
                let pooled = try avgPool2dGrad(avg, inputSize: [h, w], window: window, stride: stride, padding: padding)
                    + maxPool2dGrad(x, mx, window: window, stride: stride, padding: padding)
                let tangent = try sum(maxPool2dTangent(x, x * 0.5, window: window, stride: stride, padding: padding))
                return try a * apply(.sigmoid, a) + (y + pooled * 0.5).reshaped([h, w]) * 0.25 + tangent * 0.125
            }
            return try a.matmul(a.transposed([0, 2, 1]))
        case 2:
            guard rank >= 1 else { return try logSoftmax(a.reshaped([1])) }
            return try logSoftmax(a, axis: int(0...(rank - 1)))
        default:
            guard rank >= 1 else { return try a * 0.25 }
            let b = pick(pool.filter { $0.shape == a.shape })
            let axis = int(0...(rank - 1))
            return try softmaxCrossEntropy(a, softmax(b, axis: axis), axis: axis)
        }
    }

    /// cast (through the other float type and back), one_hot of labels computed from the
    /// values, constants of a shape.
    mutating func dtypeStep(_ a: Value) throws -> Value {
        switch int(0...3) {
        case 0:
            let other: DType = dtype == .f32 ? .f64 : .f32
            return try apply(.exp, apply(.tanh, a.cast(other))).cast(dtype)
        case 1:
            // Labels 0…3 (depth 3: label 3 is out of range and gives zeros).
            let labels = try apply(.floor, apply(.sigmoid, a) * 3.999).cast(.i64)
            let hot = try fb.apply(.one_hot, [labels], Attributes([.depth: .int(3), .dtype: .dtype(dtype)]))
            return try sum(hot, axes: [a.type.rank]) * a
        case 2:
            return try indexStep(a)
        default:
            return try a * fb.constant(0.75, dtype, a.shape) + fb.constant(0.125, dtype)
        }
    }

    /// take and scatter_add at indices built from iota with floordiv and mod (in range, some
    /// negative, some repeated), or argmax/argmin (ties broken by a small multiple of the
    /// position, so finite differences never cross one) feeding take_along_axis and
    /// scatter_add_along_axis.
    mutating func indexStep(_ a: Value) throws -> Value {
        let rank = a.type.rank
        guard rank >= 1 else { return try a * a }
        let axis = int(0...(rank - 1))
        let n = a.shape[axis]
        if int(0...1) == 0 {
            let ids = try mod(floordiv(fb.iota(shape: [int(1...4)]) * 5 + 1, fb.constant(2, .i64)), fb.constant(Double(n), .i64)) - 1
            let taken = try take(a, ids, axis: axis)
            return try scatterAdd(a, ids, taken * taken, axis: axis)
        }
        let position = try fb.iota(shape: a.shape, axis: axis, dtype: dtype)
        let key = try a + position * 0.01
        let best = try fb.apply(int(0...1) == 0 ? .argmax : .argmin, [key], Attributes([.axes: .ints([axis]), .keepdims: .bool(true)]))
        let top = try takeAlongAxis(a, best, axis: axis)
        return try scatterAddAlongAxis(a, best, top * top, axis: axis)
    }
}
