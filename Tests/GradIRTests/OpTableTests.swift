import XCTest
@testable import GradIR

final class OpTableTests: XCTestCase {
    /// `Op.index` reads the enum's one-byte tag; tables indexed by it rely on the tag being
    /// the declaration order.
    func testIndexIsDeclarationOrder() {
        XCTAssertEqual(MemoryLayout<Op>.size, 1)
        for (k, op) in Op.allCases.enumerated() {
            XCTAssertEqual(op.index, k, "\(op)")
            XCTAssertEqual(Op(rawValue: op.name), op)
        }
    }

    /// Equality and hashing by tag agree with identity of the case.
    func testEqualityAndHashingDistinguishEveryOp() {
        XCTAssertEqual(Set(Op.allCases).count, Op.allCases.count)
        for a in Op.allCases {
            for b in Op.allCases {
                XCTAssertEqual(a == b, a.name == b.name)
            }
        }
        // The per-op table behind `acceptsIntegers` (indexed by tag) matches the documented set.
        XCTAssertEqual(Set(Op.allCases.filter(\.acceptsIntegers)),
                       [.neg, .abs, .sign, .square, .relu, .add, .sub, .mul, .maximum, .minimum, .floordiv, .mod, .sum, .prod, .max, .min, .argmax, .argmin, .cumsum, .take, .take_along_axis, .scatter_add, .scatter_add_along_axis, .matmul, .dot])
    }

    /// `ElementwiseOp` and `StructuralOp` partition `Op`: every op is exactly one of them, by
    /// name, and the elementwise ones are the unary, binary, comparison and select families.
    func testElementwiseAndStructuralOpsPartitionTheOps() {
        for op in Op.allCases {
            let elementwise: Set<OpFamily> = [.unary, .binary, .comparison, .select]
            XCTAssertEqual(op.elementwise != nil, elementwise.contains(op.family), "\(op)")
            XCTAssertEqual(op.elementwise == nil, op.structural != nil, "\(op)")
            XCTAssertEqual(op.elementwise?.op ?? op.structural?.op, op)
        }
        XCTAssertEqual(ElementwiseOp.allCases.count + StructuralOp.allCases.count, Op.allCases.count)
        // The VM's scalar opcodes are an elementwise op's index plus a dtype bit 0x40
        // (GradBytecode ScalarOpcode); past 64 ops its ops would run as kernels only.
        XCTAssertLessThan(ElementwiseOp.allCases.count, 64)
        XCTAssertEqual(Set(ElementwiseOp.allCases.map(\.op)).count, ElementwiseOp.allCases.count)
        XCTAssertEqual(Set(StructuralOp.allCases.map(\.op)).count, StructuralOp.allCases.count)
        for e in ElementwiseOp.allCases {
            XCTAssertEqual(e.index, ElementwiseOp.allCases.firstIndex(of: e))
            XCTAssertEqual(e.arity, e.op.info.arity == .fixed(1) ? 1 : (e == .select ? 3 : 2))
            XCTAssertEqual(e.isComparison, e.op.family == .comparison, "\(e)")
        }
        XCTAssertEqual(Set(Op.allCases.filter(\.isView)), [.reshape, .expand_dims, .squeeze])
        XCTAssertEqual(Set(Op.allCases.filter(\.isCommutative)), [.add, .mul, .eq, .ne])
    }

    /// Attribute keys and dtypes compare, hash and order by tag too; the order is the
    /// declaration order the canonical printer relies on.
    func testAttrKeyAndDTypeTagsAgreeWithTheirCases() {
        XCTAssertEqual(Set(AttrKey.allCases).count, AttrKey.allCases.count)
        XCTAssertEqual(Set(DType.allCases).count, DType.allCases.count)
        for (i, a) in AttrKey.allCases.enumerated() {
            for (j, b) in AttrKey.allCases.enumerated() {
                XCTAssertEqual(a == b, i == j)
                XCTAssertEqual(a < b, i < j)
            }
        }
        var attrs = Attributes()
        attrs[.value] = .float(2)
        attrs[.dtype] = .dtype(.f32)
        attrs[.axes] = .ints([1])
        XCTAssertEqual(attrs.items.map(\.key), [.axes, .dtype, .value])
        XCTAssertEqual(attrs.value, 2)
        attrs[.value] = .int(-3)
        XCTAssertEqual(attrs.value, -3)
        attrs[.value] = .bool(true)
        XCTAssertNil(attrs.value)
        XCTAssertNil(Attributes().value)
    }

