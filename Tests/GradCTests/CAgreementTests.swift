import Foundation
import Grad
import TestSupport
import XCTest

/// Bitwise equality (NaN == NaN, −0 ≠ +0).
func sameBits(_ a: Tensor, _ b: Tensor) -> Bool {
    guard a.type == b.type else { return false }
    switch (a.storage, b.storage) {
    case (.f32(let x), .f32(let y)): return zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
    case (.f64(let x), .f64(let y)): return zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
    case (.i64(let x), .i64(let y)): return x == y
    case (.bool(let x), .bool(let y)): return x == y
    default: return false
    }
}

/// Whether `a` agrees with `b` within `tolerance` times the largest magnitude in `b`
/// (NaN where `b` is NaN, the same infinities).
func closeToMax(_ a: Tensor, _ b: Tensor, tolerance: Double) -> Bool {
    guard a.type == b.type else { return false }
    let x = a.doubles
    let y = b.doubles
    let scale = y.filter(\.isFinite).map(abs).max() ?? 0
    return zip(x, y).allSatisfy { p, q in
        if q.isNaN || p.isNaN { return p.isNaN && q.isNaN }
        if q.isInfinite || p.isInfinite { return p == q }
        return abs(p - q) <= tolerance * scale
    }
}

/// Whether `f` multiplies floating-point matrices (the C kernel may use fused multiply-add).
func hasFloatMatmul(_ f: Function) -> Bool {
    f.nodes.contains { $0.op == .matmul && $0.type.dtype.isFloat }
}

/// One cache directory per test run, in a temporary directory.
let testEnvironment: [String: String] = {
    var env = ProcessInfo.processInfo.environment
    let dir = NSTemporaryDirectory() + "gradc-ctests-\(getpid())"
    env["GRADC_CACHE_DIR"] = dir
    return env
}()

/// A batch of functions (derivatives expanded, optimized) with their inputs and labels.
struct CaseBatch {
    var functions: [Function] = []
    var inputs: [[String: Tensor]] = []
    var labels: [String] = []

    mutating func add(_ f: Function, _ inputs: [String: Tensor], _ label: String) throws {
        functions.append(try optimize(Differentiator.expand(f)))
        self.inputs.append(inputs)
        labels.append(label)
    }

    /// Compiles every function into one C module (one cc run) and checks each against the
    /// reference evaluator, bit for bit (the C kernels keep the reference formulas and
    /// summation orders). Exception: with fused multiply-add (the default unless portable),
    /// functions with a float matmul agree within 1e-12 (f64) / 1e-5 (f32) of each output's
    /// largest magnitude.
    func assertCAgrees(options: CBackendOptions = CBackendOptions(), file: StaticString = #filePath, line: UInt = #line) throws {
        let fma = options.emit.fma && !options.portable
        let module = try CModule(functions, options: options, environment: testEnvironment)
        for (k, f) in functions.enumerated() {
            let expected = try ReferenceEvaluator.run(f, inputs: inputs[k])
            let ordered = f.parameters.compactMap { inputs[k][$0.name] }
            for round in 0..<2 {
                let got = try module.kernels[k].run(ordered)
                XCTAssertEqual(got.count, expected.count, labels[k], file: file, line: line)
                for (j, (g, e)) in zip(got, expected).enumerated() {
                    if fma && hasFloatMatmul(f) && g.dtype.isFloat {
                        let tolerance = g.dtype == .f64 ? 1e-12 : 1e-5
                        XCTAssertTrue(closeToMax(g, e, tolerance: tolerance), "\(labels[k]) output \(j) round \(round): C \(g) vs reference \(e)", file: file, line: line)
                    } else {
                        XCTAssertTrue(sameBits(g, e), "\(labels[k]) output \(j) round \(round): C \(g) vs reference \(e)", file: file, line: line)
                    }
                }
            }
        }
    }
}

final class CAgreementTests: XCTestCase {
    struct Case {
        var name: String
        var operands: [([Int], ClosedRange<Double>)]
        var labels: [[Int]] = []
        var build: (FunctionBuilder, [Value], [Value]) throws -> Value
    }
    static let anywhere: ClosedRange<Double> = -1...1
    static let positive: ClosedRange<Double> = 0.5...2
    static let fractional: ClosedRange<Double> = 0.2...0.8

