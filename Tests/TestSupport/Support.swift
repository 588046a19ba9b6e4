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

/// Whether `a` agrees with `b` within `tolerance` times the largest magnitude in `b`
/// (NaN where `b` is NaN, the same infinities): how values computed from a matmul with fused
/// multiply-add are compared with the reference on the test models (1e-12 for f64, 1e-5 for
/// f32) — a test tolerance; the products themselves keep `MatmulContract`'s bound.
public func closeToMax(_ a: Tensor, _ b: Tensor, tolerance: Double) -> Bool {
    guard a.type == b.type else { return false }
    let x = a.doubles
    let y = b.doubles
    let scale = y.filter(\.isFinite).map(abs).max() ?? 0
    return zip(x, y).allSatisfy { p, q in
        if q.isNaN || p.isNaN { return p.isNaN && q.isNaN }
        if q.isInfinite || p.isInfinite { return p == q }
        return abs(p - q) <= tolerance * scale
    }
}

/// The tolerance of `closeToMax` for outputs of a fused matmul.
public func fusedMatmulTolerance(_ d: DType) -> Double {
    d == .f64 ? 1e-12 : 1e-5
}

/// Whether `f` multiplies floating-point matrices (a kernel may use fused multiply-add).
public func hasFloatMatmul(_ f: Function) -> Bool {
    f.nodes.contains { $0.op == .matmul && $0.type.dtype.isFloat }
}

/// Indices of the outputs of `f` computed from a floating-point matmul (directly or through
/// other ops): the ones a fused multiply-add can change. Nodes are in topological order.
public func floatMatmulOutputs(_ f: Function) -> Set<Int> {
    var tainted = [Bool](repeating: false, count: f.nodes.count)
    for (i, node) in f.nodes.enumerated() {
        // The convolutions run the matmul kernel (im2col), so they fuse like it.
        let product = node.op == .matmul || node.op == .conv2d || node.op == .conv2d_input_grad || node.op == .conv2d_kernel_grad
        tainted[i] = (product && node.type.dtype.isFloat) || node.inputs.contains { tainted[$0] }
            || (node.op == .scan && node.attrs.int(.body).map { f.bodies.indices.contains($0) && !floatMatmulOutputs(f.bodies[$0]).isEmpty } == true)
    }
    return Set(f.outputs.indices.filter { tainted[f.outputs[$0].value] })
}

/// Runs an executable with arguments (in `directory`, if given); returns its exit status and
/// its stdout and stderr together.
public func runProcess(_ path: String, _ args: [String], in directory: URL? = nil) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    if let directory { p.currentDirectoryURL = directory }
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}
