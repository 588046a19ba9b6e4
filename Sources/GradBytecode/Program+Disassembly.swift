import GradRuntime

// Readable disassembly: `gradc emit model.ir --format bytecode`.

extension BytecodeProgram {
    /// Name of the buffer at `offset`: an input or output name, `c<k>` for constant k, or
    /// `ws+<offset>` for the workspace.
    func bufferName(_ offset: Int) -> String {
        if let b = inputs.first(where: { $0.operand.offset == offset }) { return b.name }
        if let k = outputs.firstIndex(where: { $0.operand.offset == offset }) { return "out\(k):\(outputs[k].name)" }
        if let k = constants.firstIndex(where: { $0.operand.offset == offset }) { return "c\(k)" }
        return offset >= workspaceOffset ? "ws+\(offset - workspaceOffset)" : "@\(offset)"
    }

    func describe(_ o: BytecodeOperand) -> String {
        "\(bufferName(o.offset)):\(o.type)"
    }

    /// One line per instruction: index, mnemonic, result register (buffer and type), operand
    /// registers, and the IR node(s) it comes from. The header lists the arena layout.
    public func disassembly() -> String {
        var lines: [String] = []
        lines.append("; gradc bytecode v\(bytecodeFormatVersion) — function \(name)")
        let hasLoops = instructions.contains { if case .loop = $0 { return true } else { return false } }
        lines.append("; arena \(arenaBytes) bytes: constants, inputs and outputs below \(workspaceOffset), workspace\(hasLoops ? " and loop bodies" : "") \(arenaBytes - workspaceOffset) bytes from \(workspaceOffset)")
        for (k, c) in constants.enumerated() {
            let preview = c.operand.type.count <= 4 ? " = " + formatTensor(readConstant(c)) : ""
            lines.append(";   const c\(k) @\(c.operand.offset): \(c.operand.type) from %\(c.node)\(preview)")
        }
        for b in inputs { lines.append(";   input \(b.name) @\(b.operand.offset): \(b.operand.type)") }
        for (k, b) in outputs.enumerated() { lines.append(";   output out\(k):\(b.name) @\(b.operand.offset): \(b.operand.type)") }
        for (i, instruction) in instructions.enumerated() {
            let index = String(i).leftPadded(4)
            switch instruction {
            case .op(let op, let attrs, let ins, let out, let node):
                let attrText = attrs.isEmpty ? "" : " {" + attrs.items.map { "\($0.key.rawValue)=\($0.value)" }.joined(separator: ", ") + "}"
                lines.append("\(index)  \(op.name.rightPadded(12)) \(describe(out)) <- \(ins.map(describe).joined(separator: ", "))\(attrText)  ; %\(node)")
            case .fused(let dtype, let ops, let leaves, let out, let nodes):
                lines.append("\(index)  \("fused.\(dtype)".rightPadded(12)) \(describe(out)) <- \(leaves.enumerated().map { "r\($0.offset)=\(describe($0.element))" }.joined(separator: ", "))  ; \(nodes.map { "%\($0)" }.joined(separator: " "))")
                for (j, m) in ops.enumerated() {
                    lines.append("        r\(leaves.count + j) = \(m.op.name)(\(m.args.map { "r\($0)" }.joined(separator: ", ")))")
                }
            case .copy(let from, let to):
                lines.append("\(index)  \("copy".rightPadded(12)) \(describe(to)) <- \(describe(from))")
            case .loop(let l):
                let results = (l.finals + l.stacked).map { $0.map(describe) ?? "_" }
                let groups = ["carry", "over", "with"].enumerated().map { k, g in
                    (g, [l.carries, l.sequences, l.invariants][k].map(describe))
                }.filter { !$0.1.isEmpty }.map { "\($0.0)=(\($0.1.joined(separator: ", ")))" }
                let flags = (l.reverse ? " reverse" : "") + (l.indexed ? " indexed" : "") + (l.gate.map { " gate=in\($0)" } ?? "")
                lines.append("\(index)  \("loop".rightPadded(12)) \(results.joined(separator: ", ")) <- \(groups.joined(separator: " ")) {length=\(l.length)\(flags)}, body at @\(l.region)  ; %\(l.node)")
                let body = l.body.disassembly().split(separator: "\n", omittingEmptySubsequences: false).dropLast()
                lines += body.map { "      | " + $0 }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func readConstant(_ c: BytecodeConstant) -> Tensor {
        let n = c.operand.byteCount
        let bytes = c.bytes.count == n ? c.bytes : Array(repeating: c.bytes, count: c.bytes.isEmpty ? 0 : n / c.bytes.count).flatMap { $0 }
        return bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, raw.count == n else { return Tensor(0) }
            let aligned = UnsafeMutableRawPointer.allocate(byteCount: max(raw.count, 1), alignment: 16)
            defer { aligned.deallocate() }
            aligned.copyMemory(from: base, byteCount: raw.count)
            return readTensor(UnsafeRawPointer(aligned), c.operand.type)
        }
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
    func rightPadded(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