    static func unary(_ op: Op, _ range: ClosedRange<Double> = anywhere, _ shape: [Int] = [2, 3]) -> Case {
        Case(name: op.name, operands: [(shape, range)]) { fb, v, _ in try fb.apply(op, [v[0]]) }
    }
    static func binary(_ op: Op, _ a: [Int], _ b: [Int], _ ra: ClosedRange<Double> = anywhere, _ rb: ClosedRange<Double> = anywhere) -> Case {
        Case(name: "\(op.name) \(a)·\(b)", operands: [(a, ra), (b, rb)]) { fb, v, _ in try fb.apply(op, [v[0], v[1]]) }
    }
    static func attrs(_ op: Op, _ shape: [Int], _ attrs: [AttrKey: AttrValue], _ range: ClosedRange<Double> = anywhere) -> Case {
        Case(name: "\(op.name) \(shape)", operands: [(shape, range)]) { fb, v, _ in try fb.apply(op, [v[0]], Attributes(attrs)) }
    }

    /// The every-op table of the core issue (same cases as EveryOpGradientTests), plus larger
    /// shapes that exercise the blocked matmul, chunked fused loops and reduction layouts.
    static var cases: [Case] {
        var cases: [Case] = []
        for op: Op in [.neg, .abs, .exp, .sin, .cos, .tan, .tanh, .sigmoid, .relu, .softplus, .erf, .square, .expm1] {
            cases.append(unary(op))
            cases.append(unary(op, anywhere, []))
        }
        for op: Op in [.log, .log1p, .sqrt, .rsqrt, .reciprocal] {
            cases.append(unary(op, positive))
            cases.append(unary(op, positive, []))
        }
        for op: Op in [.sign, .floor, .ceil] { cases.append(unary(op, fractional)) }
        for op: Op in [.add, .sub, .mul, .maximum, .minimum, .atan2] {
            cases.append(binary(op, [2, 3], [3]))
            cases.append(binary(op, [2, 1], [1, 3]))
            cases.append(binary(op, [], []))
            cases.append(binary(op, [3, 1, 5], [3, 4, 5]))
        }
        cases.append(binary(.div, [2, 3], [3], anywhere, positive))
        cases.append(binary(.div, [], [2, 2], anywhere, positive))
        cases.append(binary(.pow, [2, 3], [3], positive, anywhere))
        cases.append(binary(.pow, [2, 3], [], positive, anywhere))
        cases.append(binary(.pow, [], [], positive, anywhere))
        for op: Op in [.eq, .ne, .lt, .le, .gt, .ge] {
            cases.append(Case(name: "select(\(op.name))", operands: [([2, 3], anywhere), ([3], anywhere)]) { fb, v, _ in
                try select(fb.apply(op, [v[0], v[1]]), v[0] * v[1], v[0] - v[1])
            })
            cases.append(Case(name: "scalar select(\(op.name))", operands: [([], anywhere), ([], anywhere)]) { fb, v, _ in
                try select(fb.apply(op, [v[0], v[1]]), v[0] * v[1], v[0] - v[1])
            })
        }
        cases.append(Case(name: "select broadcast", operands: [([2, 3], anywhere), ([], anywhere)]) { fb, v, _ in
            try select(fb.apply(.gt, [v[0], fb.constant(0, v[0].dtype)]), v[0], v[1])
        })
        for op: Op in [.sum, .mean, .max, .min, .prod, .logsumexp] {
            cases.append(attrs(op, [2, 3], [:]))
            cases.append(attrs(op, [2, 3], [.axes: .ints([1])]))
            cases.append(attrs(op, [5, 3], [.axes: .ints([0])]))
            cases.append(attrs(op, [2, 3, 2], [.axes: .ints([0, 2]), .keepdims: .bool(true)]))
            cases.append(attrs(op, [2, 3, 4], [.axes: .ints([1])]))
        }
        cases.append(binary(.matmul, [2, 3], [3, 2]))
        cases.append(binary(.matmul, [2, 2, 3], [3, 2]))
        cases.append(binary(.matmul, [2, 1, 2, 3], [2, 3, 2]))
        cases.append(binary(.matmul, [9, 300], [300, 19]))
        cases.append(binary(.matmul, [1, 7], [7, 1]))
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
        cases.append(Case(name: "cast f64↔f32", operands: [([2, 3], anywhere)]) { fb, v, _ in
            let other: DType = v[0].dtype == .f64 ? .f32 : .f64
            return try exp(v[0].cast(other)).cast(v[0].dtype) * v[0]
        })
        cases.append(attrs(.softmax, [2, 3], [:]))
        cases.append(attrs(.softmax, [2, 3], [.axis: .int(0)]))
        cases.append(attrs(.log_softmax, [2, 3], [:]))
        cases.append(attrs(.log_softmax, [4, 3, 2], [.axis: .int(1)]))
        cases.append(Case(name: "softmax_cross_entropy", operands: [([2, 3], anywhere), ([2, 3], fractional)]) { fb, v, _ in
            try softmaxCrossEntropy(v[0], v[1])
        })
        cases.append(Case(name: "long fused chain", operands: [([37, 300], anywhere), ([300], anywhere)]) { fb, v, _ in
            try tanh(sigmoid(v[0] * v[1] + v[0]) - exp(v[1]) / (v[0] * v[0] + fb.constant(1, v[0].dtype)))
        })
        return cases
    }

