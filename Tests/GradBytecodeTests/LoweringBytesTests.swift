import Foundation
import Grad
import TestSupport
import XCTest

/// The lowering's data structures changed for speed at scale (issue 21: per-step reads, writes
/// and dying lists as flat CSR arrays, free slots in parallel arrays, the schedule's parameter
/// marks); the plans did not. These are the SHA-256 of the `.gbc` files that `gradc compile`
/// wrote for these models before the change: the same bytes mean the same schedule, steps,
/// slots and arena layout. (A deliberate change of the lowering updates them.)
final class LoweringBytesTests: XCTestCase {
    func gbcDigest(_ source: String) throws -> String {
        let module = try Pipeline.lower(Pipeline.parse(source), to: .optimized)
        let f = try Pipeline.function(module, named: nil)
        return sha256(try BytecodeProgram(function: f).serialized()).map { String(format: "%02x", $0) }.joined()
    }

    func file(_ path: String) throws -> String {
        try String(contentsOf: repositoryRoot.appendingPathComponent(path), encoding: .utf8)
    }

    func testScalarRosenbrockAndUnrolledPendulumKeepTheirBytes() throws {
        let n = 1000
        var rosenbrock = "func rosenbrock(" + (0..<n).map { "x\($0): f64" }.joined(separator: ", ") + ") {\n"
        for i in 0..<(n - 1) {
            rosenbrock += "  t\(i) = 100 * (x\(i + 1) - x\(i) ^ 2) ^ 2 + (1 - x\(i)) ^ 2\n"
            rosenbrock += i == 0 ? "  s0 = t0\n" : "  s\(i) = s\(i - 1) + t\(i)\n"
        }
        rosenbrock += "  return s\(n - 2), grad(s\(n - 2), " + (0..<n).map { "x\($0)" }.joined(separator: ", ") + ")\n}\n"
        XCTAssertEqual(try gbcDigest(rosenbrock), "7fde51f0871c2a46c913191747eb3715d2304cddf1fb781ad9a9cfd658fbe11a")

        var pendulum = "func pendulum(th0: f64, w0: f64, k: f64) {\n  th_0 = th0\n  w_0 = w0\n"
        for i in 0..<n {
            pendulum += "  th_\(i + 1) = th_\(i) + 0.001 * w_\(i)\n"
            pendulum += "  w_\(i + 1) = w_\(i) - 0.001 * (9.81 * sin(th_\(i)) + k * w_\(i))\n"
        }
        pendulum += "  e = th_\(n) * th_\(n) + w_\(n) * w_\(n)\n  return e, grad(e, th0, w0, k)\n}\n"
        XCTAssertEqual(try gbcDigest(pendulum), "c7b32163144b72c5e9740d1e21a11a38698ba4864b95719f58ba9f94bc71e938")
    }

    func testExamplesAndFixturesKeepTheirBytes() throws {
        let expected = [
            "Examples/mlp.ir": "6a7308835a1acc90b80ef68c4bc1ddc47a96696dfa5d8ebbd0beca4dcbd20376",
            "Tests/Fixtures/loops.ir": "218be9dfcd7a6b702e8e1a77e52558bb7bd80dcdbf5cbf1734959f4b81283682",
            "Tests/Fixtures/sparse.ir": "3cb014b3f594bec8d95b4f4e96450981e1e50113bff5b4a21280fb3360e9960c",
        ]
        for (path, digest) in expected.sorted(by: { $0.key < $1.key }) {
            XCTAssertEqual(try gbcDigest(file(path)), digest, path)
        }
    }
}
