import GradIR
import GradRuntime
import TestSupport
import XCTest

// MARK: - Tensor construction

func f64(_ v: [Double], _ shape: [Int]? = nil) -> Tensor {
    Tensor(.f64(v), shape: shape ?? [v.count]) ?? Tensor(0)
}
func f32(_ v: [Float], _ shape: [Int]? = nil) -> Tensor {
    Tensor(.f32(v), shape: shape ?? [v.count]) ?? Tensor(0)
}
func i64(_ v: [Int64], _ shape: [Int]? = nil) -> Tensor {
    Tensor(.i64(v), shape: shape ?? [v.count]) ?? Tensor(0)
}
func bools(_ v: [Bool], _ shape: [Int]? = nil) -> Tensor {
    Tensor(.bool(v), shape: shape ?? [v.count]) ?? Tensor(0)
}
func scalar64(_ v: Double) -> Tensor { f64([v], []) }

/// Runs one op the way the evaluator does: infer the type, then evaluate.
func kernel(_ op: Op, _ inputs: [Tensor], _ attrs: [AttrKey: AttrValue] = [:]) throws -> Tensor {
    let a = Attributes(attrs)
    let type = try op.inferType(inputs.map(\.type), a)
    return try evaluateOp(op, a, inputs, resultType: type)
}

// MARK: - Bitwise comparison (`sameBits` from TestSupport: NaN == NaN, −0 ≠ +0)

func assertBits(_ actual: Tensor, _ expected: Tensor, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertTrue(sameBits(actual, expected), "got \(actual.type) \(actual), expected \(expected.type) \(expected) \(message)", file: file, line: line)
}

/// Asserts that `body` throws a Diagnostic whose kind satisfies `check`.
func assertDiagnostic(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line,
                      _ check: (DiagnosticKind) -> Bool) {
    do {
        try body()
        XCTFail("expected a diagnostic", file: file, line: line)
    } catch let d as Diagnostic {
        XCTAssertTrue(check(d.kind), "unexpected diagnostic: \(d.message)", file: file, line: line)
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
}
