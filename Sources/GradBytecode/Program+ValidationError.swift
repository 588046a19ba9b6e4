import GradRuntime

// Why a bytecode program is refused: one case per check of `BytecodeProgram.validate`, one
// message per case.

/// Where an operand sits in a program.
public enum OperandSite: Hashable, Sendable, CustomStringConvertible {
    case constant(Int)
    case input(Int)
    case output(Int)
    /// Operand `position` of an instruction (a copy's source, a fused expression's leaf).
    case operand(instruction: Int, position: Int)
    /// The buffer an instruction writes.
    case result(instruction: Int)

    public var description: String {
        switch self {
        case .constant(let k): return "constant \(k)"
        case .input(let k): return "input \(k)"
        case .output(let k): return "output \(k)"
        case .operand(let i, let k): return "instruction \(i), operand \(k)"
        case .result(let i): return "instruction \(i), result"
        }
    }
}

/// A check a bytecode program failed, with what it found.
public indirect enum BytecodeValidationError: Error, Hashable, Sendable, CustomStringConvertible {
    // MARK: Layout
    /// The arena is larger than `VMLimits.maxArenaBytes` allows (or negative).
    case arenaTooLarge(bytes: Int, limit: Int)
    case workspaceOutsideArena(offset: Int, arenaBytes: Int)
    /// A shape with a negative dimension, too many elements or too high a rank.
    case invalidShape(OperandSite, [Int])
    /// Some of the operand's bytes are outside the arena.
    case outsideArena(OperandSite, TensorType, offset: Int, arenaBytes: Int)
    /// The operand's offset is not a multiple of its element size.
    case misaligned(OperandSite, offset: Int, alignment: Int)
    /// A constant's data has neither its operand's size nor one element's (a splat).
    case constantSize(constant: Int, bytes: Int, expected: Int)
    /// Two buffers of the calling convention or constants share bytes.
    case overlappingBuffers(OperandSite, OperandSite)
    /// An instruction reads or writes some of the bytes of a constant, input or output other
    /// than as the whole buffer in its declared dtype (it would reinterpret the bytes).
    case bufferMismatch(OperandSite, BytecodeOperand, buffer: OperandSite, declared: BytecodeOperand)

    // MARK: Instructions
    /// `input`, `grad`, `jacobian` and `hessian` are not instructions.
    case notAnInstruction(instruction: Int, Op)
    /// The op's type rule refuses the operands or attributes (`message` is the rule's).
    case typeRule(instruction: Int, Op, message: String)
    /// The type rule gives another result type than the instruction declares.
    case resultType(instruction: Int, Op, operands: [TensorType], inferred: TensorType, declared: TensorType)
    case copySize(instruction: Int, from: TensorType, to: TensorType)
    /// A fused expression computed in a dtype other than f32 or f64.
    case fusedDType(instruction: Int, DType)
    /// A fused expression with no ops, or more than 256 ops, leaves or nodes.
    case fusedSize(instruction: Int, ops: Int, leaves: Int, nodes: Int)
    /// A fused leaf or result neither in the expression's dtype nor bool.
    case fusedOperandType(OperandSite, dtype: DType, TensorType)
    /// A fused leaf that does not broadcast to the result.
    case fusedBroadcast(OperandSite, TensorType, result: TensorType)
    /// A micro-op that is not elementwise.
    case notFusable(instruction: Int, microOp: Int, Op)
    /// A micro-op with the wrong number of arguments, or one naming a register that is not
    /// below `registers` (the leaves and the earlier micro-ops).
    case fusedArguments(instruction: Int, microOp: Int, Op, args: [Int], registers: Int)

    // MARK: Loops
    /// Loop bodies nested deeper than `maxLoopNesting`.
    case loopNesting(instruction: Int, limit: Int)
    /// The body's region is outside the arena or not 64-aligned.
    case loopRegion(instruction: Int, offset: Int, bytes: Int, arenaBytes: Int)
    /// The body's region shares bytes with a constant, input or output.
    case loopRegionOverlaps(instruction: Int, OperandSite)
    /// The body fails a check (the error is the body's, its sites inside the body).
    case inLoopBody(instruction: Int, BytecodeValidationError)
    /// The loop's operand counts, trip count or carry types do not match its body.
    case loopShape(instruction: Int, String)
    /// An operand of the loop does not have the type its body gives it.
    case loopOperandType(OperandSite, TensorType, expected: TensorType)

    public var message: String {
        switch self {
        case .arenaTooLarge(let bytes, let limit):
            return "arena of \(bytes) bytes exceeds the limit of \(limit)"
        case .workspaceOutsideArena(let offset, let arenaBytes):
            return "workspace offset \(offset) is outside the arena of \(arenaBytes) bytes"
        case .invalidShape(let site, let shape):
            return "\(site): invalid shape \(shape)"
        case .outsideArena(let site, let type, let offset, let arenaBytes):
            return "\(site): \(type) at byte \(offset) is outside the arena of \(arenaBytes) bytes"
        case .misaligned(let site, let offset, let alignment):
            return "\(site): offset \(offset) is not aligned to \(alignment) bytes"
        case .constantSize(let k, let bytes, let expected):
            return "constant \(k) has \(bytes) bytes, expected \(expected) (or one element's, repeated)"
        case .overlappingBuffers(let a, let b):
            return "\(a) and \(b) share bytes"
        case .bufferMismatch(let site, let used, let buffer, let declared):
            return "\(site) uses \(used.type) at byte \(used.offset), but that is \(buffer): \(declared.type) at byte \(declared.offset) (a constant, input or output is used inside its bytes in its own dtype; an input or constant is written only whole)"
        case .notAnInstruction(let i, let op):
            return "instruction \(i): \(op.name) is not an instruction"
        case .typeRule(let i, _, let message):
            return "instruction \(i): \(message)"
        case .resultType(let i, let op, let operands, let inferred, let declared):
            return "instruction \(i): \(op.name) of \(operands.map(\.description).joined(separator: ", ")) gives \(inferred), not \(declared)"
        case .copySize(let i, let from, let to):
            return "instruction \(i): copy of \(from) into \(to)"
        case .fusedDType(let i, let dtype):
            return "instruction \(i): fused expression in \(dtype) (expected f32 or f64)"
        case .fusedSize(let i, let ops, let leaves, let nodes):
            return "instruction \(i): fused expression with \(ops) ops, \(leaves) leaves and \(nodes) nodes (1 to 256 ops, at most 256 leaves and nodes)"
        case .fusedOperandType(let site, let dtype, let type):
            return "\(site): \(type) in a fused \(dtype) expression (expected \(dtype) or bool)"
        case .fusedBroadcast(let site, let type, let result):
            return "\(site): fused leaf \(type) does not broadcast to \(result)"
        case .notFusable(let i, let j, let op):
            return "instruction \(i), fused op \(j): \(op.name) cannot be fused"
        case .fusedArguments(let i, let j, let op, let args, let registers):
            return "instruction \(i), fused op \(j): \(op.name) takes \(op.info.arity) of the registers below r\(registers), got \(args)"
        case .loopNesting(let i, let limit):
            return "instruction \(i): loops nest more than \(limit) deep"
        case .loopRegion(let i, let offset, let bytes, let arenaBytes):
            return "instruction \(i): the loop body's \(bytes) bytes at byte \(offset) are not a 64-aligned region of the arena of \(arenaBytes) bytes"
        case .loopRegionOverlaps(let i, let site):
            return "instruction \(i): the loop body's region shares bytes with \(site)"
        case .inLoopBody(let i, let error):
            return "instruction \(i), loop body: \(error.message)"
        case .loopShape(let i, let what):
            return "instruction \(i): loop: \(what)"
        case .loopOperandType(let site, let type, let expected):
            return "\(site): loop operand \(type), but its body needs \(expected)"
        }
    }

    public var description: String { message }

    /// The error as gradc reports it.
    public var diagnostic: Diagnostic {
        Diagnostic(.other("invalid bytecode: \(message)"))
    }
}
