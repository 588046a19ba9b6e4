import GradLowering
import GradRuntime
// Loops in bytecode: a `loop` instruction holds its body's program, so a program's size does
// not depend on any trip count. The body runs in a region of the enclosing arena (after the
// workspace, never shared), laid out like any program's arena: `[constants][inputs][outputs]
// [workspace][regions of its own loops]`. Each step copies the sequence rows in, runs the
// body, copies its per-step outputs to their rows and its new carries back to its carry
// inputs (a copy costs what the body already reads and writes once per step).

/// A `scan` node as an instruction. Operands are in the enclosing arena; `body`'s operands are
/// relative to `region`.
public struct BytecodeLoop: Hashable, Sendable {
    /// The IR node it comes from.
    public var node: Int
    public var length: Int
    public var reverse: Bool
    /// The body's first input is the step number (i64).
    public var indexed: Bool
    /// The body input (a bool carry or sequence row) that gates each step (`ScanSignature.gate`):
    /// a step it closes is skipped, its per-step outputs zero.
    public var gate: Int?
    /// Byte offset of the body's arena in the enclosing arena (a multiple of 64).
    public var region: Int
    /// The initial carries.
    public var carries: [BytecodeOperand]
    /// Where each final carry goes (`nil`: nothing reads it).
    public var finals: [BytecodeOperand?]
    /// The sequences iterated over axis 0 (`[length, …row]`).
    public var sequences: [BytecodeOperand]
    public var invariants: [BytecodeOperand]
    /// Where each per-step output is stacked (`[length, …]`; `nil`: nothing reads it).
    public var stacked: [BytecodeOperand?]
    /// The body: inputs (step number?, carries, rows, invariants), outputs (new carries,
    /// per-step outputs).
    public var body: BytecodeProgram

    public init(node: Int, length: Int, reverse: Bool, indexed: Bool, gate: Int? = nil, region: Int, carries: [BytecodeOperand],
                finals: [BytecodeOperand?], sequences: [BytecodeOperand], invariants: [BytecodeOperand],
                stacked: [BytecodeOperand?], body: BytecodeProgram) {
        self.node = node
        self.length = length
        self.reverse = reverse
        self.indexed = indexed
        self.gate = gate
        self.region = region
        self.carries = carries
        self.finals = finals
        self.sequences = sequences
        self.invariants = invariants
        self.stacked = stacked
        self.body = body
    }

    /// Everything the loop reads, in the order of the `scan` node's operands.
    public var operands: [BytecodeOperand] { carries + sequences + invariants }
    /// Index of the body input of carry `j` (sequence and invariant inputs follow).
    var firstCarryInput: Int { indexed ? 1 : 0 }
}

/// Loops nest at most this deep in a program (a file cannot make validation or linking recurse
/// further).
public let maxLoopNesting = 32

// MARK: - Lowering

extension BytecodeProgram {
    /// The instruction of plan step `.loop(id)`: the body lowered on its own, placed at `region`.
    static func loopInstruction(_ plan: ExecutionPlan, _ id: ValueID, region: Int,
                                operand: (ValueID) throws(Diagnostic) -> BytecodeOperand) throws(Diagnostic) -> BytecodeLoop {
        guard let lp = plan.loops[id] else { throw Diagnostic(.other("internal error: loop %\(id) has no plan")) }
        let node = plan.function.nodes[id]
        let s = lp.signature
        var ops: [BytecodeOperand] = []
        for i in node.inputs { ops.append(try operand(i)) }
        var results: [BytecodeOperand?] = []
        for r in lp.results { results.append(try r.map(operand)) }
        return BytecodeLoop(node: id, length: s.length, reverse: s.reverse, indexed: s.indexed,
                            gate: s.gate.map { s.parameter(ofOperand: $0) }, region: region,
                            carries: Array(ops[s.carryOperands]), finals: Array(results[0..<s.carries]),
                            sequences: Array(ops[s.overOperands]), invariants: Array(ops[s.invariantOperands]),
                            stacked: Array(results[s.carries...]), body: try BytecodeProgram(plan: lp.body))
    }
}

// MARK: - Validation

