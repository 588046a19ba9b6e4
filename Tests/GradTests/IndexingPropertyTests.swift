import Foundation
import Grad
import TestSupport
import XCTest

/// Random indexing programs (issue 16): random shapes (empty axes included), axes and index
/// values in −n−2 ..< n+2, so about half the programs have an index out of range. On every
/// backend a program either fails exactly when the reference evaluator does — the VM with the
/// same diagnostic, C with status 2 — or gives the reference's bits.
final class IndexingPropertyTests: XCTestCase {
    static let programs = 200

    struct Program {
        var function: Function
        var inputs: [String: Tensor]
    }

    func randomProgram(_ seed: UInt64) throws -> Program {
        var rng = SplitMix64(seed: seed)
        func int(_ range: Range<Int>) -> Int { range.lowerBound + Int(rng.next() % UInt64(range.count)) }
        let rank = int(1..<4)
        let shape = (0..<rank).map { _ in int(0..<4) }
        let axis = int(0..<rank)
        let n = shape[axis]
        let along = rng.next() % 2 == 0
        var indexShape = along ? shape : (0..<int(0..<3)).map { _ in int(0..<4) }
        if along { indexShape[axis] = int(0..<4) }
        let count = indexShape.reduce(1, *)
        let values = (0..<count).map { _ in Int64(int(0..<(2 * n + 4))) - Int64(n + 2) }
        let fb = FunctionBuilder("p\(seed)")
        let x = try fb.input("x", .f64, shape)
        let i = try fb.input("i", .i64, indexShape)
        let t = along ? try takeAlongAxis(x, i, axis: axis) : try take(x, i, axis: axis)
        let s = along ? try scatterAddAlongAxis(x, i, t * t, axis: axis) : try scatterAdd(x, i, t * t, axis: axis)
        let loss = try sum(s * s)
        try fb.output(t, "t")
        try fb.output(s, "s")
        try fb.output(fb.grad(of: loss, wrt: [x]))
        var inputs = ["x": Tensor.random(TensorType(.f64, shape), seed: seed + 1000)]
        inputs["i"] = try XCTUnwrap(Tensor(.i64(values), shape: indexShape))
        return Program(function: try optimize(Differentiator.expand(fb.function)), inputs: inputs)
    }

    func testBackendsFailExactlyWhenTheReferenceDoes() throws {
        var programs: [Program] = []
        for seed in 0..<UInt64(IndexingPropertyTests.programs) { programs.append(try randomProgram(seed)) }
        var failures = 0
        var references: [Result<[Tensor], Diagnostic>] = []
        for p in programs {
            let ordered = p.function.parameters.compactMap { p.inputs[$0.name] }
            let reference = Result { () throws(Diagnostic) in try ReferenceEvaluator.run(p.function, inputs: p.inputs) }
            references.append(reference)
            let vm = try VirtualMachine(BytecodeProgram(function: p.function), locations: p.function.nodes.map(\.location))
            XCTAssertEqual(vm.fallbackKernelCount, 0)
            switch (reference, Result { () throws(Diagnostic) in try vm.run(ordered) }) {
            case (.success(let e), .success(let g)):
                for (a, b) in zip(g, e) { XCTAssertTrue(sameBits(a, b), "\(p.function.name): VM \(a) vs \(b)") }
            case (.failure(let e), .failure(let g)):
                failures += 1
                XCTAssertEqual(g.kind, e.kind, p.function.name)
                guard case .indexOutOfRange = e.kind else { return XCTFail("\(p.function.name): \(e)") }
            default:
                XCTFail("\(p.function.name): the VM and the reference disagree on failing")
            }
        }
        XCTAssertGreaterThan(failures, IndexingPropertyTests.programs / 5, "enough programs have a bad index")
        XCTAssertLessThan(failures, IndexingPropertyTests.programs * 4 / 5, "enough programs run")
        guard (try? CCompiler.find()) != nil else { return }
        let env = ["GRADC_CACHE_DIR": try temporaryDirectory("index-property").path].merging(ProcessInfo.processInfo.environment) { a, _ in a }
        let module = try CModule(programs.map(\.function), environment: env)
        for (k, p) in programs.enumerated() {
            let got = Result { () throws(Diagnostic) in try module.kernels[k].run(p.function.parameters.compactMap { p.inputs[$0.name] }) }
            switch (references[k], got) {
            case (.success(let e), .success(let g)):
                for (a, b) in zip(g, e) { XCTAssertTrue(sameBits(a, b), "\(p.function.name): C \(a) vs \(b)") }
            case (.failure, .failure(let g)):
                XCTAssertTrue(g.message.contains("status 2"), "\(p.function.name): \(g)")
            default:
                XCTFail("\(p.function.name): C and the reference disagree on failing")
            }
        }
    }
}
