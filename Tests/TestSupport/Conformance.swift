import Foundation
import Grad
import XCTest

/// The backend conformance harness: one set of cases — the every-op table (OpCases), a table
/// of edge values through every elementwise op, and every fixture — run on every backend and
/// compared with the reference evaluator by one rule.
///
/// The rule is the contract of docs/numerics.md:
/// - Outputs are bitwise the reference's, except for the sign and payload of NaNs (any NaN
///   matches any NaN; a NaN never matches a number; −0 ≠ +0), because every kernel follows
///   the reference formulas and summation orders — unless the backend fuses the multiply-adds
///   of float matrix products (the VM's `.avx2FMA` kernel on a CPU with AVX2 and FMA, the C
///   backend without `portable`). Then:
/// - An output that is such a product of operands computed without one (so the backend sees
///   the reference's operands), element by element, where S = (|A|·|B|)ᵢⱼ is at most
///   half the largest finite value: NaN where the reference has NaN, the same infinity, else
///   |got − reference| ≤ 2γ_K·S + 2K·η (`MatmulContract`). Elements with a larger S (the
///   products or partial sums may overflow) are the documented exception: anything.
/// - Other outputs computed from such a product: within 1e-12 (f64) / 1e-5 (f32) of the
///   output's largest magnitude (a test tolerance for these cases, not a promise: the rest of
///   the function can amplify the product's difference), unless a product of the case
///   overflows (the exception above), and then anything.
public enum Conformance {
    /// A backend configuration the harness runs.
    public enum Backend: CustomStringConvertible, Sendable {
        case vm(fuse: Bool, inPlace: Bool, portable: Bool)
        case c(fma: Bool)

        /// Every VM configuration (fusion and in-place reuse on and off, portable or not) and
        /// the C backend with its default flags. (Without fused multiply-add, C differs only in
        /// its matmul kernel: CAgreementTests.testMatmulPaths runs both.)
        public static let all: [Backend] = [
            .vm(fuse: true, inPlace: true, portable: false), .vm(fuse: false, inPlace: false, portable: false),
            .vm(fuse: true, inPlace: false, portable: false), .vm(fuse: true, inPlace: true, portable: true),
            .c(fma: true),
        ]
        public static var vm: [Backend] { all.filter { if case .vm = $0 { return true } else { return false } } }
        public static var c: [Backend] { all.filter { if case .c = $0 { return true } else { return false } } }

        public var description: String {
            switch self {
            case .vm(let fuse, let inPlace, let portable): return "VM (fuse \(fuse), in-place \(inPlace), portable \(portable))"
            case .c(let fma): return "C (fma \(fma))"
            }
        }
    }

    /// A function (derivatives expanded, optimized) with its inputs.
    public struct Case {
        public var label: String
        public var function: Function
        public var inputs: [String: Tensor]

        public init(_ label: String, _ f: Function, _ inputs: [String: Tensor]) throws {
            self.label = label
            function = try optimize(Differentiator.expand(f))
            self.inputs = inputs
        }
    }

    // MARK: The cases

    /// The every-op table with the backend extras (larger shapes for the blocked matmul,
    /// chunked fused loops and reduction layouts), in `dtype`.
    public static func everyOp(_ dtype: DType) throws -> [Case] {
        var rng = SplitMix64(seed: 7)
        return try OpCases.table(backends: true).map { c in
            let (f, inputs, _) = try c.makeFunction(dtype, rng: &rng)
            return try Case("\(dtype) \(c.name)", f, inputs)
        }
    }

    /// The edge values every elementwise op sees (as x and y, in two pairings): ±0, ±1, ±inf,
    /// NaN, a huge and an ordinary number.
    public static let edgeValues: [Double] = [0, -0.0, 1, -1, .infinity, -.infinity, .nan, 1e308, -2.5]

