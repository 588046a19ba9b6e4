import Foundation
@testable import GradC
import Grad
import TestSupport
import XCTest

/// Re-rolled straight-line scalar code (CEmitter+Reroll.swift): repetitions of the same steps
/// emitted as one loop over an address table give the reference's bits, with and without
/// re-rolling, at ordinary points and where values and cotangents are exactly zero.
final class CRerollTests: XCTestCase {
    private func parsed(_ text: String) throws -> Function {
        try XCTUnwrap(parseModule(text, file: "reroll.ir").functions.last)
    }

    /// N explicit Euler steps of a damped pendulum, energy and gradient, written out.
    private func pendulum(_ n: Int) -> String {
        var lines = ["func pendulum(th0: f64, w0: f64, k: f64) {", "  th_0 = th0", "  w_0 = w0"]
        for i in 0..<n {
            lines.append("  th_\(i + 1) = th_\(i) + 0.001 * w_\(i)")
            lines.append("  w_\(i + 1) = w_\(i) - 0.001 * (9.81 * sin(th_\(i)) + k * w_\(i))")
        }
        lines.append("  e = th_\(n) * th_\(n) + w_\(n) * w_\(n)")
        lines.append("  return e, grad(e, th0, w0, k)")
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `Σ 100(x[i+1] − x[i]²)² + (1 − x[i])²` term by term over a vector: reads are views
    /// into the input (affine offsets), the gradient's parts are one-element steps placed in
    /// the output.
    private func rosenbrockVector(_ n: Int) -> String {
        let terms = (0..<(n - 1)).map { "100 * (x[\($0 + 1)] - x[\($0)]^2)^2 + (1 - x[\($0)])^2" }.joined(separator: " + ")
        return "func rosenbrock(x: f64[\(n)]) {\n  f = \(terms)\n  return f, grad(f, x)\n}\n"
    }

    /// Runs the batch re-rolled and not, checks both against the reference bit for bit, and
    /// returns both sources.
    private func assertBothAgree(_ batch: CaseBatch, file: StaticString = #filePath, line: UInt = #line) throws -> (rolled: String, unrolled: String) {
        try batch.assertCAgrees(options: CBackendOptions(emit: CEmitOptions()), file: file, line: line)
        try batch.assertCAgrees(options: CBackendOptions(emit: CEmitOptions(reroll: false)), file: file, line: line)
        return (try emitC(batch.functions).source, try emitC(batch.functions, options: CEmitOptions(reroll: false)).source)
    }

    func testPendulumRerolledAgreesBitForBit() throws {
        var batch = CaseBatch()
        let f = try parsed(pendulum(120))
        try batch.add(f, ["th0": Tensor(0.3), "w0": Tensor(-0.2), "k": Tensor(0.1)], "pendulum")
        // Every value zero: the products' cotangent guards (0 · x with x finite) and sin(0).
        try batch.add(f, ["th0": Tensor(0.0), "w0": Tensor(0.0), "k": Tensor(0.0)], "pendulum at rest")
        // A zero cotangent from the start: e = th² + w² at th = w = 0 after the last step
        // is not reachable, but k = 0 makes every k·w term's cotangent flow through zeros.
        try batch.add(f, ["th0": Tensor(1.5), "w0": Tensor(0.0), "k": Tensor(0.0)], "pendulum undamped")
        let (rolled, unrolled) = try assertBothAgree(batch)
        XCTAssertEqual(rolled.components(separatedBy: "re-rolled").count - 1, 6, "forward and backward runs of each of the three functions")
        XCTAssertLessThan(rolled.utf8.count * 5, unrolled.utf8.count, "re-rolled source much smaller")
        // The backward run's table has 11 columns × 119 rows: written as a byte string.
        XCTAssertTrue(rolled.contains("unsigned char bytes["))
        XCTAssertTrue(rolled.contains("for (int64_t r = 0; r < 119; ++r)"))
    }

    func testRosenbrockOverVectorRerolled() throws {
        var batch = CaseBatch()
        let f = try parsed(rosenbrockVector(60))
        var x: [Double] = (0..<60).map { Double($0) * 0.05 - 1.5 }
        try batch.add(f, ["x": Tensor(TensorType(.f64, [60]), doubles: x)], "rosenbrock 60")
        // x = 1 everywhere: the minimum, every residual and every cotangent exactly zero.
        x = [Double](repeating: 1, count: 60)
        try batch.add(f, ["x": Tensor(TensorType(.f64, [60]), doubles: x)], "rosenbrock at its minimum")
        let (rolled, _) = try assertBothAgree(batch)
        // Reads of x[i] are affine in the repetition number.
        XCTAssertTrue(rolled.contains("((const double *)in[0])[("), "affine input offsets")
        XCTAssertTrue(rolled.contains("double c0 = "), "the sum carried in a local across the loop")
        XCTAssertGreaterThanOrEqual(rolled.components(separatedBy: "re-rolled").count - 1, 3)
    }

    /// Repetitions that read different inputs and write different outputs: the buffer index
    /// itself is a column (affine here), and a non-repeating step in the middle splits runs.
    func testInputsAndOutputsIndexedPerRepetition() throws {
        var params: [String] = []
        var body: [String] = []
        var outs: [String] = []
        for i in 0..<40 {
            params.append("x\(i): f64")
            body.append("  y\(i) = sin(x\(i)) * x\(i) + 1")
            outs.append("y\(i)")
            if i == 19 { body.append("  m = exp(x0) - x3"); outs.append("m") }
        }
        let text = "func many(\(params.joined(separator: ", "))) {\n" + body.joined(separator: "\n")
            + "\n  return \(outs.joined(separator: ", "))\n}\n"
        var inputs: [String: Tensor] = [:]
        for i in 0..<40 { inputs["x\(i)"] = Tensor(i == 5 ? 0 : Double(i) * 0.3 - 2) }
        var batch = CaseBatch()
        try batch.add(try parsed(text), inputs, "many outputs")
        let (rolled, _) = try assertBothAgree(batch)
        XCTAssertTrue(rolled.contains("out[("), "output index affine in the repetition")
        XCTAssertTrue(rolled.contains("in[("), "input index affine in the repetition")
    }

    /// Short repetitions stay straight-line code.
    func testShortRepetitionsStayStraightLine() throws {
        var batch = CaseBatch()
        try batch.add(try parsed(pendulum(2)), ["th0": Tensor(0.3), "w0": Tensor(-0.2), "k": Tensor(0.1)], "pendulum 2")
        let (rolled, unrolled) = try assertBothAgree(batch)
        XCTAssertFalse(rolled.contains("re-rolled"))
        XCTAssertFalse(rolled.contains("for (int64_t r"))
        XCTAssertEqual(rolled.utf8.count, unrolled.utf8.count, "the same code (up to the name prefix)")
    }

    /// A constant of more than `largeConstantElements` elements is written as bytes.
    func testLargeConstantAsBytes() throws {
        let fb = FunctionBuilder("dot")
        let x = try fb.input("x", .f64, [3000])
        let values = (0..<3000).map { i -> Double in i % 7 == 0 ? -0.0 : Double(i) * 0.37 - 1e300 * Double(i % 2) }
        let c = try fb.constant(values: values, .f64, [3000])
        try fb.output(try sum(x * c), "s")
        try fb.output(try x * c, "p")
        var rng = SplitMix64(seed: 3)
        var batch = CaseBatch()
        try batch.add(fb.function, ["x": Tensor.random(TensorType(.f64, [3000]), using: &rng)], "large constant")
        try batch.assertCAgrees()
        let src = try emitC(batch.functions).source
        XCTAssertTrue(src.contains("_bytes.v;"), "the constant is a byte string")
    }

    /// The table writer: narrow and wide numbers, negative ones, both forms, read back by cc.
    func testIntegerTablesReadBack() throws {
        let narrow = (0..<300).map { ($0 * 7919) % 65_537 - 30_000 }
        let wide = (0..<300).map { $0 % 3 == 0 ? Int(Int32.max) + $0 : -$0 * 1_000_003 }
        let small = [5, -1, 0, Int(Int32.min)]
        var c = "#include <stdint.h>\n#include <stdio.h>\n"
        c += cIntegerTable(name: "tn", values: narrow, wide: false)
        c += cIntegerTable(name: "tw", values: wide, wide: true)
        c += cIntegerTable(name: "ts", values: small, wide: false)
        c += "int main(void) {\n"
        for (name, values) in [("tn", narrow), ("tw", wide), ("ts", small)] {
            for (i, v) in values.enumerated() {
                c += "    if (\(name).v[\(i)] != (int64_t)(\(v)LL)) { printf(\"\(name) \(i)\\n\"); return 1; }\n"
            }
        }
        c += "    return 0;\n}\n"
        let dir = try TemporaryDirectory.forProcess("reroll-tables")
        let src = dir.path + "/t.c", exe = dir.path + "/t"
        try c.write(toFile: src, atomically: true, encoding: .utf8)
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        cc.arguments = ["cc", "-std=c11", "-Wall", "-Werror", "-o", exe, src]
        try cc.run()
        cc.waitUntilExit()
        XCTAssertEqual(cc.terminationStatus, 0)
        let run = Process()
        run.executableURL = URL(fileURLWithPath: exe)
        try run.run()
        run.waitUntilExit()
        XCTAssertEqual(run.terminationStatus, 0, "a table entry read back wrong")
    }
}
