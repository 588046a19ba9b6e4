import Foundation
import Grad
import TestSupport
import XCTest

/// How a `.gbc` file names ops, attribute keys and dtypes: by their `.ir` names, never by
/// their position in an enum (format v2 stored positions: inserting an op renumbered every
/// later one and nothing forced a format-version bump).
final class OpIdentityTests: XCTestCase {
    /// A program that names every op (one `.op` instruction each), every elementwise op (one
    /// fused expression), every attribute key with every kind of value, and every dtype. Built
    /// for the encoding only: it is not a runnable program.
    static func everyOpProgram(_ ops: [Op] = Op.allCases) -> BytecodeProgram {
        let dtypes = DType.allCases
        let keys = AttrKey.allCases
        let values: [AttrValue] = [.int(-3), .ints([1, -2]), .bool(true), .float(-0.5), .floats([1.5, .infinity]), .dtype(.i64)]
        var offset = 0
        func operand(_ dtype: DType, _ shape: [Int]) -> BytecodeOperand {
            defer { offset += 64 }
            return BytecodeOperand(type: TensorType(dtype, shape), offset: offset)
        }
        func arity(_ op: Op) -> Int {
            switch op.info.arity {
            case .fixed(let n): return n
            case .atLeast(let n): return n + 1
            }
        }
        let constants = dtypes.enumerated().map { k, d in
            let o = operand(d, [2])
            return BytecodeConstant(node: k, operand: o, bytes: (0..<o.byteCount).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ k) })
        }
        let inputs = [BytecodeBinding(name: "x", operand: operand(.f64, [2, 3]))]
        let outputs = [BytecodeBinding(name: "y", operand: operand(.f32, []))]
        var instructions: [BytecodeInstruction] = []
        for (k, op) in ops.enumerated() {
            let dtype = dtypes[k % dtypes.count]
            let key = keys[k % keys.count]
            let attrs = Attributes([key: values[k % values.count], keys[(k + 5) % keys.count]: values[(k + 1) % values.count]])
            let ins = (0..<arity(op)).map { _ in operand(dtype, [k % 3 + 1]) }
            instructions.append(.op(op, attrs, inputs: ins, output: operand(dtype, [k % 3 + 1]), node: 100 + k))
        }
        let elementwise = ops.filter { $0.elementwise != nil }
        let micro = elementwise.enumerated().map { j, op in MicroOp(op: op, args: (0..<arity(op)).map { (j + $0) % (3 + j) }) }
        instructions.append(.fused(dtype: .f32, ops: micro, leaves: [operand(.f32, [4]), operand(.bool, [4]), operand(.f32, [])],
                                   output: operand(.f32, [4]), nodes: Array(0..<micro.count)))
        instructions.append(.copy(from: inputs[0].operand, to: operand(.f64, [6])))
        // A loop whose body copies its carry (the body's fields are a program's).
        let carry = BytecodeOperand(type: TensorType(.f64, [2]), offset: 0)
        let body = BytecodeProgram(name: "body", arenaBytes: 192, workspaceOffset: 192, constants: [],
                                   inputs: [BytecodeBinding(name: "i", operand: BytecodeOperand(type: TensorType(.i64), offset: 64)),
                                            BytecodeBinding(name: "c", operand: carry)],
                                   outputs: [BytecodeBinding(name: "d", operand: BytecodeOperand(type: carry.type, offset: 128))],
                                   instructions: [.copy(from: carry, to: BytecodeOperand(type: carry.type, offset: 128))])
        let loop = BytecodeLoop(node: 7, length: 3, reverse: true, indexed: true, gate: nil, region: (offset + 63) / 64 * 64,
                                carries: [operand(.f64, [2])], finals: [nil], sequences: [], invariants: [], stacked: [], body: body)
        offset = loop.region + body.arenaBytes
        instructions.append(.loop(loop))
        // A gated loop: its bool carry gates each step.
        let flag = BytecodeOperand(type: TensorType(.bool), offset: 0)
        let gatedBody = BytecodeProgram(name: "gated", arenaBytes: 128, workspaceOffset: 128, constants: [],
                                        inputs: [BytecodeBinding(name: "go", operand: flag)],
                                        outputs: [BytecodeBinding(name: "go2", operand: BytecodeOperand(type: flag.type, offset: 64))],
                                        instructions: [.copy(from: flag, to: BytecodeOperand(type: flag.type, offset: 64))])
        let gated = BytecodeLoop(node: 8, length: 2, reverse: false, indexed: false, gate: 0, region: (offset + 63) / 64 * 64,
                                 carries: [operand(.bool, [])], finals: [nil], sequences: [], invariants: [], stacked: [], body: gatedBody)
        offset = gated.region + gatedBody.arenaBytes
        instructions.append(.loop(gated))
        return BytecodeProgram(name: "every_op", arenaBytes: offset, workspaceOffset: offset / 2, constants: constants,
                               inputs: inputs, outputs: outputs, instructions: instructions)
    }

    /// Every op, attribute key and dtype survives writing and reading.
    func testEveryOpRoundTrips() throws {
        let p = Self.everyOpProgram()
        let bytes = p.serialized()
        XCTAssertEqual(try BytecodeProgram(serialized: bytes), p)
    }

    /// Two programs that differ only in one op differ on disk only where that op's name is
    /// written: the instructions refer to a name, not to an enum position. (With positions,
    /// `exp` and `log` would differ in an opcode byte inside the instruction and their names
    /// would appear nowhere.)
    func testOpsAreStoredByTheirNames() throws {
        func file(_ op: Op) -> [UInt8] {
            let x = BytecodeOperand(type: TensorType(.f64, [2]), offset: 0)
            let y = BytecodeOperand(type: TensorType(.f64, [2]), offset: 16)
            return BytecodeProgram(name: "f", arenaBytes: 32, workspaceOffset: 32, constants: [],
                                   inputs: [BytecodeBinding(name: "x", operand: x)], outputs: [BytecodeBinding(name: "y", operand: y)],
                                   instructions: [.op(op, Attributes(), inputs: [x], output: y, node: 1)]).serialized()
        }
        let a = file(.exp)
        let b = file(.log)
        XCTAssertEqual(a.count, b.count)
        let differing = (32..<a.count).filter { a[$0] != b[$0] }
        let name = try XCTUnwrap(firstRange(of: Array("exp".utf8), in: a))
        XCTAssertEqual(Array(b[name]), Array("log".utf8))
        XCTAssertEqual(Set(differing), Set(name), "ops must differ on disk only in their names")
        // And the name table is every name the file uses, in order of first use.
        XCTAssertEqual(nameTable(a), ["f64", "exp"])
        // (A name that is both an op and an attribute key, `transpose`, is stored once.)
        XCTAssertEqual(nameTable(Self.everyOpProgram().serialized()).sorted(),
                       Set(Op.allCases.map(\.name) + AttrKey.allCases.map(\.rawValue) + DType.allCases.map(\.rawValue)).sorted())
    }

    /// A file written at the current format version and kept: it must still read as the same
    /// ops, attributes and dtypes, and writing what was read must give its bytes again. This is
    /// what forces a format-version bump: reordering or inserting a case of `Op`, `AttrKey` or
    /// `DType` must leave it passing; any change to the encoding of what it holds (the layout,
    /// or ops by position again) fails it, and the fix is a new `bytecodeFormatVersion` (a new
    /// frozen file is then written by `Scripts/refresh-golden.sh`; the old one is deleted).
    /// Renaming or removing an op fails it too: files naming the old op no longer load.
    func testFrozenFileOfThisVersion() throws {
        let base = "Tests/Fixtures/bytecode/every-op-v\(bytecodeFormatVersion)"
        let gbc = repositoryRoot.appendingPathComponent(base + ".gbc")
        let listing = repositoryRoot.appendingPathComponent(base + ".txt")
        if !FileManager.default.fileExists(atPath: gbc.path) {
            // Written once per format version, never refreshed (that is the point).
            guard ProcessInfo.processInfo.environment["GRADC_REFRESH_GOLDEN"] == "1" else {
                return XCTFail("\(base).gbc is missing: a new format version needs its frozen file (Scripts/refresh-golden.sh)")
            }
            let p = Self.everyOpProgram()
            try Data(p.serialized()).write(to: gbc)
            try Self.identityListing(p).write(to: listing, atomically: true, encoding: .utf8)
        }
        let bytes = [UInt8](try Data(contentsOf: gbc))
        let p = try BytecodeProgram(serialized: bytes)
        XCTAssertEqual(Self.identityListing(p), try String(contentsOf: listing, encoding: .utf8),
                       "\(base).gbc no longer reads as the ops it was written with")
        XCTAssertEqual(p.serialized(), bytes, "the encoding changed: bump bytecodeFormatVersion")
    }

    /// Files of another version are refused with a message that says what to do.
    func testOtherVersionsAreRefused() throws {
        var old = Self.everyOpProgram().serialized()
        old[8] = 2
        XCTAssertThrowsError(try BytecodeProgram(serialized: old)) { error in
            XCTAssertEqual((error as? Diagnostic)?.message,
                           "unsupported gradc bytecode version 2: this gradc reads version 4 only; compile the model again with `gradc compile MODEL.ir --backend bytecode`")
        }
        var new = old
        new[8] = 5
        XCTAssertThrowsError(try BytecodeProgram(serialized: new)) { error in
            XCTAssertEqual((error as? Diagnostic)?.message,
                           "unsupported gradc bytecode version 5: this gradc reads version 4 only; it was written by a newer gradc")
        }
    }

    /// A name this gradc does not know is refused, named in the message.
    func testUnknownNamesAreRefused() throws {
        var bytes = Self.everyOpProgram([.exp, .sum]).serialized()
        let at = try XCTUnwrap(firstRange(of: Array("exp".utf8), in: bytes))
        bytes.replaceSubrange(at, with: Array("exq".utf8))
        XCTAssertThrowsError(try BytecodeProgram(serialized: bytes, verifyChecksum: false)) { error in
            XCTAssertTrue((error as? Diagnostic)?.message.contains("unknown op 'exq' in instruction 0 (written by a newer gradc?)") ?? false, "\(error)")
        }
    }

    // MARK: - Helpers

    /// The ops, attributes and types a program names, one instruction a line (independent of
    /// the disassembly's format, so that the frozen listing never needs refreshing).
    static func identityListing(_ p: BytecodeProgram) -> String {
        func types(_ os: [BytecodeOperand]) -> String { os.map(\.type.description).joined(separator: " ") }
        var lines = ["function \(p.name)"]
        lines += p.constants.map { "constant \($0.operand.type)" }
        lines += p.inputs.map { "input \($0.name) \($0.operand.type)" }
        lines += p.outputs.map { "output \($0.name) \($0.operand.type)" }
        for (i, instruction) in p.instructions.enumerated() {
            switch instruction {
            case .op(let op, let attrs, let ins, let out, _):
                let a = attrs.items.map { "\($0.key.rawValue)=\($0.value)" }.sorted().joined(separator: " ")
                lines.append("\(i) \(op.name) [\(a)] \(types(ins)) -> \(out.type)")
            case .fused(let dtype, let ops, let leaves, let out, _):
                lines.append("\(i) fused \(dtype) \(ops.map { "\($0.op.name)\($0.args)" }.joined(separator: " ")) \(types(leaves)) -> \(out.type)")
            case .copy(let from, let to):
                lines.append("\(i) copy \(from.type) -> \(to.type)")
            case .loop(let l):
                lines.append("\(i) loop length=\(l.length) reverse=\(l.reverse) indexed=\(l.indexed) gate=\(l.gate.map(String.init) ?? "-") \(types(l.operands)) -> \(types((l.finals + l.stacked).compactMap { $0 }))")
                lines += identityListing(l.body).split(separator: "\n").map { "  " + $0 }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The name table at the start of the payload, read as the format comment describes it.
    func nameTable(_ file: [UInt8]) -> [String] {
        var p = 32
        func u(_ n: Int) -> Int {
            defer { p += n }
            return (0..<n).reduce(0) { $0 | Int(file[p + $1]) << (8 * $1) }
        }
        return (0..<u(2)).map { _ in
            let n = u(4)
            defer { p += n }
            return String(decoding: file[p..<(p + n)], as: UTF8.self)
        }
    }

    func firstRange(of needle: [UInt8], in haystack: [UInt8]) -> Range<Int>? {
        guard haystack.count >= needle.count else { return nil }
        return (0...(haystack.count - needle.count)).first { Array(haystack[$0..<($0 + needle.count)]) == needle }.map { $0..<($0 + needle.count) }
    }
}
