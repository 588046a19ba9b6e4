import Grad
@testable import GradIR
import TestSupport
import XCTest

/// The last function of an `.ir` text.
func parsedFunction(_ source: String, file: StaticString = #filePath, line: UInt = #line) throws -> Function {
    let module = try parseModule(source)
    return try XCTUnwrap(module.functions.last, file: file, line: line)
}

/// The value of output `k`.
func output(_ f: Function, _ k: Int) -> ValueID { f.outputs[k].value }

/// The value of the parameter named `name`.
func parameter(_ f: Function, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> ValueID {
    try XCTUnwrap(f.parameters.first { $0.name == name }?.value, "no parameter \(name)", file: file, line: line)
}

/// The columns of each row.
func rowsOf(_ p: SparsityPattern) -> [[Int]] {
    (0..<p.rows).map { p.columns(ofRow: $0).map(Int.init) }
}

/// A pattern from a predicate.
func patternWhere(rows: Int, columns: Int, _ isNonZero: (Int, Int) -> Bool) -> [[Int]] {
    (0..<rows).map { i in (0..<columns).filter { isNonZero(i, $0) } }
}

/// Random values for every parameter of `f`.
func randomInputs(_ f: Function, seed: UInt64) -> [String: Tensor] {
    var rng = SplitMix64(seed: seed)
    var inputs: [String: Tensor] = [:]
    for p in f.parameters {
        inputs[p.name] = Tensor.random(f.type(of: p.value), range: -1...1, using: &rng)
    }
    return inputs
}

/// The dense Jacobian ∂y/∂x (rows × columns, row-major) by the library: a `jacobian` request
/// appended to `f`, expanded and run by the reference evaluator.
func denseJacobian(_ f: Function, _ y: ValueID, _ x: ValueID, _ inputs: [String: Tensor]) throws -> [Double] {
    var g = f
    let (yt, xt) = (f.type(of: y), f.type(of: x))
    let j = g.append(Node(op: .jacobian, inputs: [y, x], type: TensorType(yt.dtype, yt.shape + xt.shape)))
    g.outputs = [Output(name: "j", value: j)]
    return try evaluate(g, inputs)[0].doubles
}

/// The dense Hessian of the scalar f with respect to x (n × n, row-major).
func denseHessian(_ fn: Function, _ f: ValueID, _ x: ValueID, _ inputs: [String: Tensor]) throws -> [Double] {
    var g = fn
    let xt = fn.type(of: x)
    let h = g.append(Node(op: .hessian, inputs: [f, x], type: TensorType(fn.type(of: f).dtype, xt.shape + xt.shape)))
    g.outputs = [Output(name: "h", value: h)]
    return try evaluate(g, inputs)[0].doubles
}

/// Fails for every non-zero (or NaN) of the dense matrix outside the pattern.
func assertInside(_ dense: [Double], _ p: SparsityPattern, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(dense.count, p.rows * p.columns, "size \(what)", file: file, line: line)
    var missing: [(Int, Int)] = []
    for i in 0..<p.rows {
        for j in 0..<p.columns where dense[i * p.columns + j] != 0 && !p.contains(row: i, column: j) {
            missing.append((i, j))
        }
    }
    XCTAssertTrue(missing.isEmpty, "\(what): non-zeros outside the pattern at \(missing.prefix(8))", file: file, line: line)
}

/// The pattern of the dense matrix's non-zeros at a few random points (what an exact pattern
/// must contain, and what `assertInside` checks the other way).
func observedPattern(_ dense: [[Double]], rows: Int, columns: Int) -> [[Int]] {
    (0..<rows).map { i in (0..<columns).filter { j in dense.contains { $0[i * columns + j] != 0 } } }
}
