import Foundation
import Grad
import TestSupport
import XCTest

/// Every kind of `BytecodeValidationError`, each from one corruption of a valid program, with
/// its message pinned.
final class ValidationErrorTests: XCTestCase {
    /// ```
    ///   const c0 @0: f64 = 2.5
    ///   input x @8: f64[4], y @40: f64[4], n @72: i64[2]
    ///   output s @88: f64, x @96: f64[4], out2 @128: f64[4], out3 @160: f64[2,3], out4 @208: f64[2,2]
    ///   workspace from 256, arena 320 bytes
    /// 0  fused.f64  ws+0:f64[4] <- r0=x, r1=c0, r2=y;  r3 = mul(r0, r1), r4 = add(r3, r2)
    /// 1  sum        s <- ws+0:f64[4]
    /// 2  cumsum     out2 <- x {axis=0}
    /// 3  one_hot    out3 <- n {depth=3}
    /// 4  copy       x (output) <- x
    /// 5  copy       out4:f64[2,2] <- x:f64[2,2]
    /// ```
    static func valid() throws -> BytecodeProgram {
        let source = """
        func f(x: f64[4], y: f64[4], n: i64[2]) {
          s = sum(x * 2.5 + y)
          return s, x, cumsum(x, axis=0), one_hot(n, depth=3), reshape(x, shape=[2,2])
        }
        """
        let module = try Pipeline.lower(Pipeline.parse(source), to: .optimized)
        return try BytecodeProgram(function: Pipeline.function(module, named: nil))
    }

    /// Replaces instruction `i` by what `change` makes of its parts.
    static func op(_ p: inout BytecodeProgram, _ i: Int,
                   _ change: (inout Op, inout Attributes, inout [BytecodeOperand], inout BytecodeOperand) -> Void) {
        guard case .op(var op, var attrs, var ins, var out, let node) = p.instructions[i] else { return XCTFail("instruction \(i) is not an op") }
        change(&op, &attrs, &ins, &out)
        p.instructions[i] = .op(op, attrs, inputs: ins, output: out, node: node)
    }

    static func fused(_ p: inout BytecodeProgram,
                      _ change: (inout DType, inout [MicroOp], inout [BytecodeOperand], inout BytecodeOperand) -> Void) {
        guard case .fused(var dtype, var ops, var leaves, var out, let nodes) = p.instructions[0] else { return XCTFail("instruction 0 is not fused") }
        change(&dtype, &ops, &leaves, &out)
        p.instructions[0] = .fused(dtype: dtype, ops: ops, leaves: leaves, output: out, nodes: nodes)
    }

    /// ```
    ///   input c0 @0: f64[2], xs @16: f64[3,2]
    ///   output cT @64: f64[2], ys @80: f64[3]
    ///   workspace from 128 (empty), arena 192 bytes
    /// 0  loop  cT, ys <- carry=(c0) over=(xs) {length=3}, body at @128 (64 bytes:
    ///          input c @0: f64[2], x @16: f64[2]; output @32: f64[2], @48: f64)
    /// ```
    static func validLoop() throws -> BytecodeProgram {
        let source = """
        func body(c: f64[2], x: f64[2]) {
          return c * x, sum(c)
        }
        func f(c0: f64[2], xs: f64[3,2]) {
          cT, ys = scan(body, carry=c0, over=xs)
          return cT, ys
        }
        """
        let module = try Pipeline.lower(Pipeline.parse(source), to: .optimized)
        return try BytecodeProgram(function: Pipeline.function(module, named: "f"))
    }

    /// Changes the loop instruction 0.
    static func loop(_ p: inout BytecodeProgram, _ change: (inout BytecodeLoop) -> Void) {
        guard case .loop(var l) = p.instructions[0] else { return XCTFail("instruction 0 is not a loop") }
        change(&l)
        p.instructions[0] = .loop(l)
    }

