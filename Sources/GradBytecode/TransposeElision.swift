import GradRuntime
// Link-time peephole: a 2-D transpose read only by matmuls is not materialized; the matmuls
// read its source through strides instead (same elements, same summation order).

/// Which `transpose` instructions to skip and which matmul operands read a transpose's source.
///
/// A transpose `O = transpose(S)` (rank 2, f32/f64) is elided when, from the transpose up to
/// the point where `O`'s bytes are next overwritten (or the end of the program):
/// - every instruction that reads bytes of `O` is a 2-D `matmul` naming `O` exactly;
/// - no instruction writes bytes of `S` before the last such read (the reading matmuls
///   included), and `O` and `S` are disjoint;
/// - `O` overlaps no output of the program (the caller would read it).
/// The analysis only looks at byte ranges, so it holds for any program the VM accepts; the
/// skipped transpose is still validated like any instruction.
struct TransposeElision {
    /// Indices of the transpose instructions not to run.
    var skipped: Set<Int> = []
    /// For a matmul instruction index: per operand position (0 = A, 1 = B), the source of the
    /// elided transpose it reads instead.
    var transposedOperands: [Int: [Int: BytecodeOperand]] = [:]

    /// Nothing elided.
    init() {}

    init(_ program: BytecodeProgram) {
        let instructions = program.instructions
        let outputs = program.outputs.compactMap { byteRange($0.operand) }
        for (i, instruction) in instructions.enumerated() {
            guard case .op(.transpose, let attrs, let inputs, let output, _) = instruction, inputs.count == 1,
                  output.type.rank == 2, output.type.dtype.isFloat, inputs[0].type.dtype == output.type.dtype,
                  inputs[0].type.rank == 2, (attrs.perm ?? [1, 0]) == [1, 0],
                  let o = byteRange(output), let s = byteRange(inputs[0]), !o.isEmpty, !o.overlaps(s),
                  !outputs.contains(where: { $0.overlaps(o) }) else { continue }
            var readers: [(Int, Int)] = []
            var sourceWritten = false
            var safe = true
            scan: for j in (i + 1)..<instructions.count {
                let (reads, write) = access(instructions[j])
                for (position, r) in reads.enumerated() {
                    guard let range = byteRange(r), range.overlaps(o) else { continue }
                    guard !sourceWritten, case .op(.matmul, _, let ins, let result, _) = instructions[j],
                          ins.count == 2, ins[0].type.rank == 2, ins[1].type.rank == 2, r == output,
                          let c = byteRange(result), !c.overlaps(s) else {
                        safe = false
                        break scan
                    }
                    readers.append((j, position))
                }
                guard let writes = write else {
                    safe = false
                    break
                }
                if writes.contains(where: { $0.overlaps(s) }) { sourceWritten = true }
                if writes.contains(where: { $0.overlaps(o) }) { break }
            }
            guard safe, !readers.isEmpty else { continue }
            skipped.insert(i)
            for (j, position) in readers { transposedOperands[j, default: [:]][position] = inputs[0] }
        }
    }
}

/// The operands an instruction reads and the bytes it writes (`nil`: not representable).
private func access(_ instruction: BytecodeInstruction) -> (reads: [BytecodeOperand], write: [Range<Int>]?) {
    func ranges(_ operands: [BytecodeOperand]) -> [Range<Int>]? {
        var r: [Range<Int>] = []
        for o in operands {
            guard let b = byteRange(o) else { return nil }
            r.append(b)
        }
        return r
    }
    switch instruction {
    case .op(_, _, let inputs, let output, _): return (inputs, ranges([output]))
    case .fused(_, _, let leaves, let output, _): return (leaves, ranges([output]))
    case .copy(let from, let to): return ([from], ranges([to]))
    case .loop(let loop):
        let (end, overflow) = loop.region.addingReportingOverflow(loop.body.arenaBytes)
        guard var writes = ranges(loop.finals.compactMap { $0 } + loop.stacked.compactMap { $0 }),
              !overflow, loop.region >= 0, end >= loop.region else { return (loop.operands, nil) }
        writes.append(loop.region..<end)
        return (loop.operands, writes)
    }
}

/// The bytes of an operand, or `nil` when its size is not representable (such a program is
/// refused at link time anyway).
private func byteRange(_ o: BytecodeOperand) -> Range<Int>? {
    guard let n = checkedElementCount(o.type.shape), o.offset >= 0 else { return nil }
    let (bytes, overflow1) = n.multipliedReportingOverflow(by: o.type.dtype.byteSize)
    let (end, overflow2) = o.offset.addingReportingOverflow(bytes)
    guard !overflow1, !overflow2 else { return nil }
    return o.offset..<end
}
