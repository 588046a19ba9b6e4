import GradRuntime

// Load-time validation: every check that makes a program safe to run. Kernel selection
// (KernelSelection.swift) takes only a `ValidatedProgram` and relies on these checks.

extension BytecodeProgram {
    /// Checks everything the VM relies on: the arena fits `limits`; every operand's bytes lie
    /// in the arena, aligned; constants, inputs and outputs are disjoint and each is used by
    /// the instructions only whole and in its declared dtype; every instruction's op, operand
    /// types and attributes satisfy the op's type rule and give the declared result type;
    /// fused expressions are well formed. The first failure is thrown.
    public func validate(limits: VMLimits = VMLimits()) throws(BytecodeValidationError) {
        var v = BytecodeValidator(program: self)
        try v.layout(limits: limits)
        for (i, instruction) in instructions.enumerated() {
            try v.instruction(instruction, at: i, limits: limits)
        }
    }
}

/// A program that passed `BytecodeProgram.validate`: what `KernelSelector` takes.
struct ValidatedProgram {
    let program: BytecodeProgram

    init(_ program: BytecodeProgram, limits: VMLimits) throws(BytecodeValidationError) {
        try program.validate(limits: limits)
        self.program = program
    }

    /// A loop body of a validated program (validated with it).
    init(trusted body: BytecodeProgram) {
        program = body
    }
}

struct BytecodeValidator {
    let program: BytecodeProgram
    /// The non-empty constants, inputs and outputs, sorted by offset (disjoint once
    /// `layout` has run).
    var buffers: [(site: OperandSite, operand: BytecodeOperand, bytes: Range<Int>)] = []

    /// How many loop bodies enclose `program` (0: the top-level program).
    let depth: Int
    /// How many times `program` runs per evaluation: the enclosing loops' trip counts
    /// multiplied (1 for the top-level program).
    let runs: Int
    /// Body runs of the loops validated so far, nested ones included (≤ `maxLoopSteps`).
    var loopRuns = 0

    init(program: BytecodeProgram, depth: Int = 0, runs: Int = 1) {
        self.program = program
        self.depth = depth
        self.runs = runs
    }

    /// The arena, the workspace offset, and the constants, inputs and outputs.
    mutating func layout(limits: VMLimits) throws(BytecodeValidationError) {
        let p = program
        guard p.arenaBytes >= 0, p.arenaBytes <= limits.maxArenaBytes else {
            throw .arenaTooLarge(bytes: p.arenaBytes, limit: limits.maxArenaBytes)
        }
        guard p.workspaceOffset >= 0, p.workspaceOffset <= p.arenaBytes else {
            throw .workspaceOutsideArena(offset: p.workspaceOffset, arenaBytes: p.arenaBytes)
        }
        for (k, c) in p.constants.enumerated() {
            let bytes = try range(c.operand, .constant(k))
            guard c.bytes.count == bytes.count || (c.bytes.count == c.operand.type.dtype.byteSize && !bytes.isEmpty) else {
                throw .constantSize(constant: k, bytes: c.bytes.count, expected: bytes.count)
            }
            buffers.append((.constant(k), c.operand, bytes))
        }
        for (k, b) in p.inputs.enumerated() { buffers.append((.input(k), b.operand, try range(b.operand, .input(k)))) }
        for (k, b) in p.outputs.enumerated() { buffers.append((.output(k), b.operand, try range(b.operand, .output(k)))) }
        buffers.removeAll { $0.bytes.isEmpty }
        // By offset, then in program order (so that the message names the same pair each time).
        buffers = buffers.enumerated().sorted { ($0.element.bytes.lowerBound, $0.offset) < ($1.element.bytes.lowerBound, $1.offset) }.map(\.element)
        // Sorted by start: a buffer overlapping any earlier one overlaps the one ending last.
        var last: Int?
        for k in buffers.indices {
            if let j = last, buffers[j].bytes.overlaps(buffers[k].bytes) {
                throw .overlappingBuffers(buffers[j].site, buffers[k].site)
            }
            if last.map({ buffers[$0].bytes.upperBound < buffers[k].bytes.upperBound }) ?? true { last = k }
        }
    }

    /// The bytes of `o`, after checking its shape, that they lie in the arena, and alignment.
    func range(_ o: BytecodeOperand, _ site: OperandSite) throws(BytecodeValidationError) -> Range<Int> {
        guard let n = checkedElementCount(o.type.shape) else { throw .invalidShape(site, o.type.shape) }
        let size = o.type.dtype.byteSize
        let (bytes, overflow1) = n.multipliedReportingOverflow(by: size)
        let (end, overflow2) = o.offset.addingReportingOverflow(bytes)
        guard !overflow1, !overflow2, o.offset >= 0, end <= program.arenaBytes else {
            throw .outsideArena(site, o.type, offset: o.offset, arenaBytes: program.arenaBytes)
        }
        guard o.offset % size == 0 else { throw .misaligned(site, offset: o.offset, alignment: size) }
        return o.offset..<end
    }