    /// Every float elementwise op (from `ElementwiseOp`, so a new op is included) and the
    /// casts to i64 and bool on the edge values, as scalars (the VM's scalar machine, C's
    /// straight-line code) and as vectors (fused loops), f64 and f32.
    public static func edges() throws -> [Case] {
        var cases: [Case] = []
        for dtype in [DType.f64, .f32] {
            for shape in [[Int](), [edgeValues.count]] {
                let fb = FunctionBuilder("edges")
                let x = try fb.input("x", dtype, shape)
                let y = try fb.input("y", dtype, shape)
                for e in ElementwiseOp.allCases where e != .select {
                    try fb.output(fb.apply(e.op, e.arity == 1 ? [x] : [x, y]))
                }
                try fb.output(select(fb.apply(.gt, [x, y]), x, y))
                try fb.output(x.cast(.i64))
                try fb.output(x.cast(.bool))
                let n = shape.isEmpty ? 1 : edgeValues.count
                for ys in [Array(edgeValues.reversed()), edgeValues] {
                    for start in 0..<(shape.isEmpty ? edgeValues.count : 1) {
                        let xv = Array(edgeValues[start..<(start + n)])
                        let yv = Array(ys[start..<(start + n)])
                        cases.append(try Case("edges \(dtype) \(xv) \(yv)", fb.function,
                                              ["x": Tensor(TensorType(dtype, shape), doubles: xv), "y": Tensor(TensorType(dtype, shape), doubles: yv)]))
                    }
                }
            }
        }
        return cases
    }

    /// The i64 edge values: 0, ±1, ±2, ±7, 3 and the extremes (wrapping, division by 0 and −1).
    public static let integerEdgeValues: [Int64] = [0, 1, -1, 2, -2, 7, -7, 3, .max, .min]

    /// Every elementwise op with an integer form (from `ElementwiseOp`, so a new op is
    /// included) on i64 edge values, as scalars and vectors, in two pairings each; and the
    /// casts from i64 to f64, f32 and bool.
    public static func integerEdges() throws -> [Case] {
        var cases: [Case] = []
        for shape in [[Int](), [integerEdgeValues.count]] {
            let fb = FunctionBuilder("integer_edges")
            let x = try fb.input("x", .i64, shape)
            let y = try fb.input("y", .i64, shape)
            for e in ElementwiseOp.allCases where e != .select && e.hasIntegerForm {
                try fb.output(fb.apply(e.op, e.arity == 1 ? [x] : [x, y]))
            }
            try fb.output(select(fb.apply(.gt, [x, y]), x, y))
            for d in [DType.f64, .f32, .bool] { try fb.output(x.cast(d)) }
            let n = shape.isEmpty ? 1 : integerEdgeValues.count
            for ys in [Array(integerEdgeValues.reversed()), Array(integerEdgeValues.dropFirst(3) + integerEdgeValues.prefix(3))] {
                for start in 0..<(shape.isEmpty ? integerEdgeValues.count : 1) {
                    let xv = Array(integerEdgeValues[start..<(start + n)])
                    let yv = Array(ys[start..<(start + n)])
                    cases.append(try Case("integer edges \(xv) \(yv)", fb.function,
                                          ["x": try XCTUnwrap(Tensor(.i64(xv), shape: shape)), "y": try XCTUnwrap(Tensor(.i64(yv), shape: shape))]))
                }
            }
        }
        return cases
    }

    /// The indexing ops at their edges: argmax/argmin over NaN, ±inf, ties and −0 vs +0 (f64,
    /// f32, i64 with the extremes; one axis, two axes, all); take, take_along_axis and both
    /// scatters on f64, f32, i64 (wrapping sums) and bool data (takes) with repeated, negative
    /// and end indices; iota in every dtype.
    public static func indexing() throws -> [Case] {
        var cases: [Case] = []
        func axis(_ k: Int) -> Attributes { Attributes([.axis: .int(k)]) }
        for dtype in [DType.f64, .f32, .i64] {
            let fb = FunctionBuilder("index_edges")
            let x = try fb.input("x", dtype, [3, 4])
            let ix = try fb.input("ix", .i64, [5])
            let along = try fb.input("along", .i64, [3, 2])
            for op: Op in [.argmax, .argmin] {
                try fb.output(fb.apply(op, [x], Attributes([.axes: .ints([1])])))
                try fb.output(fb.apply(op, [x], Attributes([.axes: .ints([0]), .keepdims: .bool(true)])))
                try fb.output(fb.apply(op, [x]))
            }
            try fb.output(fb.apply(.take, [x, ix], axis(1)))
            try fb.output(fb.apply(.take, [x, along], axis(0)))
            try fb.output(fb.apply(.take_along_axis, [x, along], axis(1)))
            let updates = try fb.apply(.take, [x, ix], axis(1))
            try fb.output(fb.apply(.scatter_add, [x, ix, updates], axis(1)))
            try fb.output(fb.apply(.scatter_add_along_axis, [x, along, fb.apply(.take_along_axis, [x, along], axis(1))], axis(1)))
            try fb.output(fb.apply(.iota, [], Attributes([.shape: .ints([2, 3, 2]), .axis: .int(-2), .dtype: .dtype(dtype)])))
            let values: [Double] = dtype == .i64 ? [3, 3, -1, 0, 9, -9, 9, 4, 7, 7, 7, 7] : [1, 1, 0, .nan, -.infinity, 2, .nan, .infinity, -0.0, 0, 1e308, -0.0]
            var data = Tensor(TensorType(dtype, [3, 4]), doubles: values)
            if dtype == .i64 {
                data = try XCTUnwrap(Tensor(.i64([3, 3, -1, 0, .max, .min, .max, 4, 7, 7, 7, 7]), shape: [3, 4]))
            }
            cases.append(try Case("indexing \(dtype)", fb.function, [
                "x": data, "ix": try XCTUnwrap(Tensor(.i64([3, 0, -1, 3, -4]), shape: [5])),
                "along": try XCTUnwrap(Tensor(.i64([2, -3, 0, 0, 1, -1]), shape: [3, 2])),
            ]))
        }
        let fb = FunctionBuilder("index_bool")
        let c = try fb.input("c", .bool, [2, 3])
        let ix = try fb.input("ix", .i64, [2, 2])
        try fb.output(fb.apply(.take, [c, ix], axis(1)))
        try fb.output(fb.apply(.take_along_axis, [c, ix], axis(1)))
        cases.append(try Case("indexing bool", fb.function, [
            "c": try XCTUnwrap(Tensor(.bool([true, false, false, false, true, true]), shape: [2, 3])),
            "ix": try XCTUnwrap(Tensor(.i64([2, -3, 1, -1]), shape: [2, 2])),
        ]))
        return cases
    }

