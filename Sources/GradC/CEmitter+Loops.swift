import GradRuntime
import GradLowering

// Loops in C: each loop's body is a static function with the calling convention of every
// emitted function (`in`, `out`, workspace), called once per step from a `for` loop. Nothing is
// copied per step: the body reads its sequence rows and writes its per-step outputs in place
// (pointers into the stacked buffers), and each carry is double-buffered — the body reads one
// buffer and writes the other, the roles swapping every step, arranged so that the last step
// writes the loop's final-carry buffer.

/// Where one loop's buffers live: a region of the enclosing function's workspace, after its
/// own buffers, holding the second buffer of each carry, a carry buffer for a final carry no
/// one reads, a row for a per-step output no one reads, then the body's workspace.
struct LoopEmission {
    let signature: ScanSignature
    let plan: LoopPlan
    let body: FunctionEmitter
    /// Byte offset of the region in the enclosing workspace.
    let region: Int
    /// Offsets (in the enclosing workspace) of each carry's second buffer.
    var carryScratch: [Int] = []
    /// Offsets of the final carries' buffers that are not a result (`nil`: the result's).
    var finalScratch: [Int?] = []
    /// Offsets of the rows of per-step outputs that are not a result.
    var rowScratch: [Int?] = []
    var bodyWorkspace = 0
    /// Bytes of the region.
    var bytes = 0

    init(_ plan: LoopPlan, body: FunctionEmitter, region: Int, f: Function, id: ValueID) {
        self.signature = plan.signature
        self.plan = plan
        self.body = body
        self.region = region
        let bf = plan.body.function
        var end = region
        func take(_ type: TensorType) -> Int {
            let offset = (end + 63) / 64 * 64
            end = offset + type.count * type.dtype.byteSize
            return offset
        }
        let s = plan.signature
        for j in 0..<s.carries {
            let t = bf.type(of: bf.outputs[j].value)
            carryScratch.append(take(t))
            finalScratch.append(plan.results[j] == nil ? take(t) : nil)
        }
        for k in s.carries..<bf.outputs.count {
            rowScratch.append(plan.results[k] == nil ? take(bf.type(of: bf.outputs[k].value)) : nil)
        }
        bodyWorkspace = (end + 63) / 64 * 64
        bytes = bodyWorkspace + body.workspaceBytes - region
    }
}

extension FunctionEmitter {
    /// Emits every loop body's function (and theirs), returning their C text, which must
    /// precede this function's.
    func emitLoopBodies() throws(Diagnostic) -> String {
        var text = ""
        for case .loop(let id) in plan.steps {
            // A zero-trip loop never calls its body (an unused static function would warn).
            guard let e = loops[id], e.signature.length > 0 else { continue }
            try e.body.emit()
            text += e.body.w.text
            matmulTypes.formUnion(e.body.matmulTypes)
            usesThreads = usesThreads || e.body.usesThreads
        }
        return text
    }

