import Grad

/// One case of the every-op table: operand shapes with the interval their random values come
/// from, integer label operands, and how to build the op's output from them.
public struct OpCase {
    public var name: String
    public var operands: [([Int], ClosedRange<Double>)]
    /// i64 operands (labels), filled with (2k + 1) mod 3 unless `labelValues` gives them.
    public var labels: [[Int]] = []
    /// The values of the first label operands, row-major (indices: repeated, negative, 0, n−1).
    public var labelValues: [[Int64]] = []
    /// The case computes in f32 internally (casts): finite differences need f32 tolerances.
    public var f32Inside = false
    public var build: (FunctionBuilder, [Value], [Value]) throws -> Value

    public init(name: String, operands: [([Int], ClosedRange<Double>)], labels: [[Int]] = [], labelValues: [[Int64]] = [],
                f32Inside: Bool = false, build: @escaping (FunctionBuilder, [Value], [Value]) throws -> Value) {
        self.name = name
        self.operands = operands
        self.labels = labels
        self.labelValues = labelValues
        self.f32Inside = f32Inside
        self.build = build
    }

    /// The case as a function of `dtype` with seeded random inputs. Outputs: the op's value
    /// `out`, a randomly weighted `loss = sum(out ⊙ w)`, its gradient with respect to every
    /// float operand, and (for small first operands) its Hessian.
    public func makeFunction(_ dtype: DType, rng: inout SplitMix64) throws -> (function: Function, inputs: [String: Tensor], gradients: Int) {
        let fb = FunctionBuilder("case")
        var values: [Value] = []
        var inputs: [String: Tensor] = [:]
        for (k, (shape, range)) in operands.enumerated() {
            values.append(try fb.input("x\(k)", dtype, shape))
            inputs["x\(k)"] = Tensor.random(TensorType(dtype, shape), range: range, using: &rng)
        }
        var labelValues: [Value] = []
        for (k, shape) in labels.enumerated() {
            labelValues.append(try fb.input("l\(k)", .i64, shape))
            var data: [Int64] = []
            if k < self.labelValues.count {
                data = self.labelValues[k]
            } else {
                for e in 0..<shape.reduce(1, *) { data.append(Int64((e * 2 + 1) % 3)) }
            }
            guard let t = Tensor(.i64(data), shape: shape) else { throw OpCaseError.labelCount(name) }
            inputs["l\(k)"] = t
        }
        let out = try build(fb, values, labelValues)
        // A fixed random weighting makes every output element matter differently.
        let weights = try fb.input("w", out.dtype, out.shape)
        inputs["w"] = Tensor.random(TensorType(out.dtype, out.shape), using: &rng)
        let loss = try sum(out * weights)
        try fb.output(out, "out")
        try fb.output(loss, "loss")
        try fb.output(fb.grad(of: loss, wrt: values))
        let withHessian = values[0].type.count <= 12
        if withHessian {
            try fb.output(fb.hessian(of: loss, wrt: values[0]), "hessian")
        }
        return (fb.function, inputs, values.count + (withHessian ? 1 : 0))
    }
}

enum OpCaseError: Error {
    case labelCount(String)
}

/// The every-op table shared by the differentiation tests (finite differences) and the backend
/// tests (VM and C against the reference evaluator): every op is checked the same way.
public enum OpCases {
    public static let anywhere: ClosedRange<Double> = -1...1
    public static let positive: ClosedRange<Double> = 0.5...2
    public static let fractional: ClosedRange<Double> = 0.2...0.8

    public static func unary(_ op: Op, _ range: ClosedRange<Double> = anywhere, _ shape: [Int] = [2, 3]) -> OpCase {
        OpCase(name: "\(op.name) \(shape)", operands: [(shape, range)]) { fb, v, _ in try fb.apply(op, [v[0]]) }
    }
    public static func binary(_ op: Op, _ a: [Int], _ b: [Int], _ ra: ClosedRange<Double> = anywhere, _ rb: ClosedRange<Double> = anywhere) -> OpCase {
        OpCase(name: "\(op.name) \(a)·\(b)", operands: [(a, ra), (b, rb)]) { fb, v, _ in try fb.apply(op, [v[0], v[1]]) }
    }
    public static func attrs(_ op: Op, _ shape: [Int], _ attrs: [AttrKey: AttrValue], _ range: ClosedRange<Double> = anywhere) -> OpCase {
        OpCase(name: "\(op.name) \(shape) \(attrs.map { "\($0.key)=\($0.value)" }.sorted())", operands: [(shape, range)]) { fb, v, _ in
            try fb.apply(op, [v[0]], Attributes(attrs))
        }
    }
    static func selectOn(_ op: Op, _ a: [Int], _ b: [Int]) -> OpCase {
        OpCase(name: "select(\(op.name)) \(a)·\(b)", operands: [(a, anywhere), (b, anywhere)]) { fb, v, _ in
            try select(fb.apply(op, [v[0], v[1]]), v[0] * v[1], v[0] - v[1])
        }
    }