extension BytecodeValidator {
    /// A loop instruction: its region lies in the arena, 64-aligned, clear of the constants,
    /// inputs and outputs; its body is a valid program; every operand has the type the body's
    /// inputs and outputs give it.
    mutating func loop(_ loop: BytecodeLoop, at i: Int, limits: VMLimits) throws(BytecodeValidationError) {
        guard depth + 1 < maxLoopNesting else { throw .loopNesting(instruction: i, limit: maxLoopNesting) }
        let body = loop.body
        let (end, overflow) = loop.region.addingReportingOverflow(body.arenaBytes)
        guard loop.region >= 0, !overflow, end <= program.arenaBytes, loop.region % 64 == 0 else {
            throw .loopRegion(instruction: i, offset: loop.region, bytes: body.arenaBytes, arenaBytes: program.arenaBytes)
        }
        if let b = lastBuffer(startingBelow: end), b.bytes.overlaps(loop.region..<end) {
            throw .loopRegionOverlaps(instruction: i, b.site)
        }
        guard loop.length >= 0, loop.length <= maxElementCount else { throw .loopShape(instruction: i, "trip count \(loop.length)") }
        // Body runs per evaluation: this loop's (its trip count times the enclosing loops'),
        // its siblings' and its nested loops', all counted against one limit.
        let (runs, overflow2) = self.runs.multipliedReportingOverflow(by: loop.length)
        let (total, overflow3) = loopRuns.addingReportingOverflow(runs)
        guard !overflow2, !overflow3, total <= limits.maxLoopSteps else {
            throw .loopShape(instruction: i, "\(loop.length) steps make \(overflow2 || overflow3 ? "too many" : "\(total)") body runs per evaluation, with the other loops' (the limit is \(limits.maxLoopSteps))")
        }
        loopRuns = total
        do {
            var v = BytecodeValidator(program: body, depth: depth + 1, runs: max(runs, 1))
            v.loopRuns = loopRuns
            try v.layout(limits: limits)
            for (k, instruction) in body.instructions.enumerated() { try v.instruction(instruction, at: k, limits: limits) }
            loopRuns = v.loopRuns
        } catch {
            throw .inLoopBody(instruction: i, error)
        }
        let c = loop.firstCarryInput
        let inputs = c + loop.carries.count + loop.sequences.count + loop.invariants.count
        guard body.inputs.count == inputs, body.outputs.count == loop.carries.count + loop.stacked.count,
              loop.finals.count == loop.carries.count else {
            throw .loopShape(instruction: i, "the body takes \(body.inputs.count) inputs and returns \(body.outputs.count) values, but the loop passes \(inputs) and takes \(loop.carries.count + loop.stacked.count)")
        }
        if loop.indexed, body.inputs[0].operand.type != TensorType(.i64) {
            throw .loopShape(instruction: i, "the step number is an input of type \(body.inputs[0].operand.type), not i64")
        }
        if let g = loop.gate {
            let gated = loop.firstCarryInput..<(loop.firstCarryInput + loop.carries.count + loop.sequences.count)
            guard gated.contains(g), body.inputs[g].operand.type == TensorType(.bool) else {
                throw .loopShape(instruction: i, "the gate is body input \(g), which is not a bool carry or sequence row")
            }
        }
        var position = 0
        func operand(_ o: BytecodeOperand, _ expected: TensorType) throws(BytecodeValidationError) {
            let site = OperandSite.operand(instruction: i, position: position)
            position += 1
            try use(o, site)
            guard o.type == expected else { throw .loopOperandType(site, o.type, expected: expected) }
        }
        func stacked(_ row: TensorType) -> TensorType { row.with(shape: [loop.length] + row.shape) }
        for (j, o) in loop.carries.enumerated() {
            let t = body.inputs[c + j].operand.type
            guard body.outputs[j].operand.type == t else {
                throw .loopShape(instruction: i, "carry \(j) enters the body as \(t) but leaves it as \(body.outputs[j].operand.type)")
            }
            try operand(o, t)
        }
        for (j, o) in loop.sequences.enumerated() { try operand(o, stacked(body.inputs[c + loop.carries.count + j].operand.type)) }
        for (j, o) in loop.invariants.enumerated() {
            try operand(o, body.inputs[c + loop.carries.count + loop.sequences.count + j].operand.type)
        }
        for (j, o) in loop.finals.enumerated() {
            guard let o else { continue }
            try use(o, .result(instruction: i))
            guard o.type == body.outputs[j].operand.type else { throw .loopOperandType(.result(instruction: i), o.type, expected: body.outputs[j].operand.type) }
        }
        for (j, o) in loop.stacked.enumerated() {
            guard let o else { continue }
            let t = stacked(body.outputs[loop.carries.count + j].operand.type)
            try use(o, .result(instruction: i))
            guard o.type == t, checkedElementCount(t.shape) != nil else { throw .loopOperandType(.result(instruction: i), o.type, expected: t) }
        }
    }
}

// MARK: - Running