    /// `info` comes from a table built once; it must describe the same op it is asked for.
    func testInfoTableMatchesFamilies() {
        XCTAssertEqual(Op.add.info.family, .binary)
        XCTAssertEqual(Op.const.info.family, .leaf)
        XCTAssertEqual(Op.hessian.info.family, .derivative)
        XCTAssertEqual(Op.softmax_cross_entropy.info.arity, .fixed(2))
        XCTAssertEqual(Op.sum.info.attributes.map(\.key), [.axes, .keepdims])
    }

    /// The shortcuts `family` and `isDerivativeRequest` (which copy no `info`) agree with it.
    func testFamilyShortcutsAgreeWithInfo() {
        for op in Op.allCases {
            XCTAssertEqual(op.family, op.info.family, "\(op)")
            XCTAssertEqual(op.isDerivativeRequest, op.info.family == .derivative, "\(op)")
        }
    }

    /// A node is 64 bytes (graphs of millions of nodes are swept several times; the layout is
    /// chosen for that): operands inline, 32-bit source positions, op and role side by side.
    func testNodeLayoutStaysCompact() {
        XCTAssertLessThanOrEqual(MemoryLayout<Node>.stride, 64)
        XCTAssertLessThanOrEqual(MemoryLayout<Operands>.size, 24)
        let far = SourceLocation(line: Int.max, column: -5)
        XCTAssertEqual(far.line, Int(Int32.max))
        XCTAssertEqual(far.column, -5)
    }
}

final class OperandsTests: XCTestCase {
    /// Up to three 32-bit ids inline; more, or a larger id, in an array — the same values,
    /// equality and hashing either way.
    func testInlineAndSpilledOperandsBehaveAlike() {
        let big = Int(Int32.max) + 7
        let cases: [[ValueID]] = [[], [5], [1, 2], [3, 4, 5], [1, 2, 3, 4, 5], [big], [1, big, 3], Array(0..<40)]
        for ids in cases {
            let ops = Operands(ids)
            XCTAssertEqual(Array(ops), ids)
            XCTAssertEqual(ops.count, ids.count)
            XCTAssertEqual(ops, Operands(ids.map { $0 }))
            XCTAssertEqual(Set([ops, Operands(ids)]).count, 1)
        }
        XCTAssertEqual(Array(Operands(7)), [7])
        XCTAssertEqual(Array(Operands(7, big)), [7, big])
        XCTAssertEqual([1, 2] as Operands, Operands(1, 2))
        XCTAssertNotEqual(Operands([1, 2]), Operands([1, 2, 3]))
        XCTAssertNotEqual(Operands([1, 2]), Operands([2, 1]))
    }

    /// Writing an id too large for the inline slots moves the operands to the array.
    func testWritingALargeIdSpills() {
        var ops = Operands([1, 2, 3])
        ops[1] = Int(Int32.max) + 1
        XCTAssertEqual(Array(ops), [1, Int(Int32.max) + 1, 3])
        ops[1] = 9
        XCTAssertEqual(Array(ops), [1, 9, 3])
        XCTAssertEqual(ops, Operands([1, 9, 3]))
        // Spilled and inline forms of the same ids are one value (equal, same hash).
        XCTAssertEqual(Set([ops, Operands([1, 9, 3])]).count, 1)
        XCTAssertEqual(ops.hashValue, Operands([1, 9, 3]).hashValue)
    }
}
