import Foundation
import Grad
import TestSupport
import XCTest

/// Indexing with i64 tensors through the library (issue 16): errors at run time that name the
/// op, its source location and the offending value on the reference evaluator and the VM, and
/// `take` against its one-hot formulation on every backend.
final class IndexingTests: XCTestCase {
    static let source = """
        func f(x: f64[3,2], i: i64[4], u: f64[4,2]) {
          y = take(x, i, axis=0)
          s = scatter_add(x, i, u, axis=0)
          loss = sum(y * y) + sum(s)
          return loss, grad(loss, x, u)
        }
        """

    func executable(_ backend: Backend) throws -> Executable {
        try compile(XCTUnwrap(Pipeline.parse(IndexingTests.source, file: "model.ir").functions.first), backend: backend)
    }

    func inputs(_ i: [Int64]) throws -> [Tensor] {
        [Tensor.random(TensorType(.f64, [3, 2]), seed: 3), try XCTUnwrap(Tensor(.i64(i), shape: [4])), Tensor.random(TensorType(.f64, [4, 2]), seed: 4)]
    }

    func testOutOfRangeIndexNamesOpLocationAndValue() throws {
        for backend in [Backend.reference, .bytecode] {
            let run = try executable(backend)
            for (bad, index) in [([0, 3, 1, 1] as [Int64], Int64(3)), ([-4, 0, 5, 1], -4), ([0, 1, 2, .min], .min)] {
                XCTAssertThrowsError(try run(inputs(bad)), "\(backend)") { error in
                    guard let d = error as? Diagnostic else { return XCTFail("\(error)") }
                    XCTAssertEqual(d.kind, .indexOutOfRange(op: "take", index: index, axis: 0, length: 3), "\(backend): \(d)")
                    XCTAssertEqual(d.location, SourceLocation(line: 2, column: 7), "\(backend): \(d)")
                    let shown = d.attaching(file: "model.ir", source: IndexingTests.source).description
                    XCTAssertTrue(shown.hasPrefix("model.ir:2:7: error: take: index \(index) is out of range for axis 0 of length 3"), shown)
                    XCTAssertTrue(shown.contains("  y = take(x, i, axis=0)\n      ^"), shown)
                }
            }
            // Negative indices down to −n wrap around; a failed call leaves nothing behind.
            let good = try run(inputs([-3, -1, 2, 0]))
            let expected = try executable(.reference)(inputs([0, 2, 2, 0]))
            for (g, e) in zip(good, expected) { XCTAssertTrue(sameBits(g, e), "\(backend): \(g) vs \(e)") }
        }
    }

    /// The fast paths of `scatter_add` (issue 16): a constant-zero base (the gradient of
    /// `take`), which the VM and C clear instead of copying, and the row form, which adds
    /// whole rows — repeated and negative indices, f32 and f64, a non-zero splat base and the
    /// along-axis form; the VM and C agree with the reference bit for bit.
    func testScatterAddFastPathsAgreeOnEveryBackend() throws {
        for dtype in ["f64", "f32"] {
            let source = """
                func f(e: \(dtype)[5,3], i: i64[2,3], u: \(dtype)[2,3,3], j: i64[5,3]) {
                  g = grad(sum(e[i] * u), e)
                  z = scatter_add(cast([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=\(dtype)), i, u, axis=0)
                  t = scatter_add(cast([[2.0, 2.0, 2.0], [2.0, 2.0, 2.0], [2.0, 2.0, 2.0], [2.0, 2.0, 2.0], [2.0, 2.0, 2.0]], dtype=\(dtype)), i, u, axis=0)
                  a = scatter_add_along_axis(cast([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=\(dtype)), j, e, axis=0)
                  return g, z, t, a
                }
                """
            let f = try XCTUnwrap(Pipeline.parse(source, file: "model.ir").functions.first)
            let d: DType = dtype == "f64" ? .f64 : .f32
            let inputs = [Tensor.random(TensorType(d, [5, 3]), seed: 5),
                          try XCTUnwrap(Tensor(.i64([4, -1, 0, 2, 4, 4]), shape: [2, 3])),
                          Tensor.random(TensorType(d, [2, 3, 3]), seed: 6),
                          try XCTUnwrap(Tensor(.i64([0, 1, 2, 0, 0, 0, 4, 4, 1, 3, 2, 1, -1, 0, 0]), shape: [5, 3]))]
            let expected = try compile(f, backend: .reference)(inputs)
            // Row 4 of the gradient collects four update rows (index 4 three times, −1 once).
            let u = inputs[2].doubles
            for c in 0..<3 {
                let want = [0, 4, 5].map { u[$0 * 3 + c] }.reduce(0, +) + u[1 * 3 + c]
                XCTAssertEqual(expected[0].doubles[4 * 3 + c], want, accuracy: 1e-6)
            }
            XCTAssertEqual(expected[1].doubles[1 * 3], 0)  // row 1 is never indexed: exactly zero
            XCTAssertEqual(expected[2].doubles[1 * 3], 2)
            for backend in [Backend.bytecode, .c] {
                let got = try compile(f, backend: backend)(inputs)
                for (k, (g, e)) in zip(got, expected).enumerated() {
                    XCTAssertTrue(sameBits(g, e), "\(dtype) \(backend) output \(k): \(g) vs \(e)")
                }
            }
        }
    }

