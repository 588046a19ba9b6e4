import Foundation
import GradIR
import XCTest

final class RoundTripTests: XCTestCase {
    func testCorpusIsPresent() throws {
        let files = try Corpus.files()
        XCTAssertGreaterThanOrEqual(files.filter { $0.path.contains("/Fixtures/") }.count, 8)
        XCTAssertTrue(files.contains { $0.lastPathComponent == "seed.ir" })
        XCTAssertTrue(files.contains { $0.lastPathComponent == "mlp.ir" })
    }

    func testEveryFixtureAndExampleRoundTrips() throws {
        for url in try Corpus.files() {
            let m = try parseModule(try Corpus.text(url), file: url.lastPathComponent)
            assertRoundTrips(m, url.lastPathComponent)
        }
    }

    func testFixturesUseEveryOp() throws {
        var used: Set<Op> = []
        for url in try Corpus.files() {
            let m = try parseModule(try Corpus.text(url), file: url.lastPathComponent)
            for f in m.functions { for n in f.nodes { used.insert(n.op) } }
        }
        let missing = Op.allCases.filter { !used.contains($0) }
        XCTAssertEqual(missing, [], "ops no fixture uses")
    }

    /// Loop bodies (issue 15) are printed, indented, before the nodes that would use them,
    /// so the text never drops one (LoopTests checks that the parser reads them back).
    func testLoopBodiesArePrinted() throws {
        let m = try parseModule("func cell(h: f64[2]) {\n  return tanh(h)\n}\n", file: "cell.ir")
        var owner = Function(name: "rnn")
        owner.bodies = m.functions
        let text = printFunction(owner)
        XCTAssertEqual(text, "func rnn() -> () {\n  body 0 = func cell(h: f64[2]) -> (f64[2]) {\n    %1: f64[2] = tanh(h)\n    return %1 as out0\n  }\n  return \n}\n")
    }

    func testCanonicalFormIsAFixedPoint() throws {
        let url = Corpus.fixturesDir.appendingPathComponent("canonical.ir")
        let text = try Corpus.text(url)
        let m = try parseModule(text, file: "canonical.ir")
        let body = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.joined(separator: "\n") + "\n"
        XCTAssertEqual(printModule(m), body)
        // One node per line, in order.
        XCTAssertEqual(m.functions[0].nodes.count, 7)
    }

    func testSeedExample() throws {
        let m = try parseModule(try Corpus.text(Corpus.examplesDir.appendingPathComponent("seed.ir")), file: "seed.ir")
        let f = try XCTUnwrap(m.function(named: "seed"))
        XCTAssertEqual(f.outputs.map(\.name), ["z", "dzdx", "dzdy", "d2zdx2", "d2zdxdy"])
        XCTAssertEqual(f.parameters.map(\.name), ["x", "y"])
        let dzdx = f.outputs[1].value
        XCTAssertEqual(f.nodes[dzdx].op, .grad)
        XCTAssertEqual(f.nodes[dzdx].inputs, [f.outputs[0].value, 0])
        XCTAssertEqual(f.nodes[f.outputs[3].value].inputs, [dzdx, 0])
        XCTAssertEqual(f.nodes[f.outputs[4].value].inputs, [dzdx, 1])
        XCTAssertTrue(f.hasDerivativeRequests)
    }

    func testMLPExample() throws {
        let m = try parseModule(try Corpus.text(Corpus.examplesDir.appendingPathComponent("mlp.ir")), file: "mlp.ir")
        let f = try XCTUnwrap(m.function(named: "mlp"))
        XCTAssertEqual(f.outputs.map(\.name), ["loss", "dloss_dw1", "dloss_db1", "dloss_dw2", "dloss_db2"])
        XCTAssertEqual(f.outputs.map { f.type(of: $0.value).description }, ["f64", "f64[64,32]", "f64[32]", "f64[32,10]", "f64[10]"])
    }

    func testPrintedForm() throws {
        let m = try parseModule("func seed(x: f64, y: f64) {\n  z = x + sigmoid(y) * 2\n  return z, x, x as copy\n}\n")
        XCTAssertEqual(printModule(m), """
        func seed(x: f64, y: f64) -> (f64, f64, f64) {
          %2: f64 = sigmoid(y)
          %3: f64 = const(dtype=f64, value=2)
          %4: f64 = mul(%2, %3)
          %5: f64 = add(x, %4)
          return %5 as z, x, x as copy
        }

        """)
    }