    /// The `for` loop of `scan` node `id`, calling its body once per step.
    func emitLoop(_ id: ValueID) throws(Diagnostic) {
        guard let e = loops[id] else { throw Diagnostic(.other("C backend: loop %\(id) has no plan")) }
        let s = e.signature
        let node = f.nodes[id]
        let bf = e.plan.body.function
        let n = s.length
        w.open("")
        w.line("/* body \(e.body.fn), \(n) step\(n == 1 ? "" : "s")\(s.reverse ? ", last row first" : "") */")
        // Carry j's two buffers: R (the final carry's) and S, with buffer k (after k steps)
        // R when T − k is even, so that step T − 1 writes R.
        var buffers: [(r: String, s: String, bytes: Int)] = []
        for j in 0..<s.carries {
            let t = bf.type(of: bf.outputs[j].value)
            let r: String
            if let result = e.plan.results[j] { r = try destination(result) } else { r = "(ws + \(e.finalScratch[j] ?? 0))" }
            buffers.append(("(void *)\(r)", "(void *)(ws + \(e.carryScratch[j]))", t.count * t.dtype.byteSize))
        }
        if n == 0 {
            for j in 0..<s.carries where e.plan.results[j] != nil && buffers[j].bytes > 0 {
                w.line("memcpy(\(buffers[j].r), \(try pointer(node.inputs[j])), \(buffers[j].bytes));")
            }
            w.close()
            return
        }
        w.line("const void *bin[\(max(bf.parameters.count, 1))];")
        w.line("void *bout[\(max(bf.outputs.count, 1))];")
        let firstInput = s.indexed ? 1 : 0
        if s.indexed {
            w.line("int64_t step = 0;")
            w.line("bin[0] = &step;")
        }
        for k in s.invariantOperands {
            w.line("bin[\(s.parameter(ofOperand: k))] = \(try pointer(node.inputs[k]));")
        }
        w.open("for (long s = 0; s < \(n); s++)")
        if s.indexed || s.over > 0 || bf.outputs.count > s.carries {
            w.line("const long t = \(s.reverse ? "\(n - 1) - s" : "s");")
        }
        if s.indexed { w.line("step = t;") }
        for j in 0..<s.carries {
            let b = buffers[j]
            w.line("bin[\(firstInput + j)] = s == 0 ? (const void *)\(try pointer(node.inputs[j])) : ((\(n) - s) & 1 ? \(b.s) : \(b.r));")
            w.line("bout[\(j)] = (\(n - 1) - s) & 1 ? \(b.s) : \(b.r);")
        }
        for k in s.overOperands {
            let row = bf.type(of: bf.parameters[s.parameter(ofOperand: k)].value)
            w.line("bin[\(s.parameter(ofOperand: k))] = (const unsigned char *)\(try pointer(node.inputs[k])) + t * \(row.count * row.dtype.byteSize);")
        }
        for k in s.carries..<bf.outputs.count {
            let row = bf.type(of: bf.outputs[k].value)
            if let result = e.plan.results[k] {
                w.line("bout[\(k)] = (unsigned char *)\(try destination(result)) + t * \(row.count * row.dtype.byteSize);")
            } else {
                w.line("bout[\(k)] = ws + \(e.rowScratch[k - s.carries] ?? 0);")
            }
        }
        if let g = s.gate, g < s.carries {
            // A closed gate carry stays closed (a skipped step leaves the carries alone), so
            // every remaining step is skipped: each carry moves to the final buffer, the
            // remaining per-step output rows (t..<n, or 0...t backwards) are zeroed, and the
            // loop ends.
            w.open("if (*(const unsigned char *)bin[\(s.parameter(ofOperand: g))] == 0)")
            for j in 0..<s.carries where buffers[j].bytes > 0 {
                w.line("if (bin[\(firstInput + j)] != \(buffers[j].r)) memcpy(\(buffers[j].r), bin[\(firstInput + j)], \(buffers[j].bytes));")
            }
            for k in s.carries..<bf.outputs.count where e.plan.results[k] != nil {
                let row = bf.type(of: bf.outputs[k].value)
                let bytes = row.count * row.dtype.byteSize
                guard bytes > 0, let result = e.plan.results[k] else { continue }
                w.line("memset((unsigned char *)\(try destination(result)) + \(s.reverse ? "0" : "t * \(bytes)"), 0, (size_t)(\(n) - s) * \(bytes));")
            }
            w.line("break;")
            w.close()
        } else if let g = s.gate {
            // A step the gate closes is skipped: each carry moves to the buffer the step would
            // have written, its per-step outputs are zero.
            w.open("if (*(const unsigned char *)bin[\(s.parameter(ofOperand: g))] == 0)")
            for j in 0..<s.carries where buffers[j].bytes > 0 {
                w.line("memcpy(bout[\(j)], bin[\(firstInput + j)], \(buffers[j].bytes));")
            }
            for k in s.carries..<bf.outputs.count {
                let row = bf.type(of: bf.outputs[k].value)
                if row.count > 0 { w.line("memset(bout[\(k)], 0, \(row.count * row.dtype.byteSize));") }
            }
            w.line("continue;")
            w.close()
        }
        w.line("if (\(e.body.fn)(bin, bout, ws + \(e.bodyWorkspace)) != 0) \(failureStatement)")
        emittedFailure = true
        w.close()
        w.close()
    }
}
