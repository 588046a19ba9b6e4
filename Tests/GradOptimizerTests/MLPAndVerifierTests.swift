import Grad
import TestSupport
import XCTest

final class OptimizerGraphTests: XCTestCase {
    func mlp() throws -> Function {
        let module = try parseExpanded(try repositoryFile("Examples/mlp.ir"), file: "mlp.ir")
        return try XCTUnwrap(module.functions.last)
    }

    /// No two nodes of the optimized MLP gradient graph compute the same thing (same op, same
    /// operands up to commutation, same attributes and type); constants included.
    func testMLPGradientComputesNothingTwice() throws {
        let f = try mlp()
        let o = try optimize(f, options: OptimizerOptions(level: 2, verify: true))
        var seen: [Node: ValueID] = [:]
        for (id, var node) in o.nodes.enumerated() where node.op != .input {
            if [.add, .mul, .eq, .ne].contains(node.op), node.inputs.count == 2, node.inputs[0] > node.inputs[1] {
                node.inputs.swapAt(0, 1)
            }
            if let other = seen[node] {
                XCTFail("%\(id) recomputes %\(other): \(node.op)")
            }
            seen[node] = id
        }
        XCTAssertLessThan(o.nodes.count, f.nodes.count, "\(f.nodes.count) → \(o.nodes.count)")
        XCTAssertFalse(o.nodes.contains { $0.op == .mul && $0.inputs.contains { o.nodes[$0].attrs.value == 1 } }, "a mul by 1 is left")
        // Every node is used by an output (DCE).
        var used = Set(o.outputs.map(\.value))
        for node in o.nodes { used.formUnion(node.inputs) }
        for (id, node) in o.nodes.enumerated() where node.op != .input {
            XCTAssertTrue(used.contains(id), "%\(id) \(node.op) is dead")
        }
    }

    func testMLPOptimizedMatchesUnoptimized() throws {
        let f = try mlp()
        let o1 = try optimize(f, options: OptimizerOptions(level: 1, verify: true))
        try assertEquivalent(f, o1, .bitwise, inputs: inputSets(f, random: 2, special: 1), "mlp -O1")
        let o2 = try optimize(f, options: OptimizerOptions(level: 2, verify: true))
        try assertEquivalent(f, o2, .close(rtol: 1e-9, atol: 1e-12), inputs: inputSets(f, random: 2, special: 0), "mlp -O2")
    }

    /// CSE files a node under the operand with the shorter use list and scans both lists;
    /// lists stop at 16 entries. Here `u` and `v` each get 20 distinct unary users first, so
    /// both lists are full and the binary nodes on (u, v) go to the overflow dictionary: every
    /// duplicate (commuted or not) must still merge, and distinct ops stay apart. Also 40
    /// parameters each used against `u` (filed under the parameter's short list).
    func testCSEMergesDuplicatesOfWidelyUsedOperands() throws {
        var b = GraphBuilder(name: "wide")
        let t = TensorType(.f64)
        let u = try b.parameter("u", t)
        let v = try b.parameter("v", t)
        let unaryOps: [Op] = [.neg, .abs, .exp, .log, .sqrt, .square, .sin, .cos, .tan, .tanh,
                              .sigmoid, .relu, .softplus, .erf, .floor, .ceil, .log1p, .expm1, .rsqrt, .reciprocal]
        var outs: [ValueID] = []
        for _ in 0..<2 {
            for op in unaryOps {
                outs.append(try b.unary(op, u))
                outs.append(try b.unary(op, v))
            }
        }
        for round in 0..<3 {
            outs.append(round == 1 ? try b.binary(.add, v, u) : try b.binary(.add, u, v))
            outs.append(try b.binary(.sub, u, v))
            outs.append(try b.binary(.sub, v, u))
            outs.append(try b.binary(.mul, u, v))
        }
        let ps = try (0..<40).map { (i: Int) throws(Diagnostic) -> ValueID in try b.parameter("p\(i)", t) }
        for round in 0..<3 {
            for p in ps {
                outs.append(try b.binary(.maximum, u, p))
                outs.append(try b.binary(.atan2, p, u))
            }
        }
        b.function.outputs = outs.enumerated().map { Output(name: "o\($0.offset)", value: $0.element) }
        let optimized = try optimize(b.function, options: OptimizerOptions(level: 1))
        let ops = optimized.nodes.map(\.op)
        for op in unaryOps { XCTAssertEqual(ops.filter { $0 == op }.count, 2, "\(op)") }
        XCTAssertEqual(ops.filter { $0 == .add }.count, 1)
        XCTAssertEqual(ops.filter { $0 == .sub }.count, 2)
        XCTAssertEqual(ops.filter { $0 == .mul }.count, 1)
        XCTAssertEqual(ops.filter { $0 == .maximum }.count, 40)
        XCTAssertEqual(ops.filter { $0 == .atan2 }.count, 40)
    }