    func testSpecialNumbersRoundTrip() throws {
        let values: [Double] = [0, -0.0, 1e-300, .leastNonzeroMagnitude, .infinity, -.infinity, .nan, 0.1, 1.7976931348623157e308, 123456789, 1e15, -2.5e-7]
        var f = Function(name: "k")
        var b = GraphBuilder(f)
        var ids: [ValueID] = []
        for v in values { ids.append(try b.constant(v, TensorType(.f64))) }
        ids.append(try b.add(.const, [], Attributes([.dtype: .dtype(.f32), .shape: .ints([values.count]), .values: .floats(values)])))
        f = b.function
        f.outputs = ids.enumerated().map { Output(name: "c\($0.offset)", value: $0.element) }
        let m = Module(functions: [f])
        assertRoundTrips(m, "special")
        let back = try parseModule(printModule(m)).functions[0]
        for (i, v) in values.enumerated() {
            let got = try XCTUnwrap(back.nodes[i].attrs.value)
            XCTAssertEqual(got.bitPattern, v.isNaN ? got.bitPattern : v.bitPattern, "value \(v)")
            XCTAssertEqual(got.isNaN, v.isNaN)
        }
    }

    func testLiteralsAreWeaklyTyped() throws {
        let m = try parseModule("func f(x: f32[2], n: i64) {\n  a = x^2 + 1\n  b = -3 * n\n  c = 2 * 3\n  d = -x^2\n  return a, b, c, d\n}\n")
        let f = m.functions[0]
        XCTAssertEqual(f.outputs.map { f.type(of: $0.value).description }, ["f32[2]", "i64", "f64", "f32[2]"])
        let consts = f.nodes.filter { $0.op == .const }
        // x^2 is square(x): no constant for the 2.
        XCTAssertEqual(consts.map { $0.type.dtype }, [.f32, .i64, .f64, .f64])
        XCTAssertEqual(consts[1].attrs.value, -3)  // -3 folds: no neg node for a literal
        // -x^2 is -(x^2)
        let d = f.nodes[f.outputs[3].value]
        XCTAssertEqual(d.op, .neg)
        XCTAssertEqual(f.nodes[d.inputs[0]].op, .square)
    }

    func testTuplesAndOutputNames() throws {
        let src = """
        func two(a: f64, b: f64) {
          return a * b, a + b
        }
        func f(x: f64, y: f64) {
          p, s = two(x, y)
          q = two(x, y)[1]
          z = p * s + q
          return z, grad(z, x, y), grad(z, x, y)[0] as gx, exp(z), z
        }
        """
        let f = try parseModule(src).functions[1]
        XCTAssertEqual(f.outputs.map(\.name), ["z", "dz_dx", "dz_dy", "gx", "out4", "z_2"])
    }

    func testNodeLocationsPointAtTokens() throws {
        let f = try parseModule("func f(x: f64[2,2]) {\n  y = exp(x) @ x\n  return y\n}\n").functions[0]
        XCTAssertEqual(f.nodes[1].op, .exp)
        XCTAssertEqual(f.nodes[1].location, SourceLocation(line: 2, column: 7))
        XCTAssertEqual(f.nodes[2].op, .matmul)
        XCTAssertEqual(f.nodes[2].location, SourceLocation(line: 2, column: 14))
        XCTAssertEqual(f.nodes[0].location, SourceLocation(line: 1, column: 8))
    }

    func testShadowingAndSemicolons() throws {
        let f = try parseModule("func f(x: f64) {\n  y = x + 1; y = y * y\n  return y\n}\n").functions[0]
        XCTAssertEqual(f.nodes[f.outputs[0].value].op, .mul)
    }

    func testNewlinesInsideParenthesesAreIgnored() throws {
        let f = try parseModule("func f(x: f64,\n       y: f64) {\n  z = maximum(x,\n              y) + (x\n  - y)\n  return z\n}\n")
        XCTAssertEqual(f.functions[0].outputs.count, 1)
    }
}
