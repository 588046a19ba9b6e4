import Foundation
import Grad
import TestSupport
import XCTest

/// Contiguous slices are views (`ExecutionPlan.viewOffset`): no step, no buffer, their
/// operand's buffer `viewOffsets[id]` elements in. Which slices qualify, what the plan does at
/// its edges (outputs, in-place updates, loops), and every backend against the reference. And
/// the converse: operands a `concat` alone reads are computed into their place in its buffer
/// (`placeConcatParts`).
final class SliceViewTests: XCTestCase {
    func function(_ text: String) throws -> Function {
        try Pipeline.function(Pipeline.lower(Pipeline.parse(text), to: .optimized), named: nil)
    }

    /// The slices of f's body that the plan runs as steps, as (input shape, output shape).
    func slicesWithSteps(_ f: Function) throws -> [[Int]] {
        let plan = try ExecutionPlan(f)
        return plan.steps.compactMap { step in
            guard case .kernel(let id) = step, f.nodes[id].op == .slice else { return nil }
            return f.nodes[id].type.shape
        }
    }

    /// The VM (fused and not) and C on `optimized` against the reference on `plain`; returns
    /// the backends' outputs.
    @discardableResult
    func assertEveryBackendAgrees(_ plain: Function, _ optimized: Function, _ inputs: [String: Tensor]) throws -> [(String, [Tensor])] {
        let want = try ReferenceEvaluator.run(plain, inputs: inputs)
        let ordered = optimized.parameters.compactMap { inputs[$0.name] }
        var results = [("bytecode", try VirtualMachine(BytecodeProgram(function: optimized)).run(ordered)),
                       ("bytecode, unfused", try VirtualMachine(BytecodeProgram(function: optimized, fuse: false)).run(ordered))]
        if (try? CCompiler.find()) != nil {
            var env = ProcessInfo.processInfo.environment
            env["GRADC_CACHE_DIR"] = try temporaryDirectory("slice-views").path
            results.append(("C", try CModule([optimized], environment: env).kernels[0].run(ordered)))
        }
        for (backend, got) in results {
            XCTAssertEqual(got.count, want.count, backend)
            for (k, (g, w)) in zip(got, want).enumerated() {
                XCTAssertEqual(g.type, w.type, "\(backend) output \(k)")
                assertAllClose(g.doubles, w.doubles, rtol: 1e-13, atol: 1e-15, "\(backend) output \(k)")
            }
        }
        return results
    }

    func testWhichSlicesAreViews() throws {
        // Each line returns sum(slice) so that the slice is not folded into the output.
        let cases: [(String, Bool, String)] = [
            ("v[1:]", true, "a suffix of a vector"),
            ("v[2:5]", true, "a range of a vector"),
            ("m[1]", true, "a row"),
            ("m[1:3]", true, "rows"),
            ("m[1:3, :]", true, "rows, every column"),
            ("t[1, 2]", true, "one row of one matrix of a rank-3 tensor"),
            ("t[1, 1:3]", true, "rows of one matrix"),
            ("m[:, 1]", false, "a column"),
            ("m[0:2, 1:3]", false, "a block"),
            ("v[::2]", false, "a strided range"),
            ("m[2, 1:4]", true, "a part of one row"),
            ("m[1:3, 2]", false, "one column of two rows"),
            ("v[2:3]", true, "one element"),
            ("m[::1, ::1]", true, "the whole"),
            ("t[:, 1]", false, "one row of each matrix"),
        ]
        for (slice, isView, what) in cases {
            let f = try function("""
            func f(v: f64[6], m: f64[4,5], t: f64[3,4,5]) {
              return sum(exp(\(slice)))
            }
            """)
            XCTAssertEqual(try slicesWithSteps(f).isEmpty, isView, "\(slice): \(what)")
        }
    }