    /// Checks an operand an instruction reads or writes: `range`, and if it touches a
    /// constant, input or output, that it lies inside that buffer in its declared dtype, and
    /// is the whole buffer when an input or constant is written (a view of it, such as a
    /// reshape, has the same bytes). Reads of parts are contiguous slices; writes of parts of
    /// an output are a concat's operands computed in place.
    func use(_ o: BytecodeOperand, _ site: OperandSite) throws(BytecodeValidationError) {
        let bytes = try range(o, site)
        guard !bytes.isEmpty, let b = lastBuffer(startingBelow: bytes.upperBound), b.bytes.overlaps(bytes) else { return }
        // Whole for a write into an input or constant; a part of an output may be written (a
        // concat's operand computed in place) and a part of anything read.
        var whole = false
        if case .result = site {
            if case .output = b.site {} else { whole = true }
        }
        let fits = whole ? b.bytes == bytes : b.bytes.lowerBound <= bytes.lowerBound && bytes.upperBound <= b.bytes.upperBound
        guard fits, b.operand.type.dtype == o.type.dtype, (bytes.lowerBound - b.bytes.lowerBound) % b.operand.type.dtype.byteSize == 0 else {
            throw .bufferMismatch(site, o, buffer: b.site, declared: b.operand)
        }
    }

    /// The constant, input or output starting last below byte `end`: the only one that can
    /// overlap a range ending there without overlapping another (they are disjoint and sorted).
    func lastBuffer(startingBelow end: Int) -> (site: OperandSite, operand: BytecodeOperand, bytes: Range<Int>)? {
        var lo = 0
        var hi = buffers.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if buffers[mid].bytes.lowerBound < end { lo = mid + 1 } else { hi = mid }
        }
        return lo > 0 ? buffers[lo - 1] : nil
    }

    mutating func instruction(_ instruction: BytecodeInstruction, at i: Int, limits: VMLimits) throws(BytecodeValidationError) {
        switch instruction {
        case .loop(let l):
            try loop(l, at: i, limits: limits)

        case .copy(let from, let to):
            try use(from, .operand(instruction: i, position: 0))
            try use(to, .result(instruction: i))
            guard from.byteCount == to.byteCount else { throw .copySize(instruction: i, from: from.type, to: to.type) }

        case .fused(let dtype, let ops, let leaves, let output, let nodes):
            guard dtype.isFloat else { throw .fusedDType(instruction: i, dtype) }
            guard !ops.isEmpty, ops.count <= 256, leaves.count <= 256, nodes.count <= 256 else {
                throw .fusedSize(instruction: i, ops: ops.count, leaves: leaves.count, nodes: nodes.count)
            }
            let result = OperandSite.result(instruction: i)
            try use(output, result)
            guard output.type.dtype == dtype || output.type.dtype == .bool else { throw .fusedOperandType(result, dtype: dtype, output.type) }
            for (k, leaf) in leaves.enumerated() {
                let site = OperandSite.operand(instruction: i, position: k)
                try use(leaf, site)
                guard leaf.type.dtype == dtype || leaf.type.dtype == .bool else { throw .fusedOperandType(site, dtype: dtype, leaf.type) }
                guard broadcastShapes(leaf.type.shape, output.type.shape) == output.type.shape else {
                    throw .fusedBroadcast(site, leaf.type, result: output.type)
                }
            }
            for (j, m) in ops.enumerated() {
                guard m.op.elementwise != nil else { throw .notFusable(instruction: i, microOp: j, m.op) }
                let registers = leaves.count + j
                guard m.op.info.arity.accepts(m.args.count), m.args.allSatisfy({ $0 >= 0 && $0 < registers }) else {
                    throw .fusedArguments(instruction: i, microOp: j, m.op, args: m.args, registers: registers)
                }
            }

        case .op(let op, let attrs, let inputs, let output, _):
            switch op {
            case .input, .grad, .jacobian, .hessian, .jvp, .hvp: throw .notAnInstruction(instruction: i, op)
            default: break
            }
            for (k, o) in inputs.enumerated() { try use(o, .operand(instruction: i, position: k)) }
            try use(output, .result(instruction: i))
            let inferred: TensorType
            do {
                inferred = try op.inferType(inputs.map(\.type), attrs)
            } catch {
                throw .typeRule(instruction: i, op, message: error.message)
            }
            guard inferred == output.type else {
                throw .resultType(instruction: i, op, operands: inputs.map(\.type), inferred: inferred, declared: output.type)
            }
        }
    }
}