    /// `body` as the body of `depth` loops nested in one another, each the only instruction.
    static func nested(_ body: BytecodeProgram, depth: Int) -> BytecodeProgram {
        var p = body
        for _ in 0..<depth {
            let l = BytecodeLoop(node: 0, length: 1, reverse: false, indexed: false, region: 0, carries: [], finals: [],
                                 sequences: [], invariants: [], stacked: [], body: p)
            p = BytecodeProgram(name: "nest", arenaBytes: p.arenaBytes, workspaceOffset: 0, constants: [], inputs: [], outputs: [],
                                instructions: [.loop(l)])
        }
        return p
    }

    /// One corruption of `validLoop()` per kind of loop error.
    static var loopCases: [(corrupt: (inout BytecodeProgram) -> Void, error: BytecodeValidationError, message: String)] {
        var deep: BytecodeValidationError = .loopNesting(instruction: 0, limit: maxLoopNesting)
        for _ in 0..<(maxLoopNesting - 2) { deep = .inLoopBody(instruction: 0, deep) }
        return [
            ({ loop(&$0) { $0.region = 130 } }, .loopRegion(instruction: 0, offset: 130, bytes: 64, arenaBytes: 192),
             "instruction 0: the loop body's 64 bytes at byte 130 are not a 64-aligned region of the arena of 192 bytes"),
            ({ loop(&$0) { $0.region = 64 } }, .loopRegionOverlaps(instruction: 0, .output(1)),
             "instruction 0: the loop body's region shares bytes with output 1"),
            ({ loop(&$0) { $0.body.workspaceOffset = 400 } }, .inLoopBody(instruction: 0, .workspaceOutsideArena(offset: 400, arenaBytes: 64)),
             "instruction 0, loop body: workspace offset 400 is outside the arena of 64 bytes"),
            ({ loop(&$0) { $0.stacked = [] } },
             .loopShape(instruction: 0, "the body takes 2 inputs and returns 2 values, but the loop passes 2 and takes 1"),
             "instruction 0: loop: the body takes 2 inputs and returns 2 values, but the loop passes 2 and takes 1"),
            ({ loop(&$0) { $0.length = 4 } }, .loopOperandType(.operand(instruction: 0, position: 1), TensorType(.f64, [3, 2]), expected: TensorType(.f64, [4, 2])),
             "instruction 0, operand 1: loop operand f64[3,2], but its body needs f64[4,2]"),
            ({ loop(&$0) { $0.body = nested($0.body, depth: maxLoopNesting) } }, .inLoopBody(instruction: 0, deep),
             String(repeating: "instruction 0, loop body: ", count: maxLoopNesting - 1) + "instruction 0: loops nest more than 32 deep"),
        ]
    }

    static func operand(_ dtype: DType, _ shape: [Int], at offset: Int) -> BytecodeOperand {
        BytecodeOperand(type: TensorType(dtype, shape), offset: offset)
    }

