import GradLowering
import GradRuntime
// The bytecode program: the serializable form of a compiled function.

/// A tensor register: a typed, dense buffer at a byte offset of the VM's arena.
public struct BytecodeOperand: Hashable, Sendable {
    public var type: TensorType
    /// Byte offset in the arena (a multiple of the element size).
    public var offset: Int
    public init(type: TensorType, offset: Int) {
        self.type = type
        self.offset = offset
    }
    /// Size of the buffer in bytes.
    public var byteCount: Int { type.count * type.dtype.byteSize }
}

/// One operation of a fused elementwise expression.
///
/// Registers `0 ..< leaves.count` hold the leaves; register `leaves.count + j` holds the
/// result of micro-op `j`. `args` name earlier registers. The last micro-op is the result.
public struct MicroOp: Hashable, Sendable {
    public var op: Op
    public var args: [Int]
    public init(op: Op, args: [Int]) {
        self.op = op
        self.args = args
    }
}

/// One VM instruction.
public enum BytecodeInstruction: Hashable, Sendable {
    /// `output = op(inputs…)` with the op's reference semantics. `node` is the IR node it
    /// comes from (for the disassembly and error messages).
    case op(Op, Attributes, inputs: [BytecodeOperand], output: BytecodeOperand, node: Int)
    /// A fused elementwise expression, computed in `dtype` (f32/f64) for every element of
    /// `output`, leaves broadcast. `nodes`: the IR nodes it evaluates, in order.
    case fused(dtype: DType, ops: [MicroOp], leaves: [BytecodeOperand], output: BytecodeOperand, nodes: [Int])
    /// Copies a buffer (same type) — used for outputs that are inputs, constants or repeats.
    case copy(from: BytecodeOperand, to: BytecodeOperand)
    /// Runs a loop body (a nested program) once per step (Loop.swift).
    case loop(BytecodeLoop)
}

/// A named buffer of the calling convention.
public struct BytecodeBinding: Hashable, Sendable {
    public var name: String
    public var operand: BytecodeOperand
    public init(name: String, operand: BytecodeOperand) {
        self.name = name
        self.operand = operand
    }
}

/// Constant data placed in the arena before the first run.
public struct BytecodeConstant: Hashable, Sendable {
    public var node: Int
    public var operand: BytecodeOperand
    /// The elements in the arena's representation: `operand.byteCount` bytes, or — a splat,
    /// every element the same — one element's bytes, repeated to fill the buffer (so that a
    /// `.gbc` does not grow with a filled constant, such as the ones seeding a loop's stacked
    /// cotangent, whose size is the trip count).
    public var bytes: [UInt8]
    public init(node: Int, operand: BytecodeOperand, bytes: [UInt8]) {
        self.node = node
        self.operand = operand
        self.bytes = bytes
    }
}

/// A compiled function for the VM: arena layout, constants, calling convention and
/// instructions. Produced from an `ExecutionPlan`, written to and read from `.gbc` files, and
/// turned into a runnable `VirtualMachine` (which validates everything first).
///
/// Arena layout: `[constants][inputs][outputs][workspace][loop bodies]`, each buffer aligned
/// to 64 bytes (8 for buffers under 64 bytes); `workspaceOffset` is where the plan's workspace
/// starts; each loop body's arena is a 64-aligned region after the workspace.
public struct BytecodeProgram: Hashable, Sendable {
    public var name: String
    public var arenaBytes: Int
    public var workspaceOffset: Int
    public var constants: [BytecodeConstant]
    public var inputs: [BytecodeBinding]
    public var outputs: [BytecodeBinding]
    public var instructions: [BytecodeInstruction]

    public init(name: String, arenaBytes: Int, workspaceOffset: Int, constants: [BytecodeConstant],
                inputs: [BytecodeBinding], outputs: [BytecodeBinding], instructions: [BytecodeInstruction]) {
        self.name = name
        self.arenaBytes = arenaBytes
        self.workspaceOffset = workspaceOffset
        self.constants = constants
        self.inputs = inputs
        self.outputs = outputs
        self.instructions = instructions
    }
}

// MARK: - Lowering a plan

