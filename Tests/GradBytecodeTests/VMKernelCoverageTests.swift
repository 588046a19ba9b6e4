import Foundation
import Grad
import TestSupport
import XCTest

/// The VM runs every op of the benchmark workloads with in-arena kernels (no call into the
/// allocating generic path), and the integer, bool and data-movement kernels that replaced
/// that path agree bitwise with the reference.
final class VMKernelCoverageTests: XCTestCase {
    func function(_ source: String) throws -> Function {
        let module = try Pipeline.lower(Pipeline.parse(source), to: .optimized)
        return try Pipeline.function(module, named: nil)
    }

    /// Links `f`, runs it on random inputs, and checks no instruction took the generic path.
    func assertNoFallback(_ source: String, _ label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let f = try function(source)
        for (fuse, inPlace) in [(true, true), (false, false)] {
            let vm = try VirtualMachine(BytecodeProgram(function: f, fuse: fuse, inPlace: inPlace))
            XCTAssertEqual(vm.fallbackKernelCount, 0, "\(label): instructions on the generic path", file: file, line: line)
            var named: [String: Tensor] = [:]
            var ordered: [Tensor] = []
            for (k, p) in f.parameters.enumerated() {
                let t = Tensor.random(f.type(of: p.value), seed: UInt64(k + 1))
                named[p.name] = t
                ordered.append(t)
            }
            let got = try vm.run(ordered)
            XCTAssertEqual(vm.fallbackCalls, 0, "\(label): runs of the generic path", file: file, line: line)
            let expected = try ReferenceEvaluator.run(f, inputs: named)
            assertVMOutputs(got, expected, vm, f, label, file: file, line: line)
        }
    }

    func testBenchmarkWorkloadsAvoidTheGenericPath() throws {
        try assertNoFallback("""
            func seed(x: f64, y: f64) {
              z = (x + sigmoid(x)) / (sigmoid(x) + (x + y)^2)
              dzdx, dzdy = grad(z, x, y)
              return z, dzdx, dzdy
            }
            """, "seed")
        for dtype in ["f32", "f64"] {
            try assertNoFallback("""
                func mlp(x: \(dtype)[8,12], y: \(dtype)[8,3], w1: \(dtype)[12,5], b1: \(dtype)[5], w2: \(dtype)[5,3], b2: \(dtype)[3]) {
                  h = relu(x @ w1 + b1)
                  loss = mean(softmax_cross_entropy(h @ w2 + b2, y))
                  return loss, grad(loss, w1, b1, w2, b2)
                }
                """, "MLP \(dtype)")
        }
        try assertNoFallback("""
            func rosenbrock(x: f64[10]) {
              f = sum(100.0 * (x[1:] - x[:-1]^2)^2 + (1.0 - x[:-1])^2)
              return f, grad(f, x)
            }
            """, "Rosenbrock")
        try assertNoFallback("""
            func arm(t: f64[12]) {
              p = cumsum(t, axis=0)
              loss = (sum(cos(p)) - 3.0)^2 + (sum(sin(p)) - 4.0)^2
              return loss, grad(loss, t)
            }
            """, "arm (vector, cumsum)")
        try assertNoFallback("""
            func arm(t0: f32, t1: f32, t2: f32) {
              p1 = t0 + t1
              p2 = p1 + t2
              x = cos(t0) + cos(p1) + cos(p2)
              y = sin(t0) + sin(p1) + sin(p2)
              loss = (x - 3.0)^2 + (y - 4.0)^2
              return loss, grad(loss, t0, t1, t2)
            }
            """, "arm (scalar f32)")
    }