    /// Every op at small shapes (broadcasting, keepdims, batched matmul, steps, labels, casts).
    /// `backends: true` adds scalar variants and larger shapes that exercise the backends'
    /// blocked matmul, chunked fused loops and reduction layouts.
    public static func table(backends: Bool = false) -> [OpCase] {
        var cases: [OpCase] = []
        for op: Op in [.neg, .abs, .exp, .sin, .cos, .tan, .tanh, .sigmoid, .relu, .softplus, .erf, .square, .expm1] {
            cases.append(unary(op))
            if backends { cases.append(unary(op, anywhere, [])) }
        }
        for op: Op in [.log, .log1p, .sqrt, .rsqrt, .reciprocal] {
            cases.append(unary(op, positive))
            if backends { cases.append(unary(op, positive, [])) }
        }
        // Special functions (issue 17): positive and negative non-integer x, orders 0–3.
        for op: Op in [.lgamma, .digamma] {
            cases.append(unary(op, positive))
            cases.append(unary(op, -0.8 ... -0.2))
            if backends { cases.append(unary(op, positive, [])) }
        }
        for op: Op in [.erfc, .log_sigmoid] {
            cases.append(unary(op))
            if backends { cases.append(unary(op, anywhere, [])) }
        }
        for n in 0...3 {
            cases.append(OpCase(name: "polygamma(\(n), x) [2, 3]", operands: [([2, 3], positive)]) { _, v, _ in try polygamma(n, v[0]) })
        }
        cases.append(OpCase(name: "polygamma(1, x) [3] negative", operands: [([3], -0.8 ... -0.2)]) { _, v, _ in try polygamma(1, v[0]) })
        cases.append(binary(.logaddexp, [2, 3], [3]))
        cases.append(binary(.logaddexp, [2, 1], [1, 3], -3...3, -3...3))
        cases.append(binary(.xlogy, [2, 3], [3], anywhere, positive))
        cases.append(binary(.xlogy, [2, 1], [1, 3], anywhere, positive))
        if backends {
            cases.append(binary(.logaddexp, [], []))
            cases.append(binary(.xlogy, [], [], anywhere, positive))
            cases.append(OpCase(name: "polygamma(2, x) []", operands: [([], positive)]) { _, v, _ in try polygamma(2, v[0]) })
        }
        // Zero gradient almost everywhere: evaluated away from the jumps.
        for op: Op in [.sign, .floor, .ceil] {
            cases.append(unary(op, fractional))
        }
        for op: Op in [.add, .sub, .mul, .maximum, .minimum, .atan2] {
            cases.append(binary(op, [2, 3], [3]))
            cases.append(binary(op, [2, 1], [1, 3]))
            if backends {
                cases.append(binary(op, [], []))
                cases.append(binary(op, [3, 1, 5], [3, 4, 5]))
            }
        }
        cases.append(binary(.div, [2, 3], [3], anywhere, positive))
        cases.append(binary(.zdiv, [2, 3], [3], anywhere, positive))
        cases.append(binary(.zmul, [2, 1], [1, 3]))
        if backends {
            cases.append(binary(.zmul, [], []))
            cases.append(binary(.zdiv, [], [], anywhere, positive))
        }
        cases.append(binary(.div, [], [2, 2], anywhere, positive))
        cases.append(binary(.pow, [2, 3], [3], positive, anywhere))
        cases.append(binary(.pow, [2, 3], [], positive, anywhere))
        if backends { cases.append(binary(.pow, [], [], positive, anywhere)) }
        // Floor division and modulo away from their jumps (a/b never crosses an integer):
        // floordiv 0 and −1, mod with a divisor of the other sign (the sign fix-up) and mod 2.
        cases.append(binary(.floordiv, [2, 3], [3], 0.2...0.8, 1...2))
        cases.append(binary(.floordiv, [2, 1], [1, 3], -0.8 ... -0.2, 1...2))
        cases.append(binary(.mod, [2, 3], [3], 0.2...0.8, -3 ... -2.5))
        cases.append(binary(.mod, [2, 1], [1, 3], 2.6...2.9, 1...1.2))
        if backends {
            cases.append(binary(.floordiv, [], [], -0.8 ... -0.2, 1...2))
            cases.append(binary(.mod, [], [], 0.2...0.8, -3 ... -2.5))
        }
        for op: Op in [.eq, .ne, .lt, .le, .gt, .ge] {
            cases.append(selectOn(op, [2, 3], [3]))
            if backends { cases.append(selectOn(op, [], [])) }
        }
        cases.append(OpCase(name: "select broadcast", operands: [([2, 3], anywhere), ([], anywhere)]) { fb, v, _ in
            try select(fb.apply(.gt, [v[0], fb.constant(0, v[0].dtype)]), v[0], v[1])
        })
        for op: Op in [.sum, .mean, .max, .min, .prod, .logsumexp] {
            cases.append(attrs(op, [2, 3], [:]))
            cases.append(attrs(op, [2, 3], [.axes: .ints([1])]))
            cases.append(attrs(op, [2, 3, 2], [.axes: .ints([0, 2]), .keepdims: .bool(true)]))
            if backends {
                cases.append(attrs(op, [5, 3], [.axes: .ints([0])]))
                cases.append(attrs(op, [2, 3, 4], [.axes: .ints([1])]))
            }
        }
        cases.append(binary(.matmul, [2, 3], [3, 2]))
        cases.append(binary(.matmul, [2, 2, 3], [3, 2]))
        cases.append(binary(.matmul, [2, 1, 2, 3], [2, 3, 2]))
        if backends {
            cases.append(binary(.matmul, [9, 300], [300, 19]))
            cases.append(binary(.matmul, [1, 7], [7, 1]))
        }
        cases.append(binary(.dot, [4], [4]))
        cases.append(attrs(.transpose, [2, 3, 2], [.perm: .ints([2, 0, 1])]))
        cases.append(attrs(.reshape, [2, 3], [.shape: .ints([3, 2])]))
        cases.append(attrs(.broadcast_to, [3, 1], [.shape: .ints([2, 3, 4])]))
        cases.append(attrs(.slice, [4, 5], [.start: .ints([1, 0]), .stop: .ints([4, 5]), .step: .ints([2, 2])]))
        cases.append(attrs(.pad, [2, 3], [.low: .ints([1, 0]), .high: .ints([0, 2]), .step: .ints([1, 2])]))
        cases.append(OpCase(name: "concat", operands: [([2, 3], anywhere), ([2, 1], anywhere), ([2, 2], anywhere)]) { fb, v, _ in
            try fb.apply(.concat, v, Attributes([.axis: .int(1)]))
        })
        cases.append(attrs(.expand_dims, [2, 3], [.axis: .int(1)]))
        cases.append(attrs(.squeeze, [2, 1, 3], [.axes: .ints([1])]))
        cases.append(attrs(.cumsum, [2, 3], [.axis: .int(1)]))
        cases.append(attrs(.cumsum, [4], [.axis: .int(0), .reverse: .bool(true)]))
        cases.append(OpCase(name: "one_hot", operands: [([2, 3], anywhere)], labels: [[2]]) { fb, v, l in
            try fb.apply(.mul, [fb.apply(.one_hot, [l[0]], Attributes([.depth: .int(3), .dtype: .dtype(v[0].dtype)])), v[0]])
        })
        cases += indexing(backends: backends)
        cases += convolution(backends: backends)
        cases.append(OpCase(name: "cast f64↔f32", operands: [([2, 3], anywhere)], f32Inside: true) { fb, v, _ in
            let other: DType = v[0].dtype == .f64 ? .f32 : .f64
            return try exp(v[0].cast(other)).cast(v[0].dtype) * v[0]
        })
        cases.append(attrs(.softmax, [2, 3], [:]))
        cases.append(attrs(.softmax, [2, 3], [.axis: .int(0)]))
        cases.append(attrs(.log_softmax, [2, 3], [:]))
        if backends { cases.append(attrs(.log_softmax, [4, 3, 2], [.axis: .int(1)])) }
        cases.append(OpCase(name: "softmax_cross_entropy", operands: [([2, 3], anywhere), ([2, 3], fractional)]) { fb, v, _ in
            try softmaxCrossEntropy(v[0], v[1])
        })
        if backends {
            cases.append(OpCase(name: "long fused chain", operands: [([37, 300], anywhere), ([300], anywhere)]) { fb, v, _ in
                try tanh(sigmoid(v[0] * v[1] + v[0]) - exp(v[1]) / (v[0] * v[0] + fb.constant(1, v[0].dtype)))
            })
        }
        // Last, so that their random draws leave the inputs of the cases above as they were.
        cases += pooling(backends: backends)
        cases += slogdetCases(backends: backends)
        return cases
    }