    func testOffsetsOfViews() throws {
        let f = try function("""
        func f(m: f64[4,5]) {
          r = m[2:4]
          return sum(exp(r[1, 3:5]))
        }
        """)
        let plan = try ExecutionPlan(f)
        let offsets = f.nodes.indices.filter { f.nodes[$0].op == .slice }.map { plan.viewOffsets[$0] }
        // m[2:4] starts at element 10 of m, and its [1, 3:5] at 5 + 3 more.
        XCTAssertEqual(offsets.sorted(), [10, 18])
    }

    /// Views at the plan's edges, on every backend: a view of an input returned as an output
    /// (copied out), a view of a computed value returned beside it, a view of a view, views
    /// read by an update of their dying root where one reads another part of it (not in place:
    /// element j would be overwritten before it is read), a view of a constant, views inside
    /// loop bodies (of a carry, of a row, of an invariant) and of a loop's result, and the
    /// gradient through all of them.
    func testEveryBackendAgreesAtTheEdges() throws {
        let text = """
        func step(c: f64[6], r: f64[6], x: f64[6]) {
          return concat(c[0:1], c[1:] * x[:-1] + r[2:3], axis=0), sum(c[2:4])
        }
        func step2(i: i64, c: f64[6], m: f64[4,3]) {
          return c * sum(m[i]) as c
        }
        func f(x: f64[6], m: f64[4,3]) {
          y = exp(x)
          z = y[1:] * y[:-1] + y[:-1]
          w = m[1:3]
          k = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
          cT, ys = scan(step, carry=x, over=reshape(k, shape=[1,6]) * [[1.0], [0.5], [0.25]], with=x)
          h = fori(step2, 2, carry=x, with=m)
          loss = sum(z) + sum(cT[1:] * h[:5])
          q = exp(2 * reshape(x, shape=[2,3]))
          gx, gm = grad(loss, x, m)
          return sum(q * q[0], axes=[1]) as broadcastFromItself, x[2:5] as a, y as b, y[3:] as c, z as d, w[1] as e, m[2:] * k[:3] as g, cT[1:] as h, ys as i, gx, gm
        }
        """
        let module = try Pipeline.parse(text)
        let plain = try Differentiator.expand(try Pipeline.function(module, named: "f"))
        let optimized = try optimize(plain)
        let x = Tensor(TensorType(.f64, [6]), doubles: [0.3, -0.2, 0.1, 0.5, -0.4, 0.25])
        let m = Tensor(TensorType(.f64, [4, 3]), doubles: (0..<12).map { 0.1 * Double($0) - 0.5 })
        XCTAssertTrue(try slicesWithSteps(optimized).isEmpty, "every slice of f is contiguous")
        let results = try assertEveryBackendAgrees(plain, optimized, ["x": x, "m": m])
        // The exact parts: views copied out are the input's elements, bit for bit.
        XCTAssertEqual(results[0].1[1].doubles, [0.1, 0.5, -0.4])
        XCTAssertEqual(results[0].1[5].doubles, Array(m.doubles[6..<9]))
    }

    /// A `.gbc` may read a part of an input in its dtype (a view) and write a part of an
    /// output, but not write a part of an input nor read an input in another dtype.
    func testBytecodeMayReadButNotWritePartsOfBindings() throws {
        let f = try function("""
        func f(x: f64[6]) {
          return exp(x[2:5]), x
        }
        """)
        let program = try BytecodeProgram(function: f)
        XCTAssertNoThrow(try program.validate())
        guard case .fused(let dtype, let ops, var leaves, let out, let nodes)? = program.instructions.first else {
            return XCTFail("expected a fused first instruction: \(program.instructions)")
        }
        XCTAssertEqual(leaves[0].offset, program.inputs[0].operand.offset + 16)
        var partialWrite = program
        partialWrite.instructions[0] = .fused(dtype: dtype, ops: ops, leaves: leaves,
                                             output: BytecodeOperand(type: TensorType(.f64, [3]), offset: program.inputs[0].operand.offset),
                                             nodes: nodes)
        XCTAssertThrowsError(try partialWrite.validate())
        var partialOutput = program
        partialOutput.instructions[0] = .fused(dtype: dtype, ops: ops, leaves: leaves,
                                              output: BytecodeOperand(type: TensorType(.f64, [3]), offset: program.outputs[1].operand.offset + 8),
                                              nodes: nodes)
        XCTAssertNoThrow(try partialOutput.validate())
        leaves[0] = BytecodeOperand(type: TensorType(.i64, [3]), offset: leaves[0].offset)
        var otherDType = program
        otherDType.instructions[0] = .fused(dtype: dtype, ops: ops, leaves: leaves, output: out, nodes: nodes)
        XCTAssertThrowsError(try otherDType.validate())
    }