    /// i64 and bool elementwise ops, casts and data movement on integer edge values.
    func testIntegerAndBoolKernels() throws {
        let f = try function("""
            func ints(a: i64[2,3], b: i64[3], c: bool[2,3], x: f32[2,3]) {
              s = a + b
              d = a - b
              m = a * b
              mx = maximum(a, b)
              mn = minimum(a, b)
              n = -a
              ab = abs(a)
              sg = sign(a)
              sq = square(a)
              r = relu(a)
              lt = a < b
              eq = c == (a > b)
              ne = c != (a <= b)
              sel = select(c, a, b)
              selb = select(lt, c, eq)
              cs = cumsum(a, axis=1)
              csr = cumsum(a, axis=0, reverse=true)
              p = pad(a, low=[1, 0], high=[0, 2], step=[1, 2])
              pb = pad(c, low=[0, 1], high=[1, 0])
              cc = concat(c, lt, axis=0)
              ci = concat(a, a, axis=1)
              f1 = cast(a, dtype=f32)
              f2 = cast(a, dtype=f64)
              f3 = cast(x, dtype=i64)
              f4 = cast(c, dtype=f32)
              f5 = cast(x, dtype=bool)
              f6 = cast(cast(x, dtype=f64) * 1e12, dtype=i64)
              f7 = cast(a, dtype=bool)
              oh = one_hot(b, depth=4, dtype=i64)
              ohb = one_hot(a, depth=3, dtype=bool)
              ohf = one_hot(a, depth=5, dtype=f32)
              return s, d, m, mx, mn, n, ab, sg, sq, r, lt, eq, ne, sel, selb, cs, csr, p, pb, cc, ci, f1, f2, f3, f4, f5, f6, f7, oh, ohb, ohf
            }
            """)
        let big = Int64.max
        let inputs: [[Tensor?]] = [
            [Tensor(.i64([big, .min, -3, 0, 7, big - 1]), shape: [2, 3]), Tensor(.i64([1, -1, 9_007_199_254_740_993]), shape: [3]),
             Tensor(.bool([true, false, true, false, false, true]), shape: [2, 3]),
             Tensor(.f32([1.5, -2.7, .nan, .infinity, 3e19, -0.0]), shape: [2, 3])],
            [Tensor(.i64([2, -1, 4, 1, 0, 3]), shape: [2, 3]), Tensor(.i64([1, 2, -5]), shape: [3]),
             Tensor(.bool([false, false, true, true, false, true]), shape: [2, 3]),
             Tensor(.f32([0.25, 1, -1, 2, 0, 7]), shape: [2, 3])],
        ]
        for row in inputs {
            let ts = row.compactMap { $0 }
            XCTAssertEqual(ts.count, 4)
            let named = Dictionary(uniqueKeysWithValues: zip(["a", "b", "c", "x"], ts))
            let expected = try ReferenceEvaluator.run(f, inputs: named)
            for (fuse, inPlace) in [(true, true), (false, false)] {
                let vm = try VirtualMachine(BytecodeProgram(function: f, fuse: fuse, inPlace: inPlace))
                XCTAssertEqual(vm.fallbackKernelCount, 0)
                let got = try vm.run(ts)
                XCTAssertEqual(vm.fallbackCalls, 0)
                for (k, (g, e)) in zip(got, expected).enumerated() {
                    XCTAssertTrue(sameBits(g, e), "output \(k) (\(f.outputs[k].name)): VM \(g) vs reference \(e)")
                }
            }
        }
    }

    /// Rank-0 f32 ops run on the scalar machine (one instruction each, no kernel).
    func testScalarF32UsesTheScalarMachine() throws {
        let f = try function("""
            func s(x: f32, y: f32) {
              z = (x + sigmoid(x)) / (sigmoid(x) + (x + y)^2)
              return z, grad(z, x, y)
            }
            """)
        let vm = try VirtualMachine(BytecodeProgram(function: f))
        XCTAssertEqual(vm.kernelCount, 0)
        let inputs = [Tensor(TensorType(.f32), doubles: [0.7]), Tensor(TensorType(.f32), doubles: [-1.3])]
        let expected = try ReferenceEvaluator.run(f, inputs: ["x": inputs[0], "y": inputs[1]])
        let got = try vm.run(inputs)
        for (g, e) in zip(got, expected) { XCTAssertTrue(sameBits(g, e), "VM \(g) vs reference \(e)") }
    }
}

/// Matmuls large enough to run on two threads (split by column panels, and by rows for a
/// narrow output), with transposed operands read in place, agree with the reference: bitwise
/// with every micro-kernel that does not fuse, within tolerance with the fused one.
final class VMLargeMatmulTests: XCTestCase {
    func testTwoThreadsAndTransposedOperands() throws {
        for dtype in ["f32", "f64"] {
            // Each product is above the two-thread threshold set here (2¹⁹ multiply-adds).
            let source = """
                func big(x: \(dtype)[32,100], w: \(dtype)[100,200], u: \(dtype)[600,100]) {
                  h = x @ w
                  ta = transpose(x, perm=[1, 0]) @ h
                  tb = h @ transpose(w, perm=[1, 0])
                  narrow = u @ w[:, 0:9]
                  return h, ta, tb, narrow
                }
                """
            let module = try Pipeline.lower(Pipeline.parse(source), to: .optimized)
            let f = try Pipeline.function(module, named: nil)
            var named: [String: Tensor] = [:]
            var ordered: [Tensor] = []
            for (k, p) in f.parameters.enumerated() {
                let t = Tensor.random(f.type(of: p.value), seed: UInt64(k + 11))
                named[p.name] = t
                ordered.append(t)
            }
            let expected = try ReferenceEvaluator.run(f, inputs: named)
            for kernel in VMMatmulKernel.allCases {
                var limits = VMLimits()
                limits.parallelMatmulThreshold = 1 << 19
                limits.matmulKernel = kernel
                let vm = try VirtualMachine(BytecodeProgram(function: f), limits: limits)
                XCTAssertLessThan(vm.instructionCount, try BytecodeProgram(function: f).instructions.count, "\(dtype): some transpose is read in place")
                for round in 0..<2 {
                    assertVMOutputs(try vm.run(ordered), expected, vm, f, "\(dtype) \(kernel) round \(round)")
                }
            }
        }
    }
}