    /// The convolutions (NCHW, OIHW): stride, padding, dilation, 1×1 kernels, padding wider
    /// than the kernel; squared where the Hessian should go through the rule of the rule (each
    /// op is bilinear, so its own Hessian in one operand is zero). On the backends: an empty
    /// batch, no channels, and a product large enough to block and pack.
    static func convolution(backends: Bool) -> [OpCase] {
        func attrs(stride: [Int]? = nil, padding: [Int]? = nil, dilation: [Int]? = nil, shape: [Int]? = nil) -> Attributes {
            var a = Attributes()
            if let stride { a[.stride] = .ints(stride) }
            if let padding { a[.padding] = .ints(padding) }
            if let dilation { a[.dilation] = .ints(dilation) }
            if let shape { a[.shape] = .ints(shape) }
            return a
        }
        var cases: [OpCase] = []
        cases.append(OpCase(name: "conv2d, squared", operands: [([1, 1, 3, 3], anywhere), ([2, 1, 2, 2], anywhere)]) { fb, v, _ in
            try square(fb.apply(.conv2d, [v[0], v[1]]))
        })
        cases.append(OpCase(name: "conv2d, Hessian in the kernel", operands: [([2, 1, 2, 2], anywhere), ([1, 1, 4, 4], anywhere)]) { fb, v, _ in
            try square(fb.apply(.conv2d, [v[1], v[0]], attrs(stride: [2, 2], padding: [1, 1])))
        })
        cases.append(OpCase(name: "conv2d stride, padding, dilation", operands: [([2, 2, 5, 4], anywhere), ([3, 2, 3, 2], anywhere)]) { fb, v, _ in
            try fb.apply(.conv2d, [v[0], v[1]], attrs(stride: [2, 1], padding: [1, 2], dilation: [1, 2]))
        })
        cases.append(OpCase(name: "conv2d 1×1 kernel", operands: [([2, 3, 2, 2], anywhere), ([4, 3, 1, 1], anywhere)]) { fb, v, _ in
            try fb.apply(.conv2d, [v[0], v[1]])
        })
        cases.append(OpCase(name: "conv2d padding wider than the kernel, squared", operands: [([1, 1, 2, 2], anywhere), ([1, 1, 2, 2], anywhere)]) { fb, v, _ in
            try square(fb.apply(.conv2d, [v[0], v[1]], attrs(padding: [3, 2])))
        })
        cases.append(OpCase(name: "conv2d_input_grad, squared", operands: [([1, 2, 2, 2], anywhere), ([2, 1, 2, 2], anywhere)]) { fb, v, _ in
            try square(fb.apply(.conv2d_input_grad, [v[0], v[1]], attrs(shape: [3, 3])))
        })
        cases.append(OpCase(name: "conv2d_input_grad strided", operands: [([2, 3, 2, 3], anywhere), ([3, 2, 3, 2], anywhere)]) { fb, v, _ in
            try fb.apply(.conv2d_input_grad, [v[0], v[1]], attrs(stride: [2, 2], padding: [1, 0], dilation: [1, 2], shape: [4, 7]))
        })
        cases.append(OpCase(name: "conv2d_kernel_grad, squared", operands: [([1, 1, 3, 3], anywhere), ([1, 2, 2, 2], anywhere)]) { fb, v, _ in
            try square(fb.apply(.conv2d_kernel_grad, [v[0], v[1]], attrs(shape: [2, 2])))
        })
        cases.append(OpCase(name: "conv2d_kernel_grad strided", operands: [([2, 2, 5, 4], anywhere), ([2, 3, 3, 6], anywhere)]) { fb, v, _ in
            try fb.apply(.conv2d_kernel_grad, [v[0], v[1]], attrs(stride: [2, 1], padding: [1, 2], dilation: [1, 2], shape: [3, 2]))
        })
        if backends {
            cases.append(OpCase(name: "conv2d empty batch", operands: [([0, 2, 3, 3], anywhere), ([3, 2, 2, 2], anywhere)]) { fb, v, _ in
                try fb.apply(.conv2d, [v[0], v[1]], attrs(padding: [1, 1]))
            })
            cases.append(OpCase(name: "conv2d no channels", operands: [([2, 0, 3, 3], anywhere), ([3, 0, 2, 2], anywhere)]) { fb, v, _ in
                try fb.apply(.conv2d, [v[0], v[1]])
            })
            cases.append(OpCase(name: "conv2d blocked", operands: [([3, 5, 9, 11], anywhere), ([20, 5, 3, 3], anywhere)]) { fb, v, _ in
                try fb.apply(.conv2d, [v[0], v[1]], attrs(stride: [1, 2], padding: [1, 1]))
            })
        }
        return cases
    }