    /// One corruption per kind of error: what to change, the error, its message.
    static var cases: [(corrupt: (inout BytecodeProgram) -> Void, error: BytecodeValidationError, message: String)] { [
        ({ $0.arenaBytes = 1 << 40 }, .arenaTooLarge(bytes: 1 << 40, limit: 1 << 32),
         "arena of 1099511627776 bytes exceeds the limit of 4294967296"),
        ({ $0.workspaceOffset = 400 }, .workspaceOutsideArena(offset: 400, arenaBytes: 320),
         "workspace offset 400 is outside the arena of 320 bytes"),
        ({ $0.inputs[1].operand.type = TensorType(.f64, [-1]) }, .invalidShape(.input(1), [-1]),
         "input 1: invalid shape [-1]"),
        ({ $0.outputs[4].operand.offset = 300 }, .outsideArena(.output(4), TensorType(.f64, [2, 2]), offset: 300, arenaBytes: 320),
         "output 4: f64[2,2] at byte 300 is outside the arena of 320 bytes"),
        ({ op(&$0, 1) { _, _, ins, _ in ins[0].offset = 260 } }, .misaligned(.operand(instruction: 1, position: 0), offset: 260, alignment: 8),
         "instruction 1, operand 0: offset 260 is not aligned to 8 bytes"),
        ({ $0.constants[0].bytes = [0, 0, 0, 0] }, .constantSize(constant: 0, bytes: 4, expected: 8),
         "constant 0 has 4 bytes, expected 8 (or one element's, repeated)"),
        ({ $0.inputs[1].operand.offset = 16 }, .overlappingBuffers(.input(0), .input(1)),
         "input 0 and input 1 share bytes"),
        ({ $0.inputs[0].operand.type = TensorType(.i64, [4]) },
         .bufferMismatch(.operand(instruction: 0, position: 0), operand(.f64, [4], at: 8), buffer: .input(0), declared: operand(.i64, [4], at: 8)),
         "instruction 0, operand 0 uses f64[4] at byte 8, but that is input 0: i64[4] at byte 8 (a constant, input or output is used inside its bytes in its own dtype; an input or constant is written only whole)"),
        ({ op(&$0, 1) { op, _, _, _ in op = .grad } }, .notAnInstruction(instruction: 1, .grad),
         "instruction 1: grad is not an instruction"),
        ({ op(&$0, 2) { _, attrs, _, _ in attrs[.axis] = .int(5) } },
         .typeRule(instruction: 2, .cumsum, message: "invalid attribute 'axis' of cumsum: expected an axis in -1..<1"),
         "instruction 2: invalid attribute 'axis' of cumsum: expected an axis in -1..<1"),
        ({ op(&$0, 1) { _, _, _, out in out = operand(.f64, [1], at: 88) } },
         .resultType(instruction: 1, .sum, operands: [TensorType(.f64, [4])], inferred: TensorType(.f64), declared: TensorType(.f64, [1])),
         "instruction 1: sum of f64[4] gives f64, not f64[1]"),
        ({ $0.instructions[5] = .copy(from: operand(.f64, [2], at: 256), to: operand(.f64, [2, 2], at: 208)) },
         .copySize(instruction: 5, from: TensorType(.f64, [2]), to: TensorType(.f64, [2, 2])),
         "instruction 5: copy of f64[2] into f64[2,2]"),
        ({ fused(&$0) { dtype, _, _, _ in dtype = .i64 } }, .fusedDType(instruction: 0, .i64),
         "instruction 0: fused expression in i64 (expected f32 or f64)"),
        ({ fused(&$0) { _, ops, _, _ in ops = [] } }, .fusedSize(instruction: 0, ops: 0, leaves: 3, nodes: 2),
         "instruction 0: fused expression with 0 ops, 3 leaves and 2 nodes (1 to 256 ops, at most 256 leaves and nodes)"),
        ({ fused(&$0) { dtype, _, _, _ in dtype = .f32 } }, .fusedOperandType(.result(instruction: 0), dtype: .f32, TensorType(.f64, [4])),
         "instruction 0, result: f64[4] in a fused f32 expression (expected f32 or bool)"),
        ({ fused(&$0) { _, _, _, out in out = operand(.f64, [3], at: 256) } },
         .fusedBroadcast(.operand(instruction: 0, position: 0), TensorType(.f64, [4]), result: TensorType(.f64, [3])),
         "instruction 0, operand 0: fused leaf f64[4] does not broadcast to f64[3]"),
        ({ fused(&$0) { _, ops, _, _ in ops[0].op = .sum } }, .notFusable(instruction: 0, microOp: 0, .sum),
         "instruction 0, fused op 0: sum cannot be fused"),
        ({ fused(&$0) { _, ops, _, _ in ops[1].args = [3, 7] } }, .fusedArguments(instruction: 0, microOp: 1, .add, args: [3, 7], registers: 4),
         "instruction 0, fused op 1: add takes 2 operands of the registers below r4, got [3, 7]"),
    ] }

