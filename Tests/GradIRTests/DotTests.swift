import Foundation
import GradIR
import XCTest

final class DotTests: XCTestCase {
    func testGradientNodesAreStyled() throws {
        var b = GraphBuilder(name: "f\"quoted\\name")
        let x = try b.parameter("x", TensorType(.f64, [3]))
        let y = try b.add(.exp, [x])
        let s = try b.add(.sum, [y])
        b.role = .gradient
        let one = try b.constant(1, TensorType(.f64))
        let g = try b.add(.mul, [one, y])
        var f = b.function
        f.outputs = [Output(name: "loss \"σ\"", value: s), Output(name: "dx", value: g)]
        let dot = printDot(f)
        XCTAssertTrue(dot.hasPrefix("digraph \"f\\\"quoted\\\\name\" {\n"), dot)
        XCTAssertTrue(dot.contains("subgraph cluster_forward"))
        XCTAssertTrue(dot.contains("subgraph cluster_gradient"))
        XCTAssertTrue(dot.contains("n4 [label=\"%4 mul\\nf64[3]\", shape=ellipse, style=filled, fillcolor=orange"), dot)
        XCTAssertTrue(dot.contains("n1 [label=\"%1 exp\\nf64[3]\", shape=ellipse, style=filled, fillcolor=lightblue"), dot)
        XCTAssertTrue(dot.contains("n0 [label=\"x\\nf64[3]\", shape=box"), dot)
        XCTAssertTrue(dot.contains("n1 -> n4 [style=dashed"), dot)
        XCTAssertTrue(dot.contains("n0 -> n1;"), dot)
        XCTAssertTrue(dot.contains("out0 [label=\"loss \\\"σ\\\"\", shape=doubleoctagon"), dot)
        XCTAssertTrue(dot.contains("n4 -> out1;"), dot)
        XCTAssertTrue(dot.hasSuffix("}\n"))
    }

    /// Loop bodies (issue 15) are clusters of their own with prefixed node names, nested
    /// bodies inside their owner's cluster.
    func testLoopBodiesAreClusters() throws {
        let m = try parseModule("func cell(h: f64) {\n  return tanh(h)\n}\n")
        var inner = m.functions[0]
        inner.bodies = [m.functions[0]]
        var owner = Function(name: "rnn")
        owner.bodies = [inner]
        let dot = printDot(owner)
        XCTAssertTrue(dot.contains("  subgraph cluster_b0_body {\n    label=\"body 0: cell\";"), dot)
        XCTAssertTrue(dot.contains("    b0_n0 -> b0_n1;\n"), dot)
        XCTAssertTrue(dot.contains("    subgraph cluster_b0_b0_body {"), dot)
        XCTAssertTrue(dot.contains("      b0_b0_n0 -> b0_b0_n1;\n"), dot)
        XCTAssertTrue(dot.hasSuffix("  }\n}\n"), dot)
    }

    func testForwardOnlyGraphHasNoGradientCluster() throws {
        let m = try parseModule("func f(x: f64) {\n  return exp(x)\n}\n")
        let dot = printDot(m.functions[0])
        XCTAssertFalse(dot.contains("cluster_gradient"))
        XCTAssertFalse(dot.contains("orange"))
        XCTAssertTrue(dot.contains("n0 -> n1;"))
    }
}