    /// x + 3·I, or x + 3·J (J the reversed identity: partial pivoting swaps rows), as in
    /// `factorizationCases`.
    static func wellConditionedMatrix(_ fb: FunctionBuilder, _ x: Value, pivoting: Bool) throws -> Value {
        let n = x.shape[x.shape.count - 1]
        let j = (0..<(n * n)).map { e in Double(pivoting ? (e / n + e % n == n - 1 ? 3 : 0) : (e / n == e % n ? 3 : 0)) }
        return try x + fb.constant(values: j, x.dtype, [n, n])
    }

    /// slogdet's ops, `logabsdet` and `det_sign`: negative determinants through row
    /// swaps, batched, 1×1; on the backends an empty batch, 0×0 and a larger matrix.
    static func slogdetCases(backends: Bool) -> [OpCase] {
        var cases: [OpCase] = [
            OpCase(name: "logabsdet [3,3]", operands: [([3, 3], anywhere)]) { fb, v, _ in try logabsdet(wellConditionedMatrix(fb, v[0], pivoting: false)) },
            // 3·J has det −27: a negative determinant, found through row swaps.
            OpCase(name: "logabsdet with row swaps [3,3], times det_sign", operands: [([3, 3], anywhere)]) { fb, v, _ in
                let (sign, logAbsDet) = try slogdet(wellConditionedMatrix(fb, v[0], pivoting: true))
                return try sign * logAbsDet
            },
            OpCase(name: "slogdet [2,2,2], squared", operands: [([2, 2, 2], anywhere)]) { fb, v, _ in
                let a = try wellConditionedMatrix(fb, v[0], pivoting: true)
                return try square(logabsdet(a)) + detSign(a)
            },
            OpCase(name: "logabsdet [1,1]", operands: [([1, 1], positive)]) { _, v, _ in try logabsdet(v[0]) },
        ]
        if backends {
            cases.append(OpCase(name: "slogdet empty batch and 0×0", operands: [([4, 4], anywhere), ([0, 2, 2], anywhere), ([0, 0], anywhere)]) { fb, v, _ in
                try logabsdet(wellConditionedMatrix(fb, v[0], pivoting: true)) + sum(logabsdet(v[1]) + detSign(v[1])) + logabsdet(v[2]) * detSign(v[2])
            })
            cases.append(OpCase(name: "slogdet [12,12]", operands: [([12, 12], anywhere)]) { fb, v, _ in
                let (sign, logAbsDet) = try slogdet(wellConditionedMatrix(fb, v[0], pivoting: true))
                return try sign * logAbsDet
            })
        }
        return cases
    }

