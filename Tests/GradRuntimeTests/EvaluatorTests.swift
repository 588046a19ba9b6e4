import Foundation
import GradIR
import GradRuntime
import XCTest

final class EvaluatorTests: XCTestCase {
    /// z = sum(x * y + sigmoid(x)), plus an unused node.
    func makeFunction() throws -> Function {
        var b = GraphBuilder(name: "f")
        let x = try b.parameter("x", TensorType(.f64, [2]))
        let y = try b.parameter("y", TensorType(.f64, [2]))
        let xy = try b.binary(.mul, x, y)
        let s = try b.unary(.sigmoid, x)
        let t = try b.binary(.add, xy, s)
        let z = try b.reduce(.sum, t, axes: nil)
        _ = try b.unary(.exp, y)  // not an output
        b.function.outputs = [Output(name: "z", value: z), Output(name: "t", value: t)]
        return b.function
    }

    func testRunComputesOutputsInOrder() throws {
        let f = try makeFunction()
        let out = try ReferenceEvaluator.run(f, inputs: ["x": f64([0, 1]), "y": f64([2, 3])])
        XCTAssertEqual(out.count, 2)
        let sig1 = 1 / (1 + Foundation.exp(-1.0))
        let t = [0 * 2 + 0.5, 1 * 3 + sig1]
        assertBits(out[1], f64(t))
        assertBits(out[0], f64([(0 + t[0]) + t[1]], []))
    }

    func testRunAllComputesEveryNode() throws {
        let f = try makeFunction()
        let all = try ReferenceEvaluator.runAll(f, inputs: ["x": f64([0, 1]), "y": f64([2, 3])])
        XCTAssertEqual(all.count, f.nodes.count)
        XCTAssertTrue(all.allSatisfy { $0 != nil })
        if let last = all.last, let e = last {
            assertBits(e, f64([Foundation.exp(2.0), Foundation.exp(3.0)]))
        }
    }

    func testMissingInput() throws {
        let f = try makeFunction()
        assertDiagnostic({ _ = try ReferenceEvaluator.run(f, inputs: ["x": f64([0, 1])]) }) {
            $0 == .missingInput("y")
        }
    }

    func testWrongInputType() throws {
        let f = try makeFunction()
        assertDiagnostic({ _ = try ReferenceEvaluator.run(f, inputs: ["x": f32([0, 1]), "y": f64([2, 3])]) }) {
            $0 == .inputTypeMismatch(name: "x", expected: TensorType(.f64, [2]), got: TensorType(.f32, [2]))
        }
        assertDiagnostic({ _ = try ReferenceEvaluator.run(f, inputs: ["x": f64([0, 1, 2]), "y": f64([2, 3])]) }) {
            if case .inputTypeMismatch(name: "x", _, _) = $0 { return true }
            return false
        }
    }

    func testDerivativeRequestIsAnError() throws {
        var b = GraphBuilder(name: "g")
        let x = try b.parameter("x", TensorType(.f64))
        let y = try b.unary(.sin, x)
        let g = try b.add(.grad, [y, x])
        b.function.outputs = [Output(name: "g", value: g)]
        assertDiagnostic({ _ = try ReferenceEvaluator.run(b.function, inputs: ["x": scalar64(1)]) }) {
            $0 == .unexpandedDerivative(op: "grad")
        }
        XCTAssertTrue(DiagnosticKind.unexpandedDerivative(op: "grad").message.contains("must be expanded by the differentiation pass"))
    }

    func testMalformedGraphsDoNotCrash() throws {
        var f = Function(name: "bad")
        let x = f.addParameter("x", TensorType(.f64))
        f.append(Node(op: .neg, inputs: [7], type: TensorType(.f64)))  // dangling operand
        f.outputs = [Output(name: "o", value: 1)]
        assertDiagnostic({ _ = try ReferenceEvaluator.run(f, inputs: ["x": scalar64(1)]) }) { _ in true }
        f.outputs = [Output(name: "o", value: 99)]
        assertDiagnostic({ _ = try ReferenceEvaluator.run(f, inputs: ["x": scalar64(1)]) }) { _ in true }
        // A node whose declared type disagrees with its type rule.
        var g = Function(name: "bad2")
        let y = g.addParameter("y", TensorType(.f64, [2]))
        let s = g.append(Node(op: .sum, inputs: [y], type: TensorType(.f64, [2])))
        g.outputs = [Output(name: "s", value: s)]
        assertDiagnostic({ _ = try ReferenceEvaluator.run(g, inputs: ["y": f64([1, 2])]) }) {
            if case .annotationMismatch = $0 { return true }
            return false
        }
        _ = x
    }

    func testSeededRandomInputs() {
        let t = TensorType(.f64, [1000])
        let a = Tensor.random(t, seed: 42)
        XCTAssertEqual(a, Tensor.random(t, seed: 42))
        XCTAssertNotEqual(a, Tensor.random(t, seed: 43))
        XCTAssertTrue(a.doubles.allSatisfy { $0 >= -1 && $0 < 1 })
        let f = Tensor.random(TensorType(.f32, [1000]), seed: 7)
        XCTAssertEqual(f.dtype, .f32)
        XCTAssertTrue(f.doubles.allSatisfy { $0 >= -1 && $0 < 1 })
        let i = Tensor.random(TensorType(.i64, [1000]), seed: 7)
        XCTAssertTrue(i.doubles.allSatisfy { $0 >= 0 && $0 < 10 })
        XCTAssertEqual(Set(i.doubles).count, 10)
        let b = Tensor.random(TensorType(.bool, [100]), seed: 7)
        XCTAssertTrue(b.doubles.contains(0) && b.doubles.contains(1))
        // Pin the generator: the first SplitMix64 output for seed 0.
        var g = SplitMix64(seed: 0)
        XCTAssertEqual(g.next(), 0xE220_A839_7B1D_CDAF)
    }
}
