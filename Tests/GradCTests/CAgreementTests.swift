import Foundation
import Grad
import TestSupport
import XCTest

/// One cache directory per test run, in a temporary directory removed when the run ends.
let testEnvironment: [String: String] = {
    var env = ProcessInfo.processInfo.environment
    env["GRADC_CACHE_DIR"] = (try? TemporaryDirectory.forProcess("ctests").path) ?? "/nonexistent/gradc-ctests"
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
                        XCTAssertTrue(closeToMax(g, e, tolerance: fusedMatmulTolerance(g.dtype)), "\(labels[k]) output \(j) round \(round): C \(g) vs reference \(e)", file: file, line: line)
                    } else {
                        XCTAssertTrue(sameBits(g, e), "\(labels[k]) output \(j) round \(round): C \(g) vs reference \(e)", file: file, line: line)
                    }
                }
            }
        }
    }
}

/// C paths beyond the conformance harness (Tests/GradTests/ConformanceTests.swift, which runs
/// every op, the edge values and every fixture on every backend).
final class CAgreementTests: XCTestCase {
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
        let chunked = CEmitOptions(chunkStatements: 50, reroll: false)
        try batch.assertCAgrees(options: CBackendOptions(emit: chunked))
        let src = try emitC(batch.functions, options: chunked)
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
