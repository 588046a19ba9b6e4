import Foundation
import Grad
import XCTest

/// The repository root, found from this file's path.
public let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Reads a file of the repository as text.
public func repositoryFile(_ relative: String) throws -> String {
    try String(contentsOf: repositoryRoot.appendingPathComponent(relative), encoding: .utf8)
}

/// Expands derivative requests and evaluates with the reference evaluator.
public func evaluate(_ f: Function, _ inputs: [String: Tensor]) throws -> [Tensor] {
    try ReferenceEvaluator.run(Differentiator.expand(f), inputs: inputs)
}

/// Relative closeness with an absolute floor.
public func assertClose(_ a: Double, _ b: Double, rtol: Double = 1e-12, atol: Double = 0,
                        _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    if a.isNaN && b.isNaN { return }
    if a == b { return }
    let ok = Swift.abs(a - b) <= atol + rtol * Swift.max(Swift.abs(a), Swift.abs(b))
    XCTAssertTrue(ok, "\(a) vs \(b) (rtol \(rtol), atol \(atol)) \(message())", file: file, line: line)
}

public func assertAllClose(_ a: [Double], _ b: [Double], rtol: Double = 1e-12, atol: Double = 0,
                           _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "length \(message())", file: file, line: line)
    for (x, y) in zip(a, b) {
        assertClose(x, y, rtol: rtol, atol: atol, message(), file: file, line: line)
    }
}

/// Same dtype, shape and bits (any NaN matches any NaN; −0 ≠ +0): how backends, folding and
/// exact optimizer passes are compared with the reference evaluator.
public func sameBits(_ a: Tensor, _ b: Tensor) -> Bool {
    guard a.type == b.type else { return false }
    switch (a.storage, b.storage) {
    case (.f32(let x), .f32(let y)): return zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
    case (.f64(let x), .f64(let y)): return zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
    case (.i64(let x), .i64(let y)): return x == y
    case (.bool(let x), .bool(let y)): return x == y
    default: return false
    }
}