    func testConcatPartsAreComputedInPlace() throws {
        let f = try function("""
        func f(x: f64[6], m: f64[2,3]) {
          a = exp(x)
          b = concat(a, x * 2, x[1:3], axis=0)
          return sum(b * b)
        }
        """)
        let plan = try ExecutionPlan(f)
        let concat = try XCTUnwrap(f.nodes.indices.first { f.nodes[$0].op == .concat })
        let placed = f.nodes[concat].inputs.filter { plan.storageRoot[$0] == concat }
        // exp(x) and x * 2 are written into the concat's buffer at 0 and 6; the view x[1:3]
        // (of an input) is copied.
        XCTAssertEqual(placed.count, 2)
        XCTAssertEqual(placed.map { plan.viewOffsets[$0] }, [0, 6])
    }

    /// Every backend against the reference where concat parts are placed: parts from fused
    /// loops, from a matrix product and from a reduction, a concat that is a part of another
    /// (nested), a concat returned as an output, a part also read elsewhere (not placed), a
    /// part read again by a later part's producer, concats of rows along axis 0 of a matrix
    /// and along the last axis of a [1, n] value, inside a loop body, and the gradient.
    func testEveryBackendAgreesWithPlacedConcatParts() throws {
        let text = """
        func body(c: f64[4], x: f64[4]) {
          return concat(c[0:1], c[1:] * x[:-1], axis=0)
        }
        func body2(i: i64, c: f64[4], x: f64[4]) {
          return body(c, x) as c
        }
        func f(x: f64[4], m: f64[3,4]) {
          p = sin(x)
          q = m @ x
          r = sum(m, axes=[0])
          inner = concat(p * 2, q, axis=0)
          outer = concat(inner, r + 1, exp(x), axis=0)
          shared = cos(x)
          both = concat(shared, shared * 3, axis=0)
          rows = concat(reshape(p, shape=[1,4]), m * 2, axis=0)
          wide = concat(reshape(q, shape=[1,3]), reshape(p + 1, shape=[1,4]), axis=1)
          y = fori(body2, 3, carry=x, with=x)
          loss = sum(outer * outer) + sum(both) * sum(shared) + sum(rows) + sum(wide * wide) + sum(y * y)
          gx, gm = grad(loss, x, m)
          return outer, both, rows, wide, y, gx, gm
        }
        """
        let plain = try Differentiator.expand(try Pipeline.function(try Pipeline.parse(text), named: "f"))
        let optimized = try optimize(plain)
        let plan = try ExecutionPlan(optimized)
        let placedParts = optimized.nodes.indices.filter {
            plan.storageRoot[$0] != $0 && optimized.nodes[plan.storageRoot[$0]].op == .concat
        }
        XCTAssertGreaterThanOrEqual(placedParts.count, 5)
        let x = Tensor(TensorType(.f64, [4]), doubles: [0.3, -0.2, 0.7, 0.5])
        let m = Tensor(TensorType(.f64, [3, 4]), doubles: (0..<12).map { 0.1 * Double($0) - 0.4 })
        try assertEveryBackendAgrees(plain, optimized, ["x": x, "m": m])
    }
}
