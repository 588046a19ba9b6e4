import Grad
import TestSupport
import XCTest

/// One table over every op: the gradient of a weighted sum of the op's output is compared with
/// central finite differences (order 1 for every float operand, order 2 through `hessian` for
/// the first), in f64 (≤ 1e−6 relative) and f32 (≤ 1e−2).
final class EveryOpGradientTests: XCTestCase {
    struct Case {
        var name: String
        /// Operand types (shapes) and the interval their random values come from.
        var operands: [([Int], ClosedRange<Double>)]
        /// Integer operands (labels), generated in 0..<3.
        var labels: [[Int]] = []
        /// Relative tolerance when the case itself computes in f32 (casts).
        var f32Inside = false
        var build: (FunctionBuilder, [Value], [Value]) throws -> Value
    }

    static let anywhere: ClosedRange<Double> = -1...1
    static let positive: ClosedRange<Double> = 0.5...2
    static let fractional: ClosedRange<Double> = 0.2...0.8

    static func unary(_ op: Op, _ range: ClosedRange<Double> = anywhere) -> Case {
        Case(name: op.name, operands: [([2, 3], range)]) { fb, v, _ in try fb.apply(op, [v[0]]) }
    }
    static func binary(_ op: Op, _ a: [Int], _ b: [Int], _ ra: ClosedRange<Double> = anywhere, _ rb: ClosedRange<Double> = anywhere) -> Case {
        Case(name: "\(op.name) \(a)·\(b)", operands: [(a, ra), (b, rb)]) { fb, v, _ in try fb.apply(op, [v[0], v[1]]) }
    }
    static func attrs(_ op: Op, _ shape: [Int], _ attrs: [AttrKey: AttrValue], _ range: ClosedRange<Double> = anywhere) -> Case {
        Case(name: "\(op.name) \(shape) \(attrs.map { "\($0.key)=\($0.value)" }.sorted())", operands: [(shape, range)]) { fb, v, _ in
            try fb.apply(op, [v[0]], Attributes(attrs))
        }
    }

    static var cases: [Case] {
        var cases: [Case] = []
        for op: Op in [.neg, .abs, .exp, .sin, .cos, .tan, .tanh, .sigmoid, .relu, .softplus, .erf, .square, .expm1] {
            cases.append(unary(op))
        }
        for op: Op in [.log, .log1p, .sqrt, .rsqrt, .reciprocal] {
            cases.append(unary(op, positive))
        }
        // Zero gradient almost everywhere: evaluated away from the jumps.
        for op: Op in [.sign, .floor, .ceil] {
            cases.append(unary(op, fractional))
        }
        for op: Op in [.add, .sub, .mul, .maximum, .minimum, .atan2] {
            cases.append(binary(op, [2, 3], [3]))
            cases.append(binary(op, [2, 1], [1, 3]))
        }
        cases.append(binary(.div, [2, 3], [3], anywhere, positive))
        cases.append(binary(.div, [], [2, 2], anywhere, positive))
        cases.append(binary(.pow, [2, 3], [3], positive, anywhere))
        cases.append(binary(.pow, [2, 3], [], positive, anywhere))
        for op: Op in [.eq, .ne, .lt, .le, .gt, .ge] {
            cases.append(Case(name: "select(\(op.name))", operands: [([2, 3], anywhere), ([3], anywhere)]) { fb, v, _ in
                try select(fb.apply(op, [v[0], v[1]]), v[0] * v[1], v[0] - v[1])
            })
        }
        cases.append(Case(name: "select broadcast", operands: [([2, 3], anywhere), ([], anywhere)]) { fb, v, _ in
            try select(fb.apply(.gt, [v[0], fb.constant(0, v[0].dtype)]), v[0], v[1])
        })
        for op: Op in [.sum, .mean, .max, .min, .prod, .logsumexp] {
            cases.append(attrs(op, [2, 3], [:]))
            cases.append(attrs(op, [2, 3], [.axes: .ints([1])]))
            cases.append(attrs(op, [2, 3, 2], [.axes: .ints([0, 2]), .keepdims: .bool(true)]))
        }
        cases.append(binary(.matmul, [2, 3], [3, 2]))
        cases.append(binary(.matmul, [2, 2, 3], [3, 2]))
        cases.append(binary(.matmul, [2, 1, 2, 3], [2, 3, 2]))
        cases.append(binary(.dot, [4], [4]))
        cases.append(attrs(.transpose, [2, 3, 2], [.perm: .ints([2, 0, 1])]))
        cases.append(attrs(.reshape, [2, 3], [.shape: .ints([3, 2])]))
        cases.append(attrs(.broadcast_to, [3, 1], [.shape: .ints([2, 3, 4])]))
        cases.append(attrs(.slice, [4, 5], [.start: .ints([1, 0]), .stop: .ints([4, 5]), .step: .ints([2, 2])]))
        cases.append(attrs(.pad, [2, 3], [.low: .ints([1, 0]), .high: .ints([0, 2]), .step: .ints([1, 2])]))
        cases.append(Case(name: "concat", operands: [([2, 3], anywhere), ([2, 1], anywhere), ([2, 2], anywhere)]) { fb, v, _ in
            try fb.apply(.concat, v, Attributes([.axis: .int(1)]))
        })
        cases.append(attrs(.expand_dims, [2, 3], [.axis: .int(1)]))
        cases.append(attrs(.squeeze, [2, 1, 3], [.axes: .ints([1])]))
        cases.append(attrs(.cumsum, [2, 3], [.axis: .int(1)]))
        cases.append(attrs(.cumsum, [4], [.axis: .int(0), .reverse: .bool(true)]))
        cases.append(Case(name: "one_hot", operands: [([2, 3], anywhere)], labels: [[2]]) { fb, v, l in
            try fb.apply(.mul, [fb.apply(.one_hot, [l[0]], Attributes([.depth: .int(3), .dtype: .dtype(v[0].dtype)])), v[0]])
        })
        cases.append(Case(name: "cast f64↔f32", operands: [([2, 3], anywhere)], f32Inside: true) { fb, v, _ in
            let other: DType = v[0].dtype == .f64 ? .f32 : .f64
            return try exp(v[0].cast(other)).cast(v[0].dtype) * v[0]
        })
        cases.append(attrs(.softmax, [2, 3], [:]))
        cases.append(attrs(.softmax, [2, 3], [.axis: .int(0)]))
        cases.append(attrs(.log_softmax, [2, 3], [:]))
        cases.append(Case(name: "softmax_cross_entropy", operands: [([2, 3], anywhere), ([2, 3], fractional)]) { fb, v, _ in
            try softmaxCrossEntropy(v[0], v[1])
        })
        return cases
    }