    func testEveryOpF64() throws { try run(.f64) }
    func testEveryOpF32() throws { try run(.f32) }

    func run(_ dtype: DType) throws {
        var rng = SplitMix64(seed: 7)
        var batch = CaseBatch()
        for c in Self.cases {
            let fb = FunctionBuilder("case")
            var values: [Value] = []
            var inputs: [String: Tensor] = [:]
            for (k, (shape, range)) in c.operands.enumerated() {
                values.append(try fb.input("x\(k)", dtype, shape))
                inputs["x\(k)"] = Tensor.random(TensorType(dtype, shape), range: range, using: &rng)
            }
            var labels: [Value] = []
            for (k, shape) in c.labels.enumerated() {
                labels.append(try fb.input("l\(k)", .i64, shape))
                inputs["l\(k)"] = Tensor(TensorType(.i64, shape), doubles: (0..<shape.reduce(1, *)).map { Double(($0 * 2 + 1) % 3) })
            }
            let out = try c.build(fb, values, labels)
            let weights = try fb.input("w", out.dtype, out.shape)
            inputs["w"] = Tensor.random(TensorType(out.dtype, out.shape), using: &rng)
            let loss = try sum(out * weights)
            try fb.output(out, "out")
            try fb.output(loss, "loss")
            try fb.output(fb.grad(of: loss, wrt: values))
            if values[0].type.count <= 12 {
                try fb.output(fb.hessian(of: loss, wrt: values[0]), "hessian")
            }
            try batch.add(fb.function, inputs, "\(dtype) \(c.name)")
        }
        try batch.assertCAgrees()
    }

    /// Edge values through straight-line scalar code and fused loops: ±0, ±inf, NaN.
    func testEdgeValues() throws {
        let specials: [Double] = [0, -0.0, 1, -1, .infinity, -.infinity, .nan, 1e308, -2.5]
        var batch = CaseBatch()
        for dtype in [DType.f64, .f32] {
            for shape in [[Int](), [9]] {
                let fb = FunctionBuilder("edges")
                let x = try fb.input("x", dtype, shape)
                let y = try fb.input("y", dtype, shape)
                var outs: [Value] = []
                for op: Op in [.neg, .abs, .sign, .exp, .log, .log1p, .expm1, .sqrt, .rsqrt, .square, .reciprocal,
                               .sin, .cos, .tan, .tanh, .sigmoid, .relu, .softplus, .erf, .floor, .ceil] {
                    outs.append(try fb.apply(op, [x]))
                }
                for op: Op in [.add, .sub, .mul, .div, .pow, .maximum, .minimum, .atan2] {
                    outs.append(try fb.apply(op, [x, y]))
                }
                for op: Op in [.eq, .ne, .lt, .le, .gt, .ge] { outs.append(try fb.apply(op, [x, y])) }
                outs.append(try x.cast(.i64))
                outs.append(try x.cast(.bool))
                for o in outs { try fb.output(o) }
                for (xs, ys) in [(specials, specials.reversed()), (specials, specials)] {
                    let n = shape.isEmpty ? 1 : 9
                    for start in 0..<(shape.isEmpty ? 9 : 1) {
                        let xv = Array(xs[start..<(start + n)])
                        let yv = Array(Array(ys)[start..<(start + n)])
                        try batch.add(fb.function, ["x": Tensor(TensorType(dtype, shape), doubles: xv),
                                                    "y": Tensor(TensorType(dtype, shape), doubles: yv)], "edges \(dtype) \(xv) \(yv)")
                    }
                }
            }
        }
        try batch.assertCAgrees()
    }