    /// A program from a file has no source locations: the VM still names the op and the value.
    func testVMWithoutLocationsStillNamesOpAndValue() throws {
        let f = try optimize(Differentiator.expand(XCTUnwrap(Pipeline.parse(IndexingTests.source).functions.first)))
        let vm = try VirtualMachine(BytecodeProgram(serialized: BytecodeProgram(function: f).serialized()))
        XCTAssertEqual(vm.fallbackKernelCount, 0)
        XCTAssertThrowsError(try vm.run(inputs([0, 1, 7, 2]))) { error in
            XCTAssertEqual((error as? Diagnostic)?.kind, .indexOutOfRange(op: "take", index: 7, axis: 0, length: 3))
            XCTAssertEqual((error as? Diagnostic)?.location, .unknown)
        }
        // The failed run leaves nothing behind: the next good one succeeds.
        XCTAssertNoThrow(try vm.run(inputs([0, 1, 2, 2])))
    }

    /// `take(x, idx, axis=0)` equals `one_hot(idx) @ x` for indices in range (value and
    /// gradient: every element is one product with 1 plus exact zeros, and the scatter adds
    /// the gradient's rows in the order the matrix product does).
    func testTakeEqualsOneHotMatmul() throws {
        let source = """
            func take_form(x: f64[6,4], i: i64[9], w: f64[9,4]) {
              y = take(x, i, axis=0)
              loss = sum(y * w)
              return y, grad(loss, x)
            }
            func one_hot_form(x: f64[6,4], i: i64[9], w: f64[9,4]) {
              y = one_hot(i, depth=6) @ x
              loss = sum(y * w)
              return y, grad(loss, x)
            }
            """
        let module = try Pipeline.parse(source)
        let ids = try XCTUnwrap(Tensor(.i64([5, 0, 3, 3, 1, 5, 0, 2, 3]), shape: [9]))
        var rng = SplitMix64(seed: 5)
        let args = [Tensor.random(TensorType(.f64, [6, 4]), using: &rng), ids, Tensor.random(TensorType(.f64, [9, 4]), using: &rng)]
        var backends: [Backend] = [.reference, .bytecode]
        if (try? CCompiler.find()) != nil { backends.append(.c) }
        for backend in backends {
            let taken = try compile(module.functions[0], backend: backend, options: CompileOptions(portable: true))(args)
            let hot = try compile(module.functions[1], backend: backend, options: CompileOptions(portable: true))(args)
            for (k, (a, b)) in zip(taken, hot).enumerated() {
                XCTAssertEqual(a.shape, b.shape)
                XCTAssertEqual(a.doubles, b.doubles, "\(backend) output \(k)")
            }
            XCTAssertTrue(taken[1].doubles.contains(0), "row 4 of x is never read: its gradient is 0")
        }
    }

    /// `x[idx]` with an i64 tensor or scalar is `take` along its axis, after the other items'
    /// slicing: the same nodes and, on every backend, the same values and gradients.
    func testTensorIndexSugarIsTake() throws {
        let source = """
            func sugar(e: f64[5,3], ids: i64[2,2], j: i64) {
              a = e[ids]
              b = e[:, j]
              c = e[1:4, ids - 1]
              return a, b, c, grad(sum(a * a) + sum(b) + sum(c), e), e[2 * j + 3], e[-1 + j]
            }
            func explicit(e: f64[5,3], ids: i64[2,2], j: i64) {
              a = take(e, ids, axis=0)
              b = take(e, j, axis=1)
              c = take(e[1:4], ids - 1, axis=1)
              return a, b, c, grad(sum(a * a) + sum(b) + sum(c), e), take(e, 2 * j + 3, axis=0), take(e, -1 + j, axis=0)
            }
            """
        let module = try Pipeline.parse(source)
        XCTAssertEqual(module.functions[0].nodes.map(\.op.name).sorted(), module.functions[1].nodes.map(\.op.name).sorted())
        let args = [Tensor.random(TensorType(.f64, [5, 3]), seed: 3), try XCTUnwrap(Tensor(.i64([1, 2, 2, 3]), shape: [2, 2])), Tensor(i64: -1)]
        for backend in Backend.allCases {
            let a = try compile(module.functions[0], backend: backend)(args)
            let b = try compile(module.functions[1], backend: backend)(args)
            XCTAssertEqual(a, b, "\(backend)")
        }
    }

