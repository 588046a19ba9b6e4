import Foundation
import Grad
import TestSupport
import XCTest

/// Runs `f` (derivatives expanded) on the reference evaluator and on the VM — with and
/// without fusion and in-place reuse, portable and not — and asserts the outputs agree: every
/// VM kernel follows the reference formulas and summation orders (see BENCHMARKS.md /
/// README), so outputs are bitwise equal, except those computed from a float matmul when
/// the VM fuses its multiply-adds (`.avx2FMA`, the default on a CPU with AVX2 and FMA):
/// those within 1e-12 (f64) / 1e-5 (f32) of the output's largest magnitude.
func assertVMAgrees(_ f: Function, _ inputs: [String: Tensor], _ label: String, file: StaticString = #filePath, line: UInt = #line) throws {
    let expanded = try optimize(Differentiator.expand(f))
    let expected = try ReferenceEvaluator.run(expanded, inputs: inputs)
    let ordered = expanded.parameters.compactMap { inputs[$0.name] }
    for portable in [false, true] {
        var limits = VMLimits()
        limits.portable = portable
        for (fuse, inPlace) in [(true, true), (false, false), (true, false)] {
            let vm = try VirtualMachine(BytecodeProgram(function: expanded, fuse: fuse, inPlace: inPlace), limits: limits)
            if portable { XCTAssertNotEqual(vm.matmulKernel, .avx2FMA, label, file: file, line: line) }
            for round in 0..<2 {
                assertVMOutputs(try vm.run(ordered), expected, vm, expanded,
                                "\(label) (fuse \(fuse), in-place \(inPlace), portable \(portable), round \(round))", file: file, line: line)
            }
        }
    }
}

/// Asserts that `got`, the outputs of `vm` running `f`, agree with the reference's
/// `expected` by the rule of `assertVMAgrees`.
func assertVMOutputs(_ got: [Tensor], _ expected: [Tensor], _ vm: VirtualMachine, _ f: Function, _ label: String,
                     file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(got.count, expected.count, label, file: file, line: line)
    let fusedOutputs = vm.matmulKernel == .avx2FMA ? floatMatmulOutputs(f) : []
    for (k, (g, e)) in zip(got, expected).enumerated() {
        let what = "\(label) output \(k): VM (\(vm.matmulKernel)) \(g) vs reference \(e)"
        if fusedOutputs.contains(k) {
            XCTAssertTrue(closeToMax(g, e, tolerance: fusedMatmulTolerance(g.dtype)), what, file: file, line: line)
        } else {
            XCTAssertTrue(sameBits(g, e), what, file: file, line: line)
        }
    }
}

/// VM paths beyond the conformance harness (Tests/GradTests/ConformanceTests.swift, which runs
/// every op, the edge values and every fixture on every backend).
final class VMAgreementTests: XCTestCase {
    /// Broadcast leaves read in runs across the fused loop's 256-element chunks (a chunk
    /// starting mid-row, rows wrapping inside a chunk, repeated elements), with relu and
    /// select on random signs, bit for bit.
    func testChunkedBroadcasts() throws {
        for dtype in ["f64", "f32"] {
            let module = try Pipeline.parse("""
                func f(x: \(dtype)[3,300], b: \(dtype)[300], c: \(dtype)[3,1], y: \(dtype)[7,5,11], d: \(dtype)[5,1], e: \(dtype)[11]) {
                  r = relu(x + b) * c
                  s = select(y > 0.0, y * d, e - y)
                  return r, s, relu(y + e) - d
                }
                """)
            let f = try Pipeline.function(module, named: nil)
            var inputs: [String: Tensor] = [:]
            for (j, p) in f.parameters.enumerated() {
                inputs[p.name] = Tensor.random(f.type(of: p.value), seed: UInt64(j + 40))
            }
            try assertVMAgrees(f, inputs, "\(dtype) chunked broadcasts")
        }
    }

    func testCompileBytecodeBackend() throws {
        let fb = FunctionBuilder("seed")
        let x = try fb.input("x", .f64)
        let y = try fb.input("y", .f64)
        let z = try (x + sigmoid(x)) / (sigmoid(x) + square(x + y))
        try fb.output(z, "z")
        try fb.output(fb.grad(of: z, wrt: [x, y]))
        let vm = try compile(fb.function, backend: .bytecode)
        let ref = try compile(fb.function, backend: .reference)
        let inputs = ["x": Tensor(4), "y": Tensor(3)]
        let a = try vm(inputs)
        let b = try ref(inputs)
        XCTAssertEqual(a.count, 3)
        for (p, q) in zip(a, b) { XCTAssertTrue(sameBits(p, q), "\(p) vs \(q)") }
        XCTAssertThrowsError(try vm([Tensor(1)]))
    }
}