    func testEveryOpIsCovered() {
        let tested = Set(Self.cases.map { $0.name.split(separator: " ")[0].split(separator: "(")[0] }.map(String.init))
        let selectTested = Self.cases.contains { $0.name.hasPrefix("select") }
        for op in Op.allCases where op.info.family != .derivative && op.info.family != .leaf {
            let covered = tested.contains(op.name) || (op.info.family == .comparison && selectTested) || op == .select && selectTested
                || (op == .cast && tested.contains("cast"))
            XCTAssertTrue(covered, "no gradient test for \(op.name)")
        }
    }

    func testFirstAndSecondOrderF64() throws {
        try run(dtype: .f64)
    }

    func testFirstAndSecondOrderF32() throws {
        try run(dtype: .f32)
    }

    func run(dtype: DType) throws {
        var rng = SplitMix64(seed: 42)
        for c in Self.cases {
            let fb = FunctionBuilder("case")
            var values: [Value] = []
            var inputs: [String: Tensor] = [:]
            for (k, (shape, range)) in c.operands.enumerated() {
                let type = TensorType(dtype, shape)
                values.append(try fb.input("x\(k)", dtype, shape))
                inputs["x\(k)"] = Tensor.random(type, range: range, using: &rng)
            }
            var labels: [Value] = []
            for (k, shape) in c.labels.enumerated() {
                labels.append(try fb.input("l\(k)", .i64, shape))
                inputs["l\(k)"] = Tensor(TensorType(.i64, shape), doubles: (0..<TensorType(.i64, shape).count).map { Double(($0 * 2 + 1) % 3) })
            }
            let out = try c.build(fb, values, labels)
            // A fixed random weighting makes every output element matter differently.
            let weights = try fb.input("w", out.dtype, out.shape)
            inputs["w"] = Tensor.random(TensorType(out.dtype, out.shape), using: &rng)
            let loss = try sum(out * weights)
            try fb.output(loss, "loss")
            try fb.output(fb.grad(of: loss, wrt: values))
            if values[0].type.count <= 12 {
                try fb.output(fb.hessian(of: loss, wrt: values[0]), "hessian")
            }
            var options = CheckOptions()
            if c.f32Inside {
                options.relativeTolerance = 1e-2
                options.absoluteTolerance = 1e-3
            }
            let results = try GradientChecker.check(fb.function, inputs: inputs, options: options)
            XCTAssertEqual(results.count, values.count + (values[0].type.count <= 12 ? 1 : 0))
            for r in results {
                XCTAssertTrue(r.passed, "\(dtype) \(c.name): \(r.label) abs \(r.maxAbsError) rel \(r.maxRelError) \(r.note ?? "")")
            }
        }
    }
}