    /// Tensor literals take their dtype from the context and print as `const(values=…)`, which
    /// parses back to the same graph; `stack` is `expand_dims` and `concat`.
    func testTensorLiteralsAndStack() throws {
        let source = """
            func f(x: f32[2,2], i: i64[3]) {
              a = x @ [[0.5, -1.0], [1.5, 0.2]]
              b = i + [1, 2, -3]
              s = stack(x, [[1, 2], [3, 4]], axis=-1)
              return a, b, s, [inf, -2e3], grad(sum(a) + sum(s), x)
            }
            """
        let f = try Pipeline.function(Pipeline.parse(source), named: "f")
        XCTAssertEqual(f.outputs.map { f.type(of: $0.value) },
                       [TensorType(.f32, [2, 2]), TensorType(.i64, [3]), TensorType(.f32, [2, 2, 2]), TensorType(.f64, [2]), TensorType(.f32, [2, 2])])
        let text = printFunction(f)
        XCTAssertEqual(printFunction(try Pipeline.function(Pipeline.parse(text), named: "f")), text)
        let x = try XCTUnwrap(Tensor(.f32([1, 2, 3, 4]), shape: [2, 2]))
        let out = try compile(f, backend: .reference)([x, try XCTUnwrap(Tensor(.i64([10, 20, 30]), shape: [3]))])
        XCTAssertEqual(out[0].doubles, [3.5, -0.6, 7.5, -2.2].map { Double(Float($0)) }, "x @ literal, in f32")
        XCTAssertEqual(out[1].doubles, [11, 22, 27])
        XCTAssertEqual(out[2].doubles, [1, 1, 2, 2, 3, 3, 4, 4])
        XCTAssertEqual(out[3].doubles, [.infinity, -2000])
    }

    /// Literals as operands of the index ops: the index operand's literal is i64, and the
    /// others take the dtype of a typed operand that is not the index (it once took the i64 of
    /// the index, making a float base literal an i64 tensor).
    func testLiteralOperandsOfIndexOps() throws {
        let source = """
            func f(u: f32[2], ids: i64[2]) {
              s = scatter_add([[0.0, 0.5, 0.0]], [1, 2], reshape(u, shape=[1,2]), axis=1)
              t = scatter_add([0.0, 0.0, 0.0], ids, u, axis=0)
              return s, t, take([1.5, 2.5, 3.5], [2, 0], axis=0), take(u, [1, 1, 0], axis=0)
            }
            """
        let f = try Pipeline.function(Pipeline.parse(source), named: "f")
        XCTAssertEqual(f.outputs.map { f.type(of: $0.value) },
                       [TensorType(.f32, [1, 3]), TensorType(.f32, [3]), TensorType(.f64, [2]), TensorType(.f32, [3])])
        let u = try XCTUnwrap(Tensor(.f32([4, 8]), shape: [2]))
        let ids = try XCTUnwrap(Tensor(.i64([2, 2]), shape: [2]))
        let out = try compile(f, backend: .reference)([u, ids])
        XCTAssertEqual(out.map(\.doubles), [[0, 4.5, 8], [0, 0, 12], [3.5, 1.5], [8, 8, 4]])
    }

    /// The Swift functions build the same nodes as the `.ir` calls.
    func testLibraryFunctionsMatchTheLanguage() throws {
        let fb = FunctionBuilder("lib")
        let x = try fb.input("x", .f64, [3, 2])
        let i = try fb.input("i", .i64, [4])
        let j = try fb.input("j", .i64, [3, 1])
        let t = try take(x, i, axis: 0)
        try fb.output(t, "t")
        try fb.output(takeAlongAxis(x, j, axis: -1), "a")
        try fb.output(scatterAdd(x, i, t, axis: 0), "s")
        try fb.output(scatterAddAlongAxis(x, j, takeAlongAxis(x, j, axis: 1), axis: 1), "s2")
        try fb.output(argmax(x, axes: [1]) + argmin(x), "m")
        try fb.output(floordiv(i, i) + mod(i, i) + fb.iota(shape: [4]), "q")
        let source = """
            func lib(x: f64[3,2], i: i64[4], j: i64[3,1]) {
              t = take(x, i, axis=0)
              a = take_along_axis(x, j, axis=-1)
              s = scatter_add(x, i, t, axis=0)
              s2 = scatter_add_along_axis(x, j, take_along_axis(x, j, axis=1), axis=1)
              m = argmax(x, axes=[1]) + argmin(x)
              q = floordiv(i, i) + mod(i, i) + iota(shape=[4], axis=0, dtype=i64)
              return t, a, s, s2, m, q
            }
            """
        let parsed = try XCTUnwrap(Pipeline.parse(source).functions.first)
        XCTAssertEqual(printFunction(fb.function), printFunction(parsed))
    }
}
