import Foundation
import Grad
import TestSupport
import XCTest

/// Linear algebra (issue 17): the matrix helpers composed of other ops (`eye`, `diagonal`,
/// `diag`, `trace`, `tril`, `triu`) and the factorization ops, on exact hand-computed cases
/// on every backend. (Finite differences of orders 1 and 2: the every-op table.)
final class LinalgTests: XCTestCase {
    static let backends: [Backend] = [.reference, .bytecode, .c]

    /// Runs `source`'s first function on every backend and returns each backend's outputs.
    func run(_ source: String, _ inputs: [Tensor], file: StaticString = #filePath, line: UInt = #line) throws -> [[Tensor]] {
        let f = try XCTUnwrap(Pipeline.parse(source, file: "linalg.ir").functions.first)
        var all: [[Tensor]] = []
        for backend in LinalgTests.backends {
            all.append(try compile(f, backend: backend)(inputs))
        }
        return all
    }

    /// Every backend gives exactly `expected` (bit for bit as doubles, NaN matching NaN).
    func assertExact(_ outputs: [[Tensor]], _ expected: [[Double]], file: StaticString = #filePath, line: UInt = #line) {
        for (backend, outs) in zip(LinalgTests.backends, outputs) {
            XCTAssertEqual(outs.count, expected.count, "\(backend)", file: file, line: line)
            for (k, (o, e)) in zip(outs, expected).enumerated() {
                let same = o.doubles.count == e.count && zip(o.doubles, e).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
                XCTAssertTrue(same, "\(backend) output \(k): \(o.doubles) vs \(e)", file: file, line: line)
            }
        }
    }

    func m(_ values: [Double], _ shape: [Int]) throws -> Tensor { try XCTUnwrap(Tensor(values, shape: shape)) }

    func testMatrixHelpersExact() throws {
        let source = """
            func f(a: f64[2,3], v: f64[3]) {
              d = diagonal(a)
              t = trace(a)
              lo = tril(a)
              up = triu(a, k=1)
              lo2 = tril(a, k=-1)
              e = eye(2, dtype=f64)
              dv = diag(v)
              loss = t * t + sum(dv * dv)
              return d, t, lo, up, lo2, e, dv, grad(loss, a, v)
            }
            """
        let outs = try run(source, [m([1, 2, 3, 4, 5, 6], [2, 3]), m([7, 0, -8], [3])])
        assertExact(outs, [
            [1, 5], [6], [1, 0, 0, 4, 5, 0], [0, 2, 3, 0, 0, 6], [0, 0, 0, 4, 0, 0], [1, 0, 0, 1],
            [7, 0, 0, 0, 0, 0, 0, 0, -8],
            // d(t²)/da = 2t on the diagonal, exactly 0 elsewhere; d(Σ diag(v)²)/dv = 2v.
            [12, 0, 0, 0, 12, 0], [14, 0, -16],
        ])
    }

    func testMatrixHelpersBatchedAndEmpty() throws {
        let source = """
            func f(a: f64[2,2,2], z: f64[0,3,3]) {
              return diagonal(a), trace(a), triu(a), diagonal(z), trace(z), diag(diagonal(a))
            }
            """
        let outs = try run(source, [m([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2]), m([], [0, 3, 3])])
        assertExact(outs, [[1, 4, 5, 8], [5, 13], [1, 2, 0, 4, 5, 6, 0, 8], [], [], [1, 0, 0, 4, 5, 0, 0, 8]])
    }

    func testMatrixHelperErrorsAreLocated() throws {
        for (source, message) in [
            ("func f(v: f64[3]) {\n  return trace(v)\n}\n", "a float matrix"),
            ("func f(x: f64[3]) {\n  return eye(-1) + x\n}\n", "eye(n, dtype=…)"),
            ("func f(x: f64[2,2]) {\n  return tril(x, k=1.5)\n}\n", "an integer"),
            ("func f(x: f64[2,2]) {\n  return triu(x, j=1)\n}\n", "no attribute 'j'"),
            ("func f(x: f64) {\n  return eye(2, dtype=i64) + x\n}\n", "f32 or f64"),
        ] {
            XCTAssertThrowsError(try Pipeline.parse(source, file: "m.ir"), source) { error in
                let shown = "\(error)"
                XCTAssertTrue(shown.contains("m.ir:2:"), shown)
                XCTAssertTrue(shown.contains(message), shown)
            }
        }
    }
}