    /// The poolings (NCHW): overlapping windows (stride below the window), padding touching
    /// the windows, default and explicit strides; squared where the Hessian should go through
    /// the rule of the rule (max pooling's derivative is linear in g with weights constant in
    /// x, so its own Hessian in x is zero; the squares make it the Gauss–Newton-like term
    /// through `max_pool2d_grad` and `max_pool2d_tangent`). On the backends: an empty batch, an
    /// empty image whose windows are padding only, and a larger map.
    static func pooling(backends: Bool) -> [OpCase] {
        func attrs(window: [Int], stride: [Int]? = nil, padding: [Int]? = nil, shape: [Int]? = nil) -> Attributes {
            var a = Attributes([.window: .ints(window)])
            if let stride { a[.stride] = .ints(stride) }
            if let padding { a[.padding] = .ints(padding) }
            if let shape { a[.shape] = .ints(shape) }
            return a
        }
        var cases: [OpCase] = []
        cases.append(OpCase(name: "max_pool2d 2×2, squared", operands: [([1, 1, 2, 4], anywhere)]) { fb, v, _ in
            try square(fb.apply(.max_pool2d, [v[0]], attrs(window: [2, 2])))
        })
        cases.append(OpCase(name: "max_pool2d overlapping, padded", operands: [([2, 2, 5, 4], anywhere)]) { fb, v, _ in
            try fb.apply(.max_pool2d, [v[0]], attrs(window: [3, 2], stride: [2, 1], padding: [1, 1]))
        })
        cases.append(OpCase(name: "max_pool2d overlapping, squared", operands: [([1, 2, 3, 2], anywhere)]) { fb, v, _ in
            try square(fb.apply(.max_pool2d, [v[0]], attrs(window: [2, 2], stride: [1, 1], padding: [1, 0])))
        })
        cases.append(OpCase(name: "max_pool2d_grad, squared", operands: [([1, 1, 3, 3], anywhere), ([1, 1, 2, 2], anywhere)]) { fb, v, _ in
            try square(fb.apply(.max_pool2d_grad, [v[0], v[1]], attrs(window: [2, 2], stride: [1, 1])))
        })
        cases.append(OpCase(name: "max_pool2d_tangent, squared", operands: [([1, 1, 3, 3], anywhere), ([1, 1, 3, 3], anywhere)]) { fb, v, _ in
            try square(fb.apply(.max_pool2d_tangent, [v[0], v[1]], attrs(window: [2, 2], stride: [1, 2], padding: [1, 1])))
        })
        cases.append(OpCase(name: "avg_pool2d 2×2, squared", operands: [([1, 1, 2, 4], anywhere)]) { fb, v, _ in
            try square(fb.apply(.avg_pool2d, [v[0]], attrs(window: [2, 2])))
        })
        cases.append(OpCase(name: "avg_pool2d overlapping, padded", operands: [([2, 2, 5, 4], anywhere)]) { fb, v, _ in
            try fb.apply(.avg_pool2d, [v[0]], attrs(window: [3, 2], stride: [2, 1], padding: [1, 1]))
        })
        cases.append(OpCase(name: "avg_pool2d_grad, squared", operands: [([1, 2, 2, 2], anywhere)]) { fb, v, _ in
            try square(fb.apply(.avg_pool2d_grad, [v[0]], attrs(window: [2, 3], stride: [2, 1], padding: [1, 1], shape: [3, 2])))
        })
        if backends {
            cases.append(OpCase(name: "pooling empty batch", operands: [([3, 3], anywhere), ([0, 2, 3, 3], anywhere)]) { fb, v, _ in
                let p = try fb.apply(.max_pool2d, [v[1]], attrs(window: [2, 2], stride: [1, 1]))
                    + fb.apply(.avg_pool2d, [v[1]], attrs(window: [2, 2], stride: [1, 1]))
                return try v[0] + sum(p)
            })
            cases.append(OpCase(name: "pooling windows of padding only", operands: [([2, 2], anywhere), ([1, 2, 0, 3], anywhere)]) { fb, v, _ in
                // H = 0 with padding 1 and a window of 2: one row of windows over padding only.
                let a = try fb.apply(.avg_pool2d, [v[1]], attrs(window: [2, 2], padding: [1, 1]))
                let m = try fb.apply(.max_pool2d, [v[1]], attrs(window: [2, 2], padding: [1, 1]))
                return try v[0] * sum(a) + sum(relu(m))
            })
            cases.append(OpCase(name: "pooling larger map", operands: [([3, 4, 11, 9], anywhere)]) { fb, v, _ in
                try fb.apply(.max_pool2d, [v[0]], attrs(window: [3, 3], stride: [2, 2], padding: [1, 1]))
                    + fb.apply(.avg_pool2d, [v[0]], attrs(window: [3, 3], stride: [2, 2], padding: [1, 1]))
            })
        }
        return cases
    }