    /// Matrix products at the edges of the fused multiply-add contract (docs/numerics.md):
    /// `c = a @ b`, `sum(c·c)` and its gradient, f64 and f32, inner dimensions 3, 64 and 300,
    /// operands of both signs scaled so the products are ordinary, subnormal, close to the
    /// overflow limit (S ≤ Ω/2, still inside the contract) or beyond it (≈ 1e300 · 1e8: NaN on
    /// the reference, ±inf with fused steps, the documented exception); plus NaN and infinite
    /// operands, and a NaN whose sign depends on the order of an addition.
    public static func matmulEdges() throws -> [Case] {
        var cases: [Case] = []
        func product(_ dtype: DType, _ m: Int, _ k: Int, _ n: Int) throws -> Function {
            let fb = FunctionBuilder("matmul_\(dtype)_\(m)x\(k)x\(n)")
            let a = try fb.input("a", dtype, [m, k])
            let b = try fb.input("b", dtype, [k, n])
            let c = try fb.apply(.matmul, [a, b])
            let y = try sum(c * c)
            try fb.output(c, "c")
            try fb.output(y, "y")
            try fb.output(fb.grad(of: y, wrt: [a]))
            return fb.function
        }
        func scaled(_ t: Tensor, _ factor: Double) -> Tensor {
            Tensor(t.type, doubles: t.doubles.map { $0 * factor })
        }
        let scales: [DType: [(String, Double, Double)]] = [
            .f64: [("ordinary", 1, 1), ("subnormal products", 1e-160, 1e-160), ("near the limit", 1e150, 1e150), ("overflow", 1e300, 1e8)],
            .f32: [("ordinary", 1, 1), ("subnormal products", 1e-22, 1e-22), ("near the limit", 1e17, 1e17), ("overflow", 1e30, 1e10)],
        ]
        var seed: UInt64 = 11
        for dtype in [DType.f64, .f32] {
            for (m, k, n) in [(2, 3, 2), (5, 64, 3), (9, 300, 7)] {
                let f = try product(dtype, m, k, n)
                for (label, sa, sb) in scales[dtype] ?? [] {
                    seed += 2
                    let a = scaled(Tensor.random(TensorType(dtype, [m, k]), seed: seed), sa)
                    let b = scaled(Tensor.random(TensorType(dtype, [k, n]), seed: seed + 1), sb)
                    cases.append(try Case("matmul \(dtype) \(m)x\(k)x\(n) \(label)", f, ["a": a, "b": b]))
                }
                var special = Tensor.random(TensorType(dtype, [m, k]), seed: seed + 5).doubles
                special[0] = .nan
                special[special.count - 1] = .infinity
                if special.count > 2 { special[1] = -.infinity }
                cases.append(try Case("matmul \(dtype) \(m)x\(k)x\(n) NaN and infinite operands", f,
                                      ["a": Tensor(TensorType(dtype, [m, k]), doubles: special), "b": Tensor.random(TensorType(dtype, [k, n]), seed: seed + 6)]))
            }
        }
        // inf + (−inf) is a NaN (negative on x86), then + NaN·1: which NaN survives depends on
        // the operand order of the addition, which C compilers may swap.
        cases.append(try Case("matmul NaN sign", product(.f64, 1, 3, 1),
                              ["a": Tensor(TensorType(.f64, [1, 3]), doubles: [1e300, 1e300, .nan]),
                               "b": Tensor(TensorType(.f64, [3, 1]), doubles: [1e10, -1e10, 1])]))
        return cases
    }

