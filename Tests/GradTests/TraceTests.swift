import Grad
import TestSupport
import XCTest

final class TraceTests: XCTestCase {
    /// The trace of the lecture graph shows the lecture's numbers: σ(4), the incoming gradient
    /// at x equal to dz/dx (the sum of what its three users sent back).
    func testSeedTraceMatchesTheLectureTables() throws {
        let module = try parseModule(try repositoryFile("Examples/seed.ir"), file: "seed.ir")
        let f = try XCTUnwrap(module.functions.last)
        let trace = try BackpropTrace(f, inputs: ["x": Tensor(4.0), "y": Tensor(3.0)])
        let sigmoidRow = try XCTUnwrap(trace.forward.first { $0.node.contains("sigmoid(x)") })
        assertClose(sigmoidRow.output.scalar ?? .nan, 1 / (1 + Foundation.exp(-4.0)), rtol: 1e-15)
        assertClose(sigmoidRow.localDerivatives?.first?.value ?? .nan, 0.017662706213291107, rtol: 1e-12)
        XCTAssertEqual(trace.differentiated, "z")
        XCTAssertEqual(trace.backward.first?.incoming.scalar, 1)
        let x = try XCTUnwrap(trace.backward.first { $0.node.hasPrefix("x =") })
        assertClose(x.incoming.scalar ?? .nan, -0.00759400550878355, rtol: 1e-12)
        // Fan-out: x's incoming gradient is the sum of what its users sent to it.
        let sent = trace.backward.flatMap(\.outgoing).filter { $0.name == "x" }.map { $0.value.scalar ?? .nan }
        XCTAssertEqual(sent.count, 4)
        assertClose(sent.reduce(0, +), x.incoming.scalar ?? .nan, rtol: 1e-12)
        let text = trace.description
        XCTAssertTrue(text.contains("forward pass"))
        XCTAssertTrue(text.contains("backward pass"))
    }
}