    /// The indexing ops, with indices that repeat, wrap around (−1) and name both ends of
    /// their axis; an empty index tensor on the backends.
    static func indexing(backends: Bool) -> [OpCase] {
        func axis(_ k: Int) -> Attributes { Attributes([.axis: .int(k)]) }
        var cases: [OpCase] = []
        // Squared where noted, so that the Hessian goes through the rule of the rule (take's
        // gradient is a scatter_add whose own gradient is a take, and back).
        cases.append(OpCase(name: "take axis 0, squared", operands: [([4, 3], anywhere)], labels: [[2, 2]], labelValues: [[3, 0, -1, 3]]) { fb, v, l in
            try square(fb.apply(.take, [v[0], l[0]], axis(0)))
        })
        cases.append(OpCase(name: "take axis 1", operands: [([2, 3], anywhere)], labels: [[4]]) { fb, v, l in
            try fb.apply(.take, [v[0], l[0]], axis(1))
        })
        cases.append(OpCase(name: "take scalar index", operands: [([2, 3], anywhere)], labels: [[]], labelValues: [[-3]]) { fb, v, l in
            try fb.apply(.take, [v[0], l[0]], axis(1))
        })
        cases.append(OpCase(name: "take_along_axis, squared", operands: [([2, 3], anywhere)], labels: [[2, 4]], labelValues: [[2, 2, 0, -1, 1, -3, 1, 0]]) { fb, v, l in
            try square(fb.apply(.take_along_axis, [v[0], l[0]], axis(1)))
        })
        cases.append(OpCase(name: "take_along_axis axis 0", operands: [([3, 2], anywhere)], labels: [[4, 2]], labelValues: [[2, 0, 2, -1, 0, 1, -3, 2]]) { fb, v, l in
            try fb.apply(.take_along_axis, [v[0], l[0]], axis(0))
        })
        cases.append(OpCase(name: "scatter_add axis 0, squared", operands: [([4, 2], anywhere), ([3, 2], anywhere)], labels: [[3]], labelValues: [[1, -1, 1]]) { fb, v, l in
            try square(fb.apply(.scatter_add, [v[0], l[0], v[1]], axis(0)))
        })
        cases.append(OpCase(name: "scatter_add, Hessian in the updates", operands: [([3, 2], anywhere), ([4, 2], anywhere)], labels: [[3]], labelValues: [[2, 0, 2]]) { fb, v, l in
            try square(fb.apply(.scatter_add, [v[1], l[0], v[0]], axis(0)))
        })
        cases.append(OpCase(name: "scatter_add axis 1", operands: [([2, 3], anywhere), ([2, 2, 2], anywhere)], labels: [[2, 2]], labelValues: [[0, 2, 2, -3]]) { fb, v, l in
            try fb.apply(.scatter_add, [v[0], l[0], v[1]], axis(1))
        })
        cases.append(OpCase(name: "scatter_add_along_axis, Hessian in the updates", operands: [([2, 4], anywhere), ([2, 3], anywhere)], labels: [[2, 4]], labelValues: [[2, 2, 0, -1, 1, -3, 1, 0]]) { fb, v, l in
            try square(fb.apply(.scatter_add_along_axis, [v[1], l[0], v[0]], axis(1)))
        })
        cases.append(OpCase(name: "iota", operands: [([2, 3], anywhere)]) { fb, v, _ in
            let i = try fb.apply(.iota, [], Attributes([.shape: .ints([2, 3]), .axis: .int(1)]))
            let f = try fb.apply(.iota, [], Attributes([.shape: .ints([2, 3]), .dtype: .dtype(v[0].dtype)]))
            return try v[0] * i.cast(v[0].dtype) + f
        })
        // argmax/argmin pick the elements whose gradient flows (no ties at random points).
        cases.append(OpCase(name: "argmax keepdims", operands: [([2, 3], anywhere)]) { fb, v, _ in
            let k = try fb.apply(.argmax, [v[0]], Attributes([.axes: .ints([1]), .keepdims: .bool(true)]))
            return try fb.apply(.take_along_axis, [v[0], k], axis(1))
        })
        cases.append(OpCase(name: "argmin all axes", operands: [([2, 3], anywhere)]) { fb, v, _ in
            let k = try fb.apply(.argmin, [v[0]])
            return try fb.apply(.take, [fb.apply(.reshape, [v[0]], Attributes([.shape: .ints([6])])), k], axis(0))
        })
        cases.append(OpCase(name: "argmin axes [0,2]", operands: [([2, 2, 3], anywhere)]) { fb, v, _ in
            let k = try fb.apply(.argmin, [v[0]], Attributes([.axes: .ints([0, 2])]))
            let rows = try fb.apply(.reshape, [fb.apply(.transpose, [v[0]], Attributes([.perm: .ints([1, 0, 2])]))], Attributes([.shape: .ints([2, 6])]))
            return try fb.apply(.take_along_axis, [rows, fb.apply(.reshape, [k], Attributes([.shape: .ints([2, 1])]))], axis(1))
        })
        cases.append(contentsOf: matrixHelperCases(backends: backends))
        cases.append(contentsOf: factorizationCases(backends: backends))
        if backends {
            cases.append(OpCase(name: "take empty indices", operands: [([4, 3], anywhere)], labels: [[2, 0]]) { fb, v, l in
                try fb.apply(.take, [v[0], l[0]], axis(0))
            })
            cases.append(OpCase(name: "scatter_add empty indices", operands: [([4, 3], anywhere), ([0, 3], anywhere)], labels: [[0]]) { fb, v, l in
                try fb.apply(.scatter_add, [v[0], l[0], v[1]], axis(0))
            })
            cases.append(OpCase(name: "take embedding rows", operands: [([50, 8], anywhere)], labels: [[6, 7]],
                                labelValues: [(0..<42).map { Int64(($0 * 17) % 100) - 50 }]) { fb, v, l in
                try fb.apply(.take, [v[0], l[0]], axis(0))
            })
        }
        return cases
    }