/// Runs a loop instruction: the body's linked code over its region, once per step.
final class LoopKernel: VMKernel {
    let code: [ScalarInstruction]
    let kernels: [any VMKernel]
    let scratchBytes: Int
    let failures: FailureBox
    let location: SourceLocation
    let region: Int
    let length: Int
    let reverse: Bool
    /// Offset of the step-number input in the region (`nil` unless indexed).
    let stepInput: Int?
    /// The gate's byte: a carry's (its body input, fixed) or a sequence's (row t at + t).
    let gateCarry: Int?
    let gateSequence: Int?
    /// Copies (from, to, bytes): arena → region once before the first step (initial carries,
    /// invariants), region → region after each step (new carries), region → arena after the
    /// last step (final carries).
    let enter: [(Int, Int, Int)]
    let carryBack: [(Int, Int, Int)]
    let leave: [(Int, Int, Int)]
    /// Per step: a row of each sequence (arena, row bytes) into the region; each kept per-step
    /// output from the region into its row of the arena.
    let rowsIn: [(Int, Int, Int)]
    let rowsOut: [(Int, Int, Int)]

    /// `loop` passed validation; its body was linked into `code` and `kernels`.
    init(_ loop: BytecodeLoop, code: [ScalarInstruction], kernels: [any VMKernel], failures: FailureBox, location: SourceLocation) {
        self.code = code
        self.kernels = kernels
        self.failures = failures
        self.location = location
        scratchBytes = kernels.map(\.scratchBytes).max() ?? 0
        region = loop.region
        length = loop.length
        reverse = loop.reverse
        let b = loop.body
        let r = loop.region
        stepInput = loop.indexed ? r + b.inputs[0].operand.offset : nil
        let c = loop.firstCarryInput
        let gateIsCarry = loop.gate.map { $0 < c + loop.carries.count } ?? false
        gateCarry = gateIsCarry ? loop.gate.map { r + b.inputs[$0].operand.offset } : nil
        gateSequence = gateIsCarry ? nil : loop.gate.map { loop.sequences[$0 - c - loop.carries.count].offset }
        var enter: [(Int, Int, Int)] = []
        var carryBack: [(Int, Int, Int)] = []
        var leave: [(Int, Int, Int)] = []
        for (j, o) in loop.carries.enumerated() {
            let input = r + b.inputs[c + j].operand.offset
            enter.append((o.offset, input, o.byteCount))
            carryBack.append((r + b.outputs[j].operand.offset, input, o.byteCount))
            if let f = loop.finals[j] { leave.append((input, f.offset, o.byteCount)) }
        }
        let firstInvariant = c + loop.carries.count + loop.sequences.count
        for (j, o) in loop.invariants.enumerated() {
            enter.append((o.offset, r + b.inputs[firstInvariant + j].operand.offset, o.byteCount))
        }
        self.enter = enter
        self.carryBack = carryBack
        self.leave = leave
        rowsIn = loop.sequences.enumerated().map { j, o in
            let row = b.inputs[c + loop.carries.count + j].operand
            return (o.offset, r + row.offset, row.byteCount)
        }
        rowsOut = loop.stacked.enumerated().compactMap { j, o in
            guard let o else { return nil }
            let row = b.outputs[loop.carries.count + j].operand
            return (r + row.offset, o.offset, row.byteCount)
        }
    }

    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        @inline(__always) func copy(_ c: (Int, Int, Int), from: Int = 0, to: Int = 0) {
            if c.2 > 0 { (base + c.1 + to).copyMemory(from: base + c.0 + from, byteCount: c.2) }
        }
        for c in enter { copy(c) }
        let body = base + region
        code.withUnsafeBufferPointer { code in
            kernels.withUnsafeBufferPointer { kernels in
                for s in 0..<length {
                    let t = reverse ? length - 1 - s : s
                    if let g = gateCarry, base.load(fromByteOffset: g, as: UInt8.self) == 0 {
                        // A closed gate carry stays closed (a skipped step leaves the carries
                        // alone), so every remaining step is skipped: their rows (t..<length,
                        // or 0...t backwards) are zeroed at once and the loop ends.
                        let first = reverse ? 0 : t
                        for c in rowsOut where c.2 > 0 {
                            (base + c.1 + first * c.2).initializeMemory(as: UInt8.self, repeating: 0, count: (length - s) * c.2)
                        }
                        break
                    }
                    if let g = gateSequence.map({ $0 + t }), base.load(fromByteOffset: g, as: UInt8.self) == 0 {
                        // Skipped: the carries stay in the body's inputs; per-step outputs zero.
                        for c in rowsOut where c.2 > 0 { (base + c.1 + t * c.2).initializeMemory(as: UInt8.self, repeating: 0, count: c.2) }
                        continue
                    }
                    if let stepInput { base.storeBytes(of: Int64(t), toByteOffset: stepInput, as: Int64.self) }
                    for c in rowsIn { copy(c, from: t * c.2) }
                    runScalarMachine(code, kernels, body, scratch)
                    for c in rowsOut { copy(c, to: t * c.2) }
                    for c in carryBack { copy(c) }
                }
            }
        }
        for c in leave { copy(c) }
        if var e = failures.take(arena: body) {
            if !e.location.isKnown { e.location = location }
            failures.report(e, arena: base)
        }
    }
}