    /// Every function of every fixture in Tests/Fixtures, on seeded random inputs.
    public static func fixtures() throws -> [Case] {
        let dir = repositoryRoot.appendingPathComponent("Tests/Fixtures")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".ir") }.sorted()
        var cases: [Case] = []
        for file in files {
            let module = try Pipeline.load(path: dir.appendingPathComponent(file).path)
            for (k, f) in module.functions.enumerated() {
                var inputs: [String: Tensor] = [:]
                for (j, p) in f.parameters.enumerated() {
                    inputs[p.name] = Tensor.random(f.type(of: p.value), seed: UInt64(100 * k + j + 1))
                }
                cases.append(try Case("\(file) \(f.name)", f, inputs))
            }
        }
        return cases
    }

    /// The ops the cases' graphs contain (derivative nodes included, as the backends see them).
    public static func ops(_ cases: [Case]) -> Set<Op> {
        Set(cases.flatMap { $0.function.nodes.map(\.op) })
    }

    // MARK: Running

    /// Runs every case on `backend` (twice, to catch state left between calls) and asserts
    /// the harness's rule against the reference evaluator. The C backend compiles all the
    /// cases into one module (one cc run); without a C compiler C cases are skipped.
    public static func assertAgree(_ cases: [Case], on backend: Backend, environment: [String: String] = ProcessInfo.processInfo.environment,
                                   file: StaticString = #filePath, line: UInt = #line) throws {
        switch backend {
        case .vm(let fuse, let inPlace, let portable):
            var limits = VMLimits()
            limits.portable = portable
            for c in cases {
                let vm = try VirtualMachine(BytecodeProgram(function: c.function, fuse: fuse, inPlace: inPlace), limits: limits)
                if portable { XCTAssertNotEqual(vm.matmulKernel, .avx2FMA, c.label, file: file, line: line) }
                try check(c, fused: vm.matmulKernel == .avx2FMA, backend: backend, file: file, line: line) { try vm.run($0) }
            }
        case .c(let fma):
            guard (try? CCompiler.find(environment: environment)) != nil, !cases.isEmpty else { return }
            let module = try CModule(cases.map(\.function), options: CBackendOptions(emit: CEmitOptions(fma: fma)), environment: environment)
            for (k, c) in cases.enumerated() {
                try check(c, fused: fma, backend: backend, file: file, line: line) { try module.kernels[k].run($0) }
            }
        }
    }

    static func check(_ c: Case, fused: Bool, backend: Backend, file: StaticString, line: UInt,
                      _ run: ([Tensor]) throws -> [Tensor]) throws {
        let values = try ReferenceEvaluator.runAll(c.function, inputs: c.inputs)
        let expected = try c.function.outputs.map { try XCTUnwrap(values[$0.value], c.label) }
        let fromMatmul = fused ? floatMatmulOutputs(c.function) : []
        let magnitudes = fused ? try MatmulContract.magnitudes(c.function, values) : [:]
        let overflowed = magnitudes.values.contains { MatmulContract.mayOverflow($0) }
        let ordered = c.function.parameters.compactMap { c.inputs[$0.name] }
        for round in 0..<2 {
            let got = try run(ordered)
            XCTAssertEqual(got.count, expected.count, "\(c.label) on \(backend)", file: file, line: line)
            for (k, (g, e)) in zip(got, expected).enumerated() {
                let what = "\(c.label) on \(backend), output \(k), round \(round): \(g) vs reference \(e)"
                if let s = magnitudes[c.function.outputs[k].value], s.sameOperands {
                    XCTAssertTrue(MatmulContract.holds(g, e, magnitudes: s), what, file: file, line: line)
                } else if fromMatmul.contains(k) && g.dtype.isFloat {
                    if !overflowed {
                        XCTAssertTrue(closeToMax(g, e, tolerance: fusedMatmulTolerance(g.dtype)), what, file: file, line: line)
                    }
                } else {
                    XCTAssertTrue(sameBits(g, e), what, file: file, line: line)
                }
            }
        }
    }
}