    /// The matrix helpers composed of other ops (`eye`, `diagonal`, `diag`, `trace`, `tril`,
    /// `triu`): squared or multiplied, so that the Hessian goes through the rules of the rules.
    public static func matrixHelperCases(backends: Bool = false) -> [OpCase] {
        var cases: [OpCase] = [
            OpCase(name: "diagonal [2,2,3], squared", operands: [([2, 2, 3], anywhere)]) { _, v, _ in try square(diagonal(v[0])) },
            OpCase(name: "diagonal [3,2]", operands: [([3, 2], anywhere)]) { _, v, _ in try diagonal(v[0]) },
            OpCase(name: "diag [2,3], squared", operands: [([2, 3], anywhere)]) { _, v, _ in try square(diag(v[0])) },
            OpCase(name: "diag [1]", operands: [([1], anywhere)]) { _, v, _ in try diag(v[0]) },
            OpCase(name: "trace [3,3], squared", operands: [([3, 3], anywhere)]) { _, v, _ in try square(trace(v[0])) },
            OpCase(name: "tril [3,4] squared", operands: [([3, 4], anywhere)]) { _, v, _ in try square(tril(v[0])) },
            OpCase(name: "tril k=-1 [2,3,3]", operands: [([2, 3, 3], anywhere)]) { _, v, _ in try tril(v[0], k: -1) },
            OpCase(name: "triu k=1 [3,3] squared", operands: [([3, 3], anywhere)]) { _, v, _ in try square(triu(v[0], k: 1)) },
            OpCase(name: "eye(3) * x", operands: [([3, 3], anywhere)]) { fb, v, _ in try square(fb.eye(3, dtype: v[0].dtype) * v[0]) },
        ]
        if backends {
            // Empty operands second (a Hessian of an empty first operand is not asked for).
            cases.append(OpCase(name: "diagonal empty batch", operands: [([4, 4], anywhere), ([0, 3, 3], anywhere)]) { _, v, _ in
                try concat([diagonal(v[0]), reshape(diagonal(v[1]), [0])], axis: 0)
            })
            cases.append(OpCase(name: "trace [0,0]", operands: [([4, 4], anywhere), ([0, 0], anywhere)]) { _, v, _ in try trace(v[0]) + trace(v[1]) })
            cases.append(OpCase(name: "triu [8,20]", operands: [([8, 20], anywhere)]) { _, v, _ in try triu(v[0], k: -2) })
        }
        return cases
    }

    /// A symmetric positive definite matrix from any square x (batched): x·xᵀ + n·I.
    public static func spd(_ fb: FunctionBuilder, _ x: Value) throws -> Value {
        let n = x.shape[x.shape.count - 1]
        return try x.matmul(transpose(x, perm: Array(0..<(x.shape.count - 2)) + [x.shape.count - 1, x.shape.count - 2])) + fb.eye(n, dtype: x.dtype) * Double(n)
    }