    func testLevelsAndPassLists() throws {
        let f = try mlp()
        XCTAssertEqual(try optimize(f, options: OptimizerOptions(level: 0)), f)
        XCTAssertEqual(OptimizerOptions(level: 1).pipeline, [.cse, .fold, .simplify, .shapes, .dce])
        XCTAssertTrue(OptimizerOptions().pipeline.contains(.stabilize))
        guard case .success(let list) = OptimizerPass.parseList("cse, fold,dce") else { return XCTFail() }
        XCTAssertEqual(list, [.cse, .fold, .dce])
        guard case .failure(let e) = OptimizerPass.parseList("cse,nope") else { return XCTFail() }
        XCTAssertEqual(e.name, "nope")
        let onlyDCE = try optimize(f, options: OptimizerOptions(passes: [.dce], verify: true))
        let everything = try optimize(f, options: OptimizerOptions(level: 2, verify: true))
        XCTAssertGreaterThan(onlyDCE.nodes.count, everything.nodes.count)
    }

    func testStatisticsReportEveryPassRun() throws {
        final class Box: @unchecked Sendable { var stats: [PassStatistic] = [] }
        let box = Box()
        let options = OptimizerOptions(level: 2, verify: true, statistics: { box.stats.append($0) })
        let f = try mlp()
        let o = try optimize(f, options: options)
        XCTAssertEqual(box.stats.first?.nodesBefore, f.nodes.count)
        XCTAssertEqual(box.stats.last?.nodesAfter, o.nodes.count)
        XCTAssertEqual(Set(box.stats.flatMap(\.passes)), Set(OptimizerOptions().pipeline))
        XCTAssertTrue(box.stats[0].description.contains("→"))
    }

    /// The parameters (the ABI) keep their order and types, even when unused or when an output
    /// is an input.
    func testParametersAndOutputsSurvive() throws {
        let text = """
        func f(b: f64[2], unused: f32, a: f64[2]) {
          return a * 1, b, a + b - 0
        }
        """
        let f = try XCTUnwrap(parseExpanded(text).functions.first)
        let o = try optimize(f, options: OptimizerOptions(level: 2, verify: true))
        XCTAssertEqual(o.parameters.map(\.name), ["b", "unused", "a"])
        XCTAssertEqual(o.parameters.map { o.type(of: $0.value) }, f.parameters.map { f.type(of: $0.value) })
        XCTAssertEqual(o.outputs.map(\.name), f.outputs.map(\.name))
        XCTAssertEqual(o.outputs[0].value, o.parameters[2].value)
        try assertEquivalent(f, o, .bitwise)
    }

    // MARK: Verifier

    func testVerifierAcceptsWellFormedGraphs() throws {
        XCTAssertNoThrow(try verifyFunction(try mlp()))
    }

    func testVerifierRejectsBrokenGraphs() throws {
        var b = GraphBuilder(name: "f")
        let x = try b.parameter("x", TensorType(.f64, [3]))
        let e = try b.unary(.exp, x)
        let s = try b.reduce(.sum, e, axes: nil)
        b.function.outputs = [Output(name: "s", value: s)]
        let good = b.function
        XCTAssertNoThrow(try verifyFunction(good))

        var wrongType = good
        wrongType.nodes[e].type = TensorType(.f64, [4])
        XCTAssertThrowsError(try verifyFunction(wrongType, stage: "test")) { error in
            XCTAssertTrue("\(error)".contains("type rule"), "\(error)")
        }

        var forward = good
        forward.nodes[e].inputs = [s]
        XCTAssertThrowsError(try verifyFunction(forward)) { error in
            XCTAssertTrue("\(error)".contains("does not precede"), "\(error)")
        }

        var orphan = good
        orphan.parameters = []
        XCTAssertThrowsError(try verifyFunction(orphan))

        var badOutput = good
        badOutput.outputs = [Output(name: "s", value: 99)]
        XCTAssertThrowsError(try verifyFunction(badOutput))

        var illTyped = good
        illTyped.nodes[e].attrs[.axes] = .ints([5])
        illTyped.nodes[s].attrs[.axes] = .ints([5])
        XCTAssertThrowsError(try verifyFunction(illTyped))
    }

    /// Loop bodies (issue 15, `Function.bodies`) are verified like the function, and a broken
    /// body is named by its index and its owner.
    func testVerifierChecksLoopBodies() throws {
        var b = GraphBuilder(name: "cell")
        let h = try b.parameter("h", TensorType(.f64, [3]))
        let t = try b.unary(.tanh, h)
        b.function.outputs = [Output(name: "h2", value: t)]
        let body = b.function
        var owner = Function(name: "rnn")
        owner.bodies = [body]
        XCTAssertNoThrow(try verifyFunction(owner))

        var broken = owner
        broken.bodies[0].nodes[t].type = TensorType(.f64, [4])
        XCTAssertThrowsError(try verifyFunction(broken)) { error in
            XCTAssertTrue("\(error)".contains("body 0 of rnn"), "\(error)")
            XCTAssertTrue("\(error)".contains("type rule"), "\(error)")
        }
        var nested = owner
        nested.bodies[0].bodies = [broken.bodies[0]]
        XCTAssertThrowsError(try verifyFunction(nested)) { error in
            XCTAssertTrue("\(error)".contains("body 0 of cell"), "\(error)")
        }
        XCTAssertNotEqual(owner, Function(name: "rnn"), "a function's bodies take part in its equality")
    }

    /// The pass manager runs the verifier: a broken input graph is reported, not optimized.
    func testOptimizerVerifiesItsInput() throws {
        var f = try mlp()
        f.nodes[f.nodes.count - 1].type = TensorType(.f64, [7, 7])
        XCTAssertThrowsError(try optimize(f, options: OptimizerOptions(level: 2, verify: true)))
    }
}
