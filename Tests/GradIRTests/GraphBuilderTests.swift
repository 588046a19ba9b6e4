@testable import GradIR
import XCTest

/// `GraphBuilder`'s shortcuts (elementwise ops on operands of one type, `grad`, constants)
/// must give exactly what the general path, `Op.inferType`, gives.
final class GraphBuilderTests: XCTestCase {
    /// Every op on every combination of operand types: where the shortcut answers, it answers
    /// like `inferType` (and never where `inferType` throws); it answers for every elementwise
    /// op whose operands have one type that the op accepts.
    func testElementwiseShortcutAgreesWithTypeRules() {
        var b = GraphBuilder(name: "types")
        var ids: [ValueID] = []
        for dtype in DType.allCases {
            for shape in [[], [3], [2, 3], [1, 3], [0]] {
                ids.append(b.function.addParameter("p\(ids.count)", TensorType(dtype, shape)))
            }
        }
        var operandLists: [[ValueID]] = [[]]
        for a in ids {
            operandLists.append([a])
            for c in ids { operandLists.append([a, c]) }
        }
        operandLists.append([ids[0], ids[0], ids[0]])
        let elementwise: Set<OpFamily> = [.unary, .binary, .comparison]

        var shortcuts = 0
        for op in Op.allCases {
            for inputs in operandLists {
                let types = inputs.map { b.type(of: $0) }
                let general = try? op.inferType(types, Attributes())
                let fast = b.shortcutType(op, Operands(inputs))
                let label = "\(op) \(types)"
                if let fast {
                    XCTAssertEqual(fast, general, label)
                    shortcuts += 1
                } else if elementwise.contains(op.info.family), general != nil, Set(types).count == 1 {
                    XCTFail("no shortcut for \(label)")
                }
            }
        }
        // Each elementwise op on each accepted type of the 20, and grad of the 2 float scalars
        // with respect to the 10 float types.
        XCTAssertEqual(shortcuts, 580)
    }

    /// Nodes built through the shortcuts equal nodes built through `inferType`.
    func testShortcutNodesEqualGeneralNodes() throws {
        var b = GraphBuilder(name: "nodes")
        let x = try b.parameter("x", TensorType(.f64, [2, 3]))
        let y = try b.parameter("y", TensorType(.f64, [2, 3]))
        let n = try b.parameter("n", TensorType(.i64))
        let s = try b.parameter("s", TensorType(.f32))
        let built = [
            try b.binary(.add, x, y), try b.binary(.atan2, x, y), try b.binary(.lt, x, y),
            try b.unary(.exp, x), try b.unary(.neg, n), try b.binary(.mul, n, n),
            try b.constant(2.5, TensorType(.f64)), try b.constant(-1, TensorType(.f32, [4])),
            try b.constant(3, TensorType(.i64)), try b.add(.grad, [b.unary(.exp, s), x]),
        ]
        for id in built {
            let node = b.function.nodes[id]
            let types = node.inputs.map { b.type(of: $0) }
            XCTAssertEqual(node.type, try node.op.inferType(types, node.attrs), "\(node)")
        }
        // Constant attributes are built in canonical (sorted) order either way.
        var expected = Attributes()
        expected[.shape] = .ints([4])
        expected[.dtype] = .dtype(.f32)
        expected[.value] = .float(-1)
        XCTAssertEqual(b.function.nodes[built[7]].attrs, expected)
        XCTAssertEqual(b.function.nodes[built[7]].attrs.items.map(\.key), [.shape, .dtype, .value])

        // Errors still come from the general rule, with the builder's location.
        b.location = SourceLocation(line: 7, column: 3)
        XCTAssertThrowsError(try b.binary(.add, x, n)) { e in
            XCTAssertEqual((e as? Diagnostic)?.kind, .dtypeMismatch(op: "add", [TensorType(.f64, [2, 3]), TensorType(.i64)]))
            XCTAssertEqual((e as? Diagnostic)?.location, SourceLocation(line: 7, column: 3))
        }
        XCTAssertThrowsError(try b.unary(.exp, n))
        XCTAssertThrowsError(try b.add(.grad, [x, y]))  // not a scalar
        XCTAssertThrowsError(try b.add(.grad, [s, n]))  // integer
        XCTAssertThrowsError(try b.constant(1, TensorType(.f64, [-1])))
    }

    /// A parsed graph (every fixture and example) has the types the general rule gives.
    func testParsedGraphsAgreeWithTypeRules() throws {
        for url in try Corpus.files() {
            let module = try parseModule(try Corpus.text(url), file: url.lastPathComponent)
            for f in module.functions {
                for node in f.nodes where node.op != .input {
                    // `nodeType` is `inferType`, or for the loop ops the rule that reads the body.
                    XCTAssertEqual(node.type, try f.nodeType(node.op, node.inputs, node.attrs), "\(url.lastPathComponent) \(f.name): \(node)")
                }
            }
        }
    }
}