    /// `cholesky`, `triangular_solve`, `logdet` on well-conditioned inputs (SPD matrices made
    /// from the operand, triangles with a dominant diagonal), batched, 1×1, and (backends)
    /// empty batches and larger sizes. The first operand is small, so the Hessian is checked.
    public static func factorizationCases(backends: Bool = false) -> [OpCase] {
        /// A lower (or upper) triangle with diagonal 2 + x²: well conditioned.
        func triangle(_ fb: FunctionBuilder, _ x: Value, lower: Bool) throws -> Value {
            let t = lower ? try tril(x, k: -1) : try triu(x, k: 1)
            return try t + diag(square(diagonal(x)) + 2)
        }
        var cases: [OpCase] = [
            OpCase(name: "cholesky [3,3]", operands: [([3, 3], anywhere)]) { fb, v, _ in try cholesky(spd(fb, v[0])) },
            OpCase(name: "cholesky [2,2,2]", operands: [([2, 2, 2], anywhere)]) { fb, v, _ in try cholesky(spd(fb, v[0])) },
            OpCase(name: "cholesky [1,1]", operands: [([1, 1], positive)]) { _, v, _ in try cholesky(v[0]) },
            OpCase(name: "cholesky of a general square (its symmetric part)", operands: [([2, 2], fractional)]) { fb, v, _ in
                try cholesky(v[0] + fb.eye(2, dtype: v[0].dtype) * 2)
            },
            OpCase(name: "logdet [3,3]", operands: [([3, 3], anywhere)]) { fb, v, _ in try logdet(spd(fb, v[0])) },
            OpCase(name: "logdet [2,2,2]", operands: [([2, 2, 2], anywhere)]) { fb, v, _ in try logdet(spd(fb, v[0])) },
            OpCase(name: "logdet [1,1]", operands: [([1, 1], positive)]) { _, v, _ in try logdet(v[0]) },
            OpCase(name: "triangular_solve lower [3,3]·[3,2]", operands: [([3, 3], anywhere), ([3, 2], anywhere)]) { fb, v, _ in
                try triangularSolve(triangle(fb, v[0], lower: true), v[1])
            },
            OpCase(name: "triangular_solve lower transpose", operands: [([3, 3], anywhere), ([3, 2], anywhere)]) { fb, v, _ in
                try triangularSolve(triangle(fb, v[0], lower: true), v[1], transpose: true)
            },
            OpCase(name: "triangular_solve upper [2,2,2]·[2,2,3]", operands: [([2, 2, 2], anywhere), ([2, 2, 3], anywhere)]) { fb, v, _ in
                try triangularSolve(triangle(fb, v[0], lower: false), v[1], lower: false)
            },
            OpCase(name: "triangular_solve upper transpose, B first", operands: [([2, 2], anywhere), ([2, 2], anywhere)]) { fb, v, _ in
                try triangularSolve(triangle(fb, v[1], lower: false), v[0], lower: false, transpose: true)
            },
            OpCase(name: "solve through cholesky, squared", operands: [([2, 2], anywhere), ([2, 1], anywhere)]) { fb, v, _ in
                let l = try cholesky(spd(fb, v[0]))
                return try square(triangularSolve(l, triangularSolve(l, v[1]), transpose: true))
            },
        ]
        /// x + 3·I, or x + 3·J (J the reversed identity: every column's pivot is off the
        /// diagonal, so partial pivoting swaps rows).
        func wellConditioned(_ fb: FunctionBuilder, _ x: Value, pivoting: Bool) throws -> Value {
            let n = x.shape[x.shape.count - 1]
            let j = (0..<(n * n)).map { e in Double(pivoting ? (e / n + e % n == n - 1 ? 3 : 0) : (e / n == e % n ? 3 : 0)) }
            return try x + fb.constant(values: j, x.dtype, [n, n])
        }
        cases += [
            OpCase(name: "solve [3,3]·[3,2]", operands: [([3, 3], anywhere), ([3, 2], anywhere)]) { fb, v, _ in
                try solve(wellConditioned(fb, v[0], pivoting: false), v[1])
            },
            OpCase(name: "solve with row swaps [3,3]·[3,1]", operands: [([3, 3], anywhere), ([3, 1], anywhere)]) { fb, v, _ in
                try solve(wellConditioned(fb, v[0], pivoting: true), v[1])
            },
            OpCase(name: "solve batched [2,2,2]·[2,2,3], B first", operands: [([2, 2, 3], anywhere), ([2, 2, 2], anywhere)]) { fb, v, _ in
                try solve(wellConditioned(fb, v[1], pivoting: true), v[0])
            },
            OpCase(name: "det [3,3]", operands: [([3, 3], anywhere)]) { fb, v, _ in try det(wellConditioned(fb, v[0], pivoting: false)) },
            OpCase(name: "det with row swaps [3,3]", operands: [([3, 3], anywhere)]) { fb, v, _ in try det(wellConditioned(fb, v[0], pivoting: true)) },
            OpCase(name: "det [2,2,2]", operands: [([2, 2, 2], anywhere)]) { fb, v, _ in try det(wellConditioned(fb, v[0], pivoting: true)) },
            OpCase(name: "det [1,1]", operands: [([1, 1], anywhere)]) { _, v, _ in try det(v[0]) },
            OpCase(name: "inv [2,2] squared", operands: [([2, 2], anywhere)]) { fb, v, _ in try square(inv(wellConditioned(fb, v[0], pivoting: true))) },
        ]
        if backends {
            cases.append(OpCase(name: "solve, det empty batch and 0×0", operands: [([4, 4], anywhere), ([0, 2, 2], anywhere), ([0, 0], anywhere), ([0, 3], anywhere)]) { fb, v, _ in
                try det(wellConditioned(fb, v[0], pivoting: true)) + sum(det(v[1])) + det(v[2]) + sum(solve(v[2], v[3]))
            })
            cases.append(OpCase(name: "solve [12,12]·[12,5]", operands: [([12, 12], anywhere), ([12, 5], anywhere)]) { fb, v, _ in
                try solve(wellConditioned(fb, v[0], pivoting: true), v[1])
            })
            // Empty operands second (a Hessian of an empty first operand is not asked for).
            cases.append(OpCase(name: "cholesky empty batch", operands: [([4, 4], anywhere), ([0, 3, 3], anywhere)]) { fb, v, _ in
                try concat([reshape(cholesky(spd(fb, v[0])), [16]), reshape(cholesky(v[1]), [0])], axis: 0)
            })
            cases.append(OpCase(name: "logdet empty batch and 0×0", operands: [([4, 4], anywhere), ([0, 2, 2], anywhere), ([0, 0], anywhere)]) { fb, v, _ in
                try logdet(spd(fb, v[0])) + sum(logdet(v[1])) + logdet(v[2])
            })
            cases.append(OpCase(name: "cholesky, logdet [12,12]", operands: [([12, 12], anywhere)]) { fb, v, _ in
                let a = try spd(fb, v[0])
                return try cholesky(a) * logdet(a)
            })
            cases.append(OpCase(name: "triangular_solve [9,9]·[9,17]", operands: [([9, 9], anywhere), ([9, 17], anywhere)]) { fb, v, _ in
                try triangularSolve(triangle(fb, v[0], lower: true), v[1])
            })
        }
        return cases
    }

    /// The ops a table covers: those of the graph each case builds for its output (the
    /// ancestors of `out`, not the weighted loss and gradients around it).
    public static func coveredOps(_ cases: [OpCase]) throws -> Set<Op> {
        var ops = Set<Op>()
        var rng = SplitMix64(seed: 1)
        for c in cases {
            let f = try c.makeFunction(.f64, rng: &rng).function
            guard let out = f.outputs.first?.value else { continue }
            var reached = [Bool](repeating: false, count: f.nodes.count)
            reached[out] = true
            for id in stride(from: out, through: 0, by: -1) where reached[id] {
                ops.insert(f.nodes[id].op)
                for i in f.nodes[id].inputs { reached[i] = true }
            }
        }
        return ops
    }
}