extension BytecodeProgram {
    /// Lowers an execution plan: lays out the arena and emits one instruction per step.
    public init(plan: ExecutionPlan) throws(Diagnostic) {
        let f = plan.function
        let nodes = f.nodes
        var end = 0
        func place(_ type: TensorType) -> Int {
            let bytes = type.count * type.dtype.byteSize
            let align = bytes >= 64 ? 64 : 8
            let offset = (end + align - 1) / align * align
            end = offset + bytes
            return offset
        }
        var constantOffset: [ValueID: Int] = [:]
        var constants: [BytecodeConstant] = []
        for c in plan.constants {
            let node = nodes[c]
            let value: Tensor
            do {
                value = try evaluateOp(.const, node.attrs, [], resultType: node.type)
            } catch {
                var e = error
                if !e.location.isKnown { e.location = node.location }
                throw e
            }
            let operand = BytecodeOperand(type: node.type, offset: place(node.type))
            constantOffset[c] = operand.offset
            constants.append(BytecodeConstant(node: c, operand: operand, bytes: splatBytes(tensorBytes(value), elementSize: node.type.dtype.byteSize)))
        }
        var inputs: [BytecodeBinding] = []
        for p in f.parameters {
            inputs.append(BytecodeBinding(name: p.name, operand: BytecodeOperand(type: nodes[p.value].type, offset: place(nodes[p.value].type))))
        }
        var outputs: [BytecodeBinding] = []
        for o in f.outputs {
            outputs.append(BytecodeBinding(name: o.name, operand: BytecodeOperand(type: nodes[o.value].type, offset: place(nodes[o.value].type))))
        }
        let workspaceOffset = (end + 63) / 64 * 64
        var arenaBytes = workspaceOffset + plan.workspaceBytes

        func operand(_ id: ValueID) throws(Diagnostic) -> BytecodeOperand {
            let type = nodes[id].type
            let rooted = try rootOperand(id)
            return BytecodeOperand(type: type, offset: rooted.offset + plan.viewOffsets[id] * type.dtype.byteSize)
        }
        /// The operand at the start of the value's storage root's buffer.
        func rootOperand(_ id: ValueID) throws(Diagnostic) -> BytecodeOperand {
            let type = nodes[id].type
            switch plan.locations[id] {
            case .input(let k)?: return BytecodeOperand(type: type, offset: inputs[k].operand.offset)
            case .output(let k)?: return BytecodeOperand(type: type, offset: outputs[k].operand.offset)
            case .constant(let c)?:
                guard let offset = constantOffset[c] else { break }
                return BytecodeOperand(type: type, offset: offset)
            case .workspace(_, let offset)?: return BytecodeOperand(type: type, offset: workspaceOffset + offset)
            case nil: break
            }
            throw Diagnostic(.other("internal error: value %\(id) has no buffer"))
        }

        var instructions: [BytecodeInstruction] = []
        instructions.reserveCapacity(plan.steps.count + plan.outputCopies.count)
        for step in plan.steps {
            switch step {
            case .kernel(let id):
                let node = nodes[id]
                var ins: [BytecodeOperand] = []
                for i in node.inputs { ins.append(try operand(i)) }
                instructions.append(.op(node.op, node.attrs, inputs: ins, output: try operand(id), node: id))
            case .fused(let g, _):
                var register: [ValueID: Int] = [:]
                var leaves: [BytecodeOperand] = []
                for (k, leaf) in g.leaves.enumerated() {
                    register[leaf] = k
                    leaves.append(try operand(leaf))
                }
                var ops: [MicroOp] = []
                for m in g.nodes {
                    var args: [Int] = []
                    for i in nodes[m].inputs {
                        guard let r = register[i] else { throw Diagnostic(.other("internal error: fused operand %\(i) has no register")) }
                        args.append(r)
                    }
                    register[m] = g.leaves.count + ops.count
                    ops.append(MicroOp(op: nodes[m].op, args: args))
                }
                instructions.append(.fused(dtype: g.dtype, ops: ops, leaves: leaves, output: try operand(g.root), nodes: g.nodes))
            case .loop(let id):
                let region = (arenaBytes + 63) / 64 * 64
                let loop = try Self.loopInstruction(plan, id, region: region, operand: operand)
                arenaBytes = region + loop.body.arenaBytes
                instructions.append(.loop(loop))
            }
        }
        for copy in plan.outputCopies {
            let from = try operand(copy.value)
            let to = outputs[copy.output].operand
            instructions.append(.copy(from: BytecodeOperand(type: to.type, offset: from.offset), to: to))
        }
        self.init(name: f.name, arenaBytes: arenaBytes, workspaceOffset: workspaceOffset, constants: constants,
                  inputs: inputs, outputs: outputs, instructions: instructions)
    }

    /// Schedules, plans and lowers `f` (derivative requests must already be expanded).
    /// `onPhase`: called with each phase's name as it ends (`ExecutionPlan.phases`, then
    /// "bytecode"; `--timings`).
    public init(function f: Function, fuse: Bool = true, inPlace: Bool = true, onPhase: ((String) -> Void)? = nil) throws(Diagnostic) {
        try self.init(plan: ExecutionPlan(f, fuse: fuse, inPlace: inPlace, onPhase: onPhase))
        onPhase?("bytecode")
    }
}

/// `bytes` (elements of `elementSize` bytes), or its first element alone when there are several
/// and all are the same.
func splatBytes(_ bytes: [UInt8], elementSize: Int) -> [UInt8] {
    guard bytes.count > elementSize, elementSize > 0 else { return bytes }
    for i in stride(from: elementSize, to: bytes.count, by: elementSize) where bytes[i..<(i + elementSize)] != bytes[0..<elementSize] {
        return bytes
    }
    return Array(bytes[0..<elementSize])
}

/// The elements of a tensor as bytes in the arena's representation (native endian; bool as
/// one byte 0/1).
func tensorBytes(_ t: Tensor) -> [UInt8] {
    switch t.storage {
    case .f32(let v): return v.withUnsafeBytes { Array($0) }
    case .f64(let v): return v.withUnsafeBytes { Array($0) }
    case .i64(let v): return v.withUnsafeBytes { Array($0) }
    case .bool(let v): return v.map { $0 ? 1 : 0 }
    }
}