    /// The kind of an error, one number per case (a new case does not compile until it is
    /// listed here, and `testEveryKind` fails until it has a corruption in `cases`).
    static func kind(_ e: BytecodeValidationError) -> Int {
        switch e {
        case .arenaTooLarge: return 0
        case .workspaceOutsideArena: return 1
        case .invalidShape: return 2
        case .outsideArena: return 3
        case .misaligned: return 4
        case .constantSize: return 5
        case .overlappingBuffers: return 6
        case .bufferMismatch: return 7
        case .notAnInstruction: return 8
        case .typeRule: return 9
        case .resultType: return 10
        case .copySize: return 11
        case .fusedDType: return 12
        case .fusedSize: return 13
        case .fusedOperandType: return 14
        case .fusedBroadcast: return 15
        case .notFusable: return 16
        case .fusedArguments: return 17
        case .loopNesting: return 18
        case .loopRegion: return 19
        case .loopRegionOverlaps: return 20
        case .inLoopBody(_, let inner): return kind(inner) == 18 ? 18 : 21  // nesting too deep is found in a body
        case .loopShape: return 22
        case .loopOperandType: return 23
        }
    }
    static let kindCount = 24

    /// A file cannot make the VM loop longer than `VMLimits.maxLoopSteps` body runs (nested
    /// loops multiply).
    func testLoopStepLimit() throws {
        var limits = VMLimits()
        limits.maxLoopSteps = 2
        XCTAssertThrowsError(try Self.validLoop().validate(limits: limits)) { error in
            XCTAssertEqual((error as? BytecodeValidationError)?.message,
                           "instruction 0: loop: 3 steps make 3 body runs per evaluation, with the other loops' (the limit is 2)")
        }
        var p = try Self.validLoop()
        Self.loop(&p) { $0.body = Self.nested($0.body, depth: 1) }
        Self.loop(&p) { l in
            guard case .loop(var inner) = l.body.instructions[0] else { return }
            inner.length = 1 << 40
            l.body.instructions[0] = .loop(inner)
        }
        XCTAssertThrowsError(try p.validate()) { error in
            XCTAssertTrue("\(error)".contains("3298534883331 body runs"), "\(error)")
        }
        // Sibling loops add up: three loops of 1 step each pass a limit of 3, not of 2.
        var siblings = try Self.validLoop()
        Self.loop(&siblings) { $0.length = 1 }
        Self.loop(&siblings) { l in
            l.sequences = []
            l.stacked = []
            l.body.inputs.removeLast()
            l.body.outputs.removeLast()
            l.body.instructions = [.copy(from: l.body.inputs[0].operand, to: l.body.outputs[0].operand)]
        }
        siblings.instructions += [siblings.instructions[0], siblings.instructions[0]]
        limits.maxLoopSteps = 3
        XCTAssertNoThrow(try siblings.validate(limits: limits))
        limits.maxLoopSteps = 2
        XCTAssertThrowsError(try siblings.validate(limits: limits)) { error in
            XCTAssertTrue("\(error)".contains("3 body runs"), "\(error)")
        }
    }

    func testValidProgramPasses() throws {
        XCTAssertNoThrow(try Self.valid().validate())
    }

    func testEveryKind() throws {
        let (valid, validLoop) = (try Self.valid(), try Self.validLoop())
        XCTAssertNoThrow(try validLoop.validate())
        for (k, c) in (Self.cases + Self.loopCases).enumerated() {
            var p = k < Self.cases.count ? valid : validLoop
            c.corrupt(&p)
            XCTAssertThrowsError(try p.validate(), "case \(k)") { error in
                XCTAssertEqual(error as? BytecodeValidationError, c.error, "case \(k)")
                XCTAssertEqual((error as? BytecodeValidationError)?.message, c.message, "case \(k)")
            }
            // The VM refuses it with the same message.
            XCTAssertThrowsError(try VirtualMachine(p), "case \(k)") { error in
                XCTAssertEqual((error as? Diagnostic)?.message, "invalid bytecode: " + c.message, "case \(k)")
            }
        }
        XCTAssertEqual(Set((Self.cases + Self.loopCases).map { Self.kind($0.error) }).count, Self.kindCount, "a kind of validation error has no case")
    }
}