    /// Every function of every fixture runs through C and agrees with the reference.
    func testFixtures() throws {
        let dir = repositoryRoot.appendingPathComponent("Tests/Fixtures")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".ir") }.sorted()
        XCTAssertFalse(files.isEmpty)
        var batch = CaseBatch()
        for file in files {
            let module = try Pipeline.load(path: dir.appendingPathComponent(file).path)
            for (k, f) in module.functions.enumerated() {
                var inputs: [String: Tensor] = [:]
                for (j, p) in f.parameters.enumerated() {
                    inputs[p.name] = Tensor.random(f.type(of: p.value), seed: UInt64(100 * k + j + 1))
                }
                try batch.add(f, inputs, "\(file) \(f.name)")
            }
        }
        try batch.assertCAgrees()
    }

    /// Matrix products through every path of the kernel: transposed operands read in place
    /// (and a transpose that must stay materialized), edge tiles, K and M blocking with packing,
    /// the two-thread split; within tolerance with FMA and bit for bit without it.
    func testMatmulPaths() throws {
        for dtype in [DType.f64, .f32] {
            var rng = SplitMix64(seed: 11)
            var batch = CaseBatch()
            for (m, k, n) in [(5, 3, 7), (32, 64, 10), (13, 300, 29), (130, 300, 20), (160, 300, 100)] {
                let fb = FunctionBuilder("mm")
                let a = try fb.input("a", dtype, [m, k])
                let b = try fb.input("b", dtype, [k, n])
                let at = try fb.input("at", dtype, [k, m])
                let bt = try fb.input("bt", dtype, [n, k])
                let ct = try fb.input("ct", dtype, [n, k])
                try fb.output(a.matmul(b), "ab")
                try fb.output(at.transposed().matmul(b), "atb")
                try fb.output(a.matmul(bt.transposed()), "abt")
                try fb.output(at.transposed().matmul(bt.transposed()), "atbt")
                let kept = try ct.transposed()
                try fb.output(a.matmul(kept) + fb.constant(1, dtype), "kept")
                try fb.output(kept, "ct_t")
                var inputs: [String: Tensor] = [:]
                for (name, shape) in [("a", [m, k]), ("b", [k, n]), ("at", [k, m]), ("bt", [n, k]), ("ct", [n, k])] {
                    inputs[name] = Tensor.random(TensorType(dtype, shape), using: &rng)
                }
                try batch.add(fb.function, inputs, "\(dtype) \(m)x\(k)x\(n)")
            }
            try batch.assertCAgrees()
            try batch.assertCAgrees(options: CBackendOptions(emit: CEmitOptions(fma: false)))
            let src = try emitC(batch.functions)
            XCTAssertTrue(src.source.contains("read in place by the matrix products"))
        }
    }

    /// Large scalar graphs are cut into several C functions; results are unchanged.
    func testChunkedScalarCode() throws {
        let fb = FunctionBuilder("rosen")
        var xs: [Value] = []
        var inputs: [String: Tensor] = [:]
        for i in 0..<40 {
            xs.append(try fb.input("x\(i)", .f64))
            inputs["x\(i)"] = Tensor(Double(i) * 0.05 - 1)
        }
        var total = try fb.constant(0)
        for i in 0..<39 {
            total = try total + 100 * square(xs[i + 1] - square(xs[i])) + square(1 - xs[i])
        }
        try fb.output(total, "f")
        try fb.output(fb.grad(of: total, wrt: xs))
        var batch = CaseBatch()
        try batch.add(fb.function, inputs, "rosenbrock 40")
        try batch.assertCAgrees(options: CBackendOptions(emit: CEmitOptions(chunkStatements: 50)))
        let src = try emitC(batch.functions, options: CEmitOptions(chunkStatements: 50))
        XCTAssertTrue(src.source.contains("_part3("), "expected several chunk functions")
    }

    func testCompileCBackend() throws {
        let fb = FunctionBuilder("seed")
        let x = try fb.input("x", .f64)
        let y = try fb.input("y", .f64)
        let z = try (x + sigmoid(x)) / (sigmoid(x) + square(x + y))
        try fb.output(z, "z")
        try fb.output(fb.grad(of: z, wrt: [x, y]))
        setenv("GRADC_CACHE_DIR", testEnvironment["GRADC_CACHE_DIR"] ?? "", 1)
        let c = try compile(fb.function, backend: .c)
        let ref = try compile(fb.function, backend: .reference)
        let inputs = ["x": Tensor(4), "y": Tensor(3)]
        let a = try c(inputs)
        let b = try ref(inputs)
        XCTAssertEqual(a.count, 3)
        for (p, q) in zip(a, b) { XCTAssertTrue(sameBits(p, q), "\(p) vs \(q)") }
        XCTAssertThrowsError(try c([Tensor(1)]))
        XCTAssertThrowsError(try c([Tensor(1), Tensor([1.0, 2.0] as [Double], shape: [2]) ?? Tensor(1)]))
    }
}
