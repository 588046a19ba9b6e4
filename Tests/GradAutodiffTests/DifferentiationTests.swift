import Grad
import TestSupport
import XCTest

/// Fan-out, disconnected inputs, conventions at non-differentiable points, errors.
final class DifferentiationTests: XCTestCase {
    func gradients(_ source: String, _ inputs: [String: Tensor]) throws -> [[Double]] {
        let module = try parseModule(source, file: "test.ir")
        let f = try XCTUnwrap(module.functions.last)
        return try evaluate(f, inputs).map(\.doubles)
    }

    /// Loop bodies (issue 15, `Function.bodies`) survive differentiation unchanged (the pass
    /// builds a new function; it used to drop them); the optimizer drops a body no loop runs
    /// (LoopTests checks that the bodies loops run are kept).
    func testLoopBodiesSurviveDifferentiationAndOptimization() throws {
        var module = try parseModule("func cell(h: f64) {\n  return tanh(h)\n}\nfunc f(x: f64) {\n  y = exp(x) * x\n  return y, grad(y, x)\n}\n", file: "test.ir")
        let body = module.functions[0]
        module.functions[1].bodies = [body]
        let differentiated = try Differentiator.expand(module)
        XCTAssertFalse(differentiated.functions[1].hasDerivativeRequests)
        XCTAssertEqual(differentiated.functions[1].bodies, [body])
        let optimized = try Pipeline.lower(module, to: .optimized)
        XCTAssertEqual(optimized.functions[1].bodies, [])
    }

    func testFanOutAccumulates() throws {
        let x = try XCTUnwrap(Tensor([1.5, -2, 3] as [Double], shape: [3]))
        // x*x: 2x; dot(x, x): 2x; sin(x) + x^3: cos x + 3x².
        let out = try gradients("""
        func f(x: f64[3]) {
          a = sum(x * x)
          b = dot(x, x)
          c = sum(sin(x) + x^3)
          return grad(a, x), grad(b, x), grad(c, x)
        }
        """, ["x": x])
        assertAllClose(out[0], [3, -4, 6])
        assertAllClose(out[1], [3, -4, 6])
        assertAllClose(out[2], [1.5, -2, 3].map { Foundation.cos($0) + 3 * $0 * $0 }, rtol: 1e-14)
    }

    /// More operands than a node keeps inline (concat of five, one of them used twice, one
    /// not differentiated): each gets its slice of the weights, summed where it repeats.
    func testConcatOfManyOperandsSplitsTheGradient() throws {
        let out = try gradients("""
        func f(a: f64[2], b: f64[1], c: f64[3], d: f64[2]) {
          w = const(dtype=f64, shape=[10], values=[1,2,3,4,5,6,7,8,9,10])
          y = sum(w * concat(a, b, c, a, d, axis=0))
          return grad(y, a, b, c)
        }
        """, ["a": Tensor([1, 2] as [Double], shape: [2])!, "b": Tensor([3] as [Double], shape: [1])!,
              "c": Tensor([4, 5, 6] as [Double], shape: [3])!, "d": Tensor([7, 8] as [Double], shape: [2])!])
        XCTAssertEqual(out[0], [1 + 7, 2 + 8])
        XCTAssertEqual(out[1], [3])
        XCTAssertEqual(out[2], [4, 5, 6])
    }

    func testEqualValuedInputsKeepSeparateGradients() throws {
        let out = try gradients("""
        func f(a: f64, b: f64) {
          y = a * a * b
          return grad(y, a, b)
        }
        """, ["a": Tensor(2.0), "b": Tensor(2.0)])
        XCTAssertEqual(out[0], [8])  // 2ab
        XCTAssertEqual(out[1], [4])  // a²
    }

    func testDisconnectedInputGetsZeros() throws {
        let out = try gradients("""
        func f(a: f64[2], b: f64[2,3]) {
          y = sum(exp(a))
          return grad(y, b)
        }
        """, ["a": try XCTUnwrap(Tensor([0, 1] as [Double], shape: [2])), "b": Tensor(TensorType(.f64, [2, 3]), doubles: [1])])
        XCTAssertEqual(out[0], [0, 0, 0, 0, 0, 0])
    }

    func testGradWithRespectToIntegerIsAnError() {
        XCTAssertThrowsError(try parseModule("""
        func f(n: i64, x: f64) {
          y = x * cast(n, dtype=f64)
          return grad(y, n)
        }
        """, file: "t.ir")) { error in
            let d = error as? Diagnostic
            XCTAssertEqual(d?.kind, .integerWRT(op: "grad", TensorType(.i64)))
            XCTAssertEqual(d?.location.line, 3)
        }
    }

    func testConventionsAtNonDifferentiablePoints() throws {
        let out = try gradients("""
        func f(x: f64) {
          return grad(relu(x), x), grad(abs(x), x), grad(maximum(x, x), x), grad(maximum(x, 0), x), grad(x^0, x), grad(x^2, x), grad(grad(x^2, x), x), grad(sqrt(x), x)
        }
        """, ["x": Tensor(0.0)])
        XCTAssertEqual(out.map { $0[0] }, [0, 0, 1, 0.5, 0, 0, 2, .infinity])
    }

    func testMaxTiesShareTheGradientEvenly() throws {
        let out = try gradients("""
        func f(x: f64[4]) {
          return grad(max(x), x)
        }
        """, ["x": try XCTUnwrap(Tensor([3, 1, 3, 3] as [Double], shape: [4]))])
        assertAllClose(out[0], [1.0 / 3, 0, 1.0 / 3, 1.0 / 3])
        XCTAssertEqual(out[0].reduce(0, +), 1, accuracy: 1e-15)
    }

    func testSoftmaxGradientIsFiniteForLargeLogits() throws {
        let out = try gradients("""
        func f(x: f64[2]) {
          p = softmax(x)
          return p, grad(sum(p * p), x), grad(logsumexp(x), x)
        }
        """, ["x": try XCTUnwrap(Tensor([1000, 0] as [Double], shape: [2]))])
        XCTAssertEqual(out[0], [1, 0])
        XCTAssertTrue(out[1].allSatisfy { $0.isFinite })
        XCTAssertEqual(out[2], [1, 0])
    }

    func testTanhSecondDerivativeFarOut() throws {
        // d²/du² tanh(u)·u² = −2 exactly at u = −1e8.
        let out = try gradients("""
        func f(u: f64) {
          return hessian(tanh(u) * u^2, u)
        }
        """, ["u": Tensor(-1e8)])
        XCTAssertEqual(out[0], [-2])
    }

    func testJacobianAndHessianShapesAndValues() throws {
        let module = try parseModule("""
        func f(x: f64[3]) {
          y = x * x
          return jacobian(y, x), hessian(sum(x^3), x)
        }
        """, file: "t.ir")
        let f = try XCTUnwrap(module.functions.last)
        let out = try evaluate(f, ["x": try XCTUnwrap(Tensor([1, 2, 3] as [Double], shape: [3]))])
        XCTAssertEqual(out[0].shape, [3, 3])
        XCTAssertEqual(out[0].doubles, [2, 0, 0, 0, 4, 0, 0, 0, 6])
        XCTAssertEqual(out[1].shape, [3, 3])
        XCTAssertEqual(out[1].doubles, [6, 0, 0, 0, 12, 0, 0, 0, 18])
    }

    func testGradientNodesAreAppendedAndMarked() throws {
        let module = try parseModule(try repositoryFile("Examples/seed.ir"), file: "seed.ir")
        let f = try XCTUnwrap(module.functions.last)
        let d = try Differentiator.expand(f)
        XCTAssertFalse(d.hasDerivativeRequests)
        XCTAssertTrue(d.nodes.contains { $0.role == .gradient })
        // The forward nodes come first, unchanged.
        let forward = f.nodes.prefix { $0.op.info.family != .derivative }
        XCTAssertEqual(Array(d.nodes.prefix(forward.count)), Array(forward))
        // The differentiated graph prints and parses back to the same graph.
        let text = printFunction(d)
        let reparsed = try XCTUnwrap(parseModule(text, file: "printed.ir").functions.last)
        XCTAssertEqual(reparsed.nodes, d.nodes)
        XCTAssertEqual(printFunction(reparsed), text)
    }
}
