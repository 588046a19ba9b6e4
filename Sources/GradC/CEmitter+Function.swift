import GradRuntime
import GradLowering

/// Emits one function from its execution plan (schedule, fusion groups, buffer plan).
///
/// Two regimes share the plan:
/// - tensor steps become blocks with loops (fused elementwise loops with broadcasting,
///   reductions, the matmul kernel, data movement), reading and writing the plan's buffers;
/// - elementwise steps of one element (large scalar graphs) become straight-line statements
///   on `const` locals, cut into functions of `chunkStatements` statements; a scalar is
///   stored to its planned buffer only when another function, a non-scalar step or an output
///   needs it. Long repetitions of the same steps are re-rolled into loops
///   (CEmitter+Reroll.swift).
final class FunctionEmitter {
    let plan: ExecutionPlan
    let f: Function
    let index: Int
    let options: CEmitOptions
    var w = CWriter()
    var matmulTypes: Set<DType> = []
    var usesThreads = false
    /// Splat constants: their C literal (read without memory).
    var splat: [ValueID: String] = [:]
    /// The constants whose every element is +0 (all bits zero): a step that copies one can
    /// `memset` instead of reading it.
    var zeroConstants: Set<ValueID> = []
    /// Locals of the current chunk: value → C variable.
    var locals: [ValueID: String] = [:]
    /// Roots of scalar steps that must also be written to their buffer.
    var stored: Set<ValueID> = []
    /// C definition of each constant, and the constants whose memory some step reads.
    var constantDefinitions: [ValueID: String] = [:]
    var readConstants: Set<ValueID> = []
    /// No comment per statement in straight-line scalar code (large scalar graphs: the
    /// comments would be most of the source `cc` has to read).
    var terseScalars = false
    /// 2-D transposes that only feed matrix products: never materialized, the products read
    /// their operand through swapped strides.
    let stridedTransposes: Set<ValueID>
    /// Bytes of the plan's buffers (the matmul packing scratch follows them).
    let scratchOffset: Int
    /// Bytes of workspace the function needs: the plan's buffers and the packing scratch.
    let workspaceBytes: Int
    /// The C statement that ends the function with `cIndexOutOfRangeStatus` where an index
    /// check fails (it frees an allocated workspace in the exported function, returns from a
    /// part), and whether the code emitted so far used it.
    var failureStatement = ""
    var emittedFailure = false
    /// The internal (static) name of the function, also the prefix of its constants, parts and
    /// loop bodies; `emitC` exports it under its C name.
    let fn: String
    /// Each loop step's body, emitted as a function of its own (CEmitter+Loops.swift), and the
    /// layout of the loop's region of the workspace.
    var loops: [ValueID: LoopEmission] = [:]
    /// Definitions of the address tables of re-rolled runs (CEmitter+Reroll.swift).
    var tables = ""

    /// `name`: the function's C name (a loop body's is its enclosing function's plus the loop).
    init(plan: ExecutionPlan, index: Int, options: CEmitOptions, name: String? = nil) {
        self.plan = plan
        self.f = plan.function
        self.index = index
        self.options = options
        fn = name ?? "GRADCPFX_f\(index)"
        stridedTransposes = plan.transposesReadInPlace()
        scratchOffset = (plan.workspaceBytes + 63) / 64 * 64
        var scratch = 0
        for step in plan.steps {
            guard case .kernel(let id) = step else { continue }
            scratch = max(scratch, linalgScratchBytes(plan.function, id))
            if let shape = matmulShape(plan.function, id) {
                scratch = max(scratch, matmulScratchBytes(shape.dtype, m: shape.m, n: shape.n, k: shape.k, threads: options.threads))
            }
            if let shape = convProductShape(plan.function, id) {
                scratch = max(scratch, shape.columnBytes + matmulScratchBytes(shape.dtype, m: shape.m, n: shape.n, k: shape.k, threads: options.threads))
            }
        }
        var end = (scratchOffset + scratch + 63) / 64 * 64
        for case .loop(let id) in plan.steps {
            guard let lp = plan.loops[id] else { continue }
            let body = FunctionEmitter(plan: lp.body, index: index, options: options, name: "\(fn)_l\(id)")
            let e = LoopEmission(lp, body: body, region: end, f: plan.function, id: id)
            loops[id] = e
            end = (e.region + e.bytes + 63) / 64 * 64
        }
        workspaceBytes = loops.isEmpty ? scratchOffset + scratch : end
    }

    func type(_ id: ValueID) -> TensorType { f.nodes[id].type }

    // MARK: - Top level

    func emit() throws(Diagnostic) {
        try prepareConstants()
        let bodies = try emitLoopBodies()
        let scalarMembers = plan.steps.map { scalarStepMembers($0) }
        let units = emissionUnits(scalarMembers)
        // Chunks: consecutive units, cut when the statement count passes the limit.
        var chunkOf: [Int] = []
        var chunk = 0
        var count = 0
        for unit in units {
            let cost: Int
            switch unit {
            case .step(let i): cost = scalarMembers[i]?.count ?? 1
            case .run(let r): cost = 4 + (r.start..<(r.start + r.period)).reduce(0) { $0 + (scalarMembers[$1]?.count ?? 0) }
            }
            if count > 0 && count + cost > options.chunkStatements {
                chunk += 1
                count = 0
            }
            chunkOf.append(chunk)
            count += cost
        }
        let chunks = chunk + 1
        terseScalars = chunks > 1
        // Which steps share C locals: straight-line steps of one chunk; each repetition of a
        // re-rolled run on its own (its values cross to anything else through memory).
        var locality = [Int](repeating: 0, count: plan.steps.count)
        var repetitionNumber = 0
        for (u, unit) in units.enumerated() {
            switch unit {
            case .step(let i): locality[i] = chunkOf[u]
            case .run(let r):
                for k in 0..<r.count {
                    repetitionNumber += 1
                    for i in (r.start + k * r.period)..<(r.start + (k + 1) * r.period) { locality[i] = -repetitionNumber }
                }
            }
        }
        computeStored(scalarMembers, locality)

        let bodyArgs = "const void *const *in, void *const *out, unsigned char *ws"
        // Parts that check indices return the status (else they are `void`).
        var partCanFail = [Bool](repeating: false, count: chunks)
        if chunks > 1 {
            var first = 0
            for c in 0..<chunks {
                var last = first
                while last < units.count && chunkOf[last] == c { last += 1 }
                let outer = w
                w = CWriter()
                w.level = 1
                (failureStatement, emittedFailure) = ("return \(cIndexOutOfRangeStatus);", false)
                w.line("(void)in; (void)out; (void)ws;")
                locals = [:]
                for u in first..<last { try emitUnit(units[u], scalarMembers) }
                if emittedFailure { w.line("return 0;") }
                let body = w.text
                partCanFail[c] = emittedFailure
                w = outer
                w.line("__attribute__((noinline)) static \(emittedFailure ? "int" : "void") \(fn)_part\(c)(\(bodyArgs))")
                w.line("{")
                w.text += body
                w.line("}")
                w.line("")
                first = last
            }
        }
        (failureStatement, emittedFailure) = ("{ free(owned); return \(cIndexOutOfRangeStatus); }", false)
        w.line("/* Function \(index): \(f.parameters.count) inputs, \(f.outputs.count) outputs, \(plan.steps.count) steps, \(workspaceBytes) bytes of workspace. */")
        w.open("static int \(fn)(const void *const *inputs, void *const *outputs, void *workspace)")
        w.line("const void *const *in = inputs;")
        w.line("void *const *out = outputs;")
        w.line("unsigned char *ws = (unsigned char *)workspace;")
        w.line("void *owned = NULL;")
        w.line("(void)in; (void)out; (void)ws;")
        if workspaceBytes > 0 {
            w.open("if (ws == NULL)")
            w.line("owned = malloc(\(workspaceBytes));")
            w.line("if (owned == NULL) return \(cAllocationFailureStatus);")
            w.line("ws = (unsigned char *)owned;")
            w.close()
        }
        if chunks > 1 {
            for c in 0..<chunks {
                w.line(partCanFail[c] ? "if (\(fn)_part\(c)(in, out, ws) != 0) \(failureStatement)" : "\(fn)_part\(c)(in, out, ws);")
            }
        } else {
            locals = [:]
            for unit in units { try emitUnit(unit, scalarMembers) }
        }
        for copy in plan.outputCopies {
            let t = type(copy.value)
            guard t.count > 0 else { continue }
            w.line("/* output \(copy.output) = %\(copy.value) */")
            w.line("memcpy(out[\(copy.output)], \(try pointer(copy.value)), \(t.count * t.dtype.byteSize));")
        }
        w.line("free(owned);")
        w.line("return 0;")
        w.close()
        w.line("")
        w.text = bodies + usedConstantDefinitions() + tables + w.text
    }

    /// Members of a step that runs as straight-line scalar code (an elementwise step of one
    /// element: rank 0, or a shape of extents 1), or `nil`.
    func scalarStepMembers(_ step: PlanStep) -> [ValueID]? {
        switch step {
        case .fused(let g, _):
            return type(g.root).count == 1 ? g.nodes : nil
        case .kernel(let id):
            let node = f.nodes[id]
            guard node.type.count == 1 else { return nil }
            return node.op.elementwise != nil || node.op == .cast ? [id] : nil
        case .loop:
            return nil
        }
    }

    /// The scalar steps' roots that must also be written to their buffer: those read by a
    /// step that does not share the producer's C locals (`locality`), by a non-scalar step,
    /// through a view, or copied to an output, and those computed in place in a `concat`'s
    /// buffer (the concat reads them there).
    func computeStored(_ scalarMembers: [[ValueID]?], _ locality: [Int]) {
        var producer: [ValueID: Int] = [:]
        for (i, m) in scalarMembers.enumerated() {
            guard let m, let root = m.last else { continue }
            producer[root] = i
            if plan.storageRoot[root] != root { stored.insert(root) }
        }
        for (i, step) in plan.steps.enumerated() {
            let reads: [ValueID]
            switch step {
            case .kernel(let id), .loop(let id): reads = Array(f.nodes[id].inputs)
            case .fused(let g, _): reads = g.leaves
            }
            for o in reads {
                let r = plan.storageRoot[o]
                guard let p = producer[r] else { continue }
                if o != r || scalarMembers[i] == nil || locality[i] != locality[p] { stored.insert(r) }
            }
        }
        for copy in plan.outputCopies { stored.insert(plan.storageRoot[copy.value]) }
    }

    // MARK: - Buffers

    /// The typed pointer expression of a value's buffer (a contiguous slice's points into its
    /// operand's).
    func pointer(_ id: ValueID) throws(Diagnostic) -> String {
        let base = try rootPointer(id)
        let k = plan.viewOffsets[id]
        return k == 0 ? base : "(\(base) + \(k))"
    }

    /// The typed pointer expression of the buffer of a value's storage root.
    private func rootPointer(_ id: ValueID) throws(Diagnostic) -> String {
        let t = cType(type(id).dtype)
        guard let loc = plan.locations[id] ?? plan.locations[plan.storageRoot[id]] else {
            throw Diagnostic(.other("C backend: value %\(id) has no buffer in the plan"))
        }
        switch loc {
        case .input(let k): return "((const \(t) *)in[\(k)])"
        case .constant(let c):
            readConstants.insert(c)
            return "\(fn)_c\(c)"
        case .output(let k): return "((\(t) *)out[\(k)])"
        case .workspace(_, let offset): return "((\(t) *)(ws + \(offset)))"
        }
    }

    /// The pointer of a value the step writes.
    func destination(_ id: ValueID) throws(Diagnostic) -> String {
        guard let loc = plan.locations[id] else {
            throw Diagnostic(.other("C backend: value %\(id) has no buffer in the plan"))
        }
        switch loc {
        case .input, .constant: throw Diagnostic(.other("C backend: the plan writes %\(id) into a read-only buffer"))
        case .output, .workspace: return try pointer(id)
        }
    }

    /// Constants of more elements than this are written as bytes rather than numbers.
    var largeConstantElements: Int { 1024 }

    /// Prepares the definition of every constant (written later, only if some step reads its
    /// memory: splat constants are usually read as literals) and the literal of each splat.
    func prepareConstants() throws(Diagnostic) {
        for c in plan.constants {
            var w = CWriter()
            let node = f.nodes[c]
            let t = try evaluateOp(.const, node.attrs, [], resultType: node.type)
            let values = t.doubles
            let d = node.type.dtype
            let ct = cType(d)
            let n = max(values.count, 1)
            w.line("/* %\(c) = const : \(node.type) */")
            let bits: [UInt64]
            switch t.storage {
            case .f32(let v): bits = v.map { UInt64($0.bitPattern) }
            case .f64(let v): bits = v.map(\.bitPattern)
            case .i64(let v): bits = v.map { UInt64(bitPattern: $0) }
            case .bool(let v): bits = v.map { $0 ? 1 : 0 }
            }
            func literal(_ i: Int) -> String {
                switch t.storage {
                case .i64(let v): return cInt64Literal(v[i])
                default: return cLiteral(values[i], d)
                }
            }
            if let first = bits.first, bits.allSatisfy({ $0 == first }) {
                let lit = literal(0)
                splat[c] = lit
                if first == 0 { zeroConstants.insert(c) }
                w.line("static const \(ct) \(fn)_c\(c)[\(n)] = {" + (n > 1 ? "[0 ... \(n - 1)] = \(lit)" : lit) + "};")
            } else if values.isEmpty {
                w.line("static const \(ct) \(fn)_c\(c)[1] = {0};")
            } else if values.count > largeConstantElements {
                // Its bytes as one string literal (`cc` reads that several times faster
                // than a list of numbers), and the usual name as a pointer to them.
                var bytes: [UInt8] = []
                let size = d.byteSize
                bytes.reserveCapacity(bits.count * size)
                for b in bits {
                    for k in 0..<size { bytes.append(UInt8(truncatingIfNeeded: b >> (8 * k))) }
                }
                w.text += cByteUnion(name: "\(fn)_c\(c)_bytes", memberType: ct, count: values.count, bytes: bytes)
                w.line("static const \(ct) *const \(fn)_c\(c) = \(fn)_c\(c)_bytes.v;")
            } else {
                w.line("static const \(ct) \(fn)_c\(c)[\(n)] = {")
                var i = 0
                while i < values.count {
                    let end = min(i + 8, values.count)
                    w.line("    " + (i..<end).map(literal).joined(separator: ", ") + ",")
                    i = end
                }
                w.line("};")
            }
            constantDefinitions[c] = w.text
        }
    }

    /// The definitions of the constants whose memory the function reads.
    func usedConstantDefinitions() -> String {
        let used = plan.constants.filter { readConstants.contains($0) }
        return used.compactMap { constantDefinitions[$0] }.joined() + (used.isEmpty ? "" : "\n")
    }

    // MARK: - Steps

    func emitUnit(_ unit: EmissionUnit, _ scalarMembers: [[ValueID]?]) throws(Diagnostic) {
        switch unit {
        case .step(let i): try emitStep(plan.steps[i], scalarMembers[i])
        case .run(let r): try emitRun(r, scalarMembers)
        }
    }

    func emitStep(_ step: PlanStep, _ scalar: [ValueID]?) throws(Diagnostic) {
        if let members = scalar {
            try emitScalar(members)
            return
        }
        switch step {
        case .fused(let g, let inPlace):
            for m in g.nodes { w.line("/* " + describeNode(m) + " */") }
            if let inPlace { w.line("/* in place of %\(inPlace) */") }
            try emitElementwise(root: g.root, members: g.nodes, leaves: g.leaves)
        case .kernel(let id):
            w.line("/* " + describeNode(id) + " */")
            try emitKernel(id)
        case .loop(let id):
            w.line("/* " + describeNode(id) + " */")
            try emitLoop(id)
        }
    }

    /// `%5 = add(%3, %4) : f64[2,3]` (op names, value numbers and types only: no user text).
    func describeNode(_ id: ValueID) -> String {
        let node = f.nodes[id]
        var attrs = node.attrs.items.map { "\($0.key.rawValue)=\($0.value)" }.joined(separator: ", ")
        if attrs.count > 120 { attrs = String(attrs.prefix(120)) + "..." }
        // At most 8 operands (a concat of a million parts would be a megabyte of comment).
        var args = node.inputs.prefix(8).map { "%\($0)" }.joined(separator: ", ")
        if node.inputs.count > 8 { args += ", ... (\(node.inputs.count) operands)" }
        return cCommentSafe("%\(id) = \(node.op.name)(\(args)\(attrs.isEmpty || node.op == .const ? "" : (args.isEmpty ? "" : ", ") + attrs)) : \(node.type)")
    }

    /// The C expression of member `m` of an elementwise computation, from operand expressions.
    func formula(_ m: ValueID, _ operands: [String]) throws(Diagnostic) -> String {
        let node = f.nodes[m]
        if node.op == .cast {
            return cCast(operands[0], from: type(node.inputs[0]).dtype, to: node.type.dtype)
        }
        guard let e = node.op.elementwise else {
            throw Diagnostic(.other("C backend: \(node.op.name) is not elementwise"))
        }
        return cElementwise(e, operands, e.computeDType(result: node.type.dtype, firstOperand: type(node.inputs[0]).dtype))
    }

    // MARK: Straight-line scalar code

    /// The C expression reading rank-0 value `o` inside straight-line code.
    func scalarOperand(_ o: ValueID) throws(Diagnostic) -> String {
        if let name = locals[o] { return name }
        let r = plan.storageRoot[o]
        if let lit = splat[r] { return lit }
        let name = "s\(o)"
        w.line("const \(cLocalType(type(o).dtype)) \(name) = *\(try pointer(o));")
        locals[o] = name
        return name
    }

    func emitScalar(_ members: [ValueID]) throws(Diagnostic) {
        guard let root = members.last else { return }
        for m in members {
            var operands: [String] = []
            for o in f.nodes[m].inputs { operands.append(try scalarOperand(o)) }
            let name = "s\(m)"
            let comment = terseScalars ? "" : " /* " + describeNode(m) + " */"
            w.line("const \(cLocalType(type(m).dtype)) \(name) = \(try formula(m, operands));" + comment)
            locals[m] = name
        }
        var isOutput = false
        if case .output? = plan.locations[root] { isOutput = true }
        if isOutput || stored.contains(root) {
            w.line("*\(try destination(root)) = (\(cType(type(root).dtype)))s\(root);")
        }
    }

    // MARK: Elementwise loops

    /// One loop nest computing `root` from `leaves` through `members` per element, leaves
    /// broadcast to the root's shape.
    func emitElementwise(root: ValueID, members: [ValueID], leaves: [ValueID]) throws(Diagnostic) {
        let outType = type(root)
        guard outType.count > 0 else { return }
        w.open("")
        w.line("\(cType(outType.dtype)) *o = \(try destination(root));")
        var leafExpr: [ValueID: String] = [:]
        var streamed: [(id: ValueID, name: String)] = []
        for (k, leaf) in leaves.enumerated() {
            let lt = type(leaf)
            if let lit = splat[plan.storageRoot[leaf]] {
                leafExpr[leaf] = lit
            } else if lt.count == 1 {
                w.line("const \(cLocalType(lt.dtype)) l\(k) = *\(try pointer(leaf));")
                leafExpr[leaf] = "l\(k)"
            } else {
                w.line("const \(cType(lt.dtype)) *p\(k) = \(try pointer(leaf));")
                streamed.append((leaf, "p\(k)"))
                leafExpr[leaf] = "l\(k)"
            }
        }
        var strides = [rowMajorStrides(outType.shape)]
        for s in streamed { strides.append(broadcastStrides(type(s.id).shape, to: outType.shape)) }
        let nest = LoopNest(outType.shape, strides)
        try emitLoops(nest, prefix: "i", ivdep: true) { (idx: [String]) throws(Diagnostic) in
            for (k, s) in streamed.enumerated() {
                let name = leafExpr[s.id] ?? "?"
                self.w.line("const \(cLocalType(self.type(s.id).dtype)) \(name) = \(s.name)[\(idx[k + 1])];")
            }
            for m in members {
                let operands = self.f.nodes[m].inputs.map { leafExpr[$0] ?? "t\($0)" }
                self.w.line("const \(cLocalType(self.type(m).dtype)) t\(m) = \(try self.formula(m, operands));")
            }
            self.w.line("o[\(idx[0])] = (\(cType(outType.dtype)))t\(root);")
        }
        w.close()
    }

    /// Emits the loops of `nest`; `body` gets one index expression per operand.
    func emitLoops(_ nest: LoopNest, prefix: String, ivdep: Bool, base: [String]? = nil,
                            _ body: ([String]) throws(Diagnostic) -> Void) throws(Diagnostic) {
        for (j, n) in nest.dims.enumerated() {
            if ivdep && j == nest.dims.count - 1 { w.line("GRADC_IVDEP") }
            w.open("for (long \(prefix)\(j) = 0; \(prefix)\(j) < \(n); \(prefix)\(j)++)")
        }
        var indices: [String] = []
        for k in nest.strides.indices {
            var terms: [String] = []
            if let base, !base[k].isEmpty, base[k] != "0" { terms.append(base[k]) }
            if nest.offsets[k] != 0 { terms.append(String(nest.offsets[k])) }
            for (j, s) in nest.strides[k].enumerated() where s != 0 {
                terms.append(s == 1 ? "\(prefix)\(j)" : "\(prefix)\(j) * \(s)")
            }
            indices.append(terms.isEmpty ? "0" : terms.joined(separator: " + "))
        }
        try body(indices)
        for _ in nest.dims { w.close() }
    }
}

// MARK: - Matrix products

/// Dtype and M, N, K of a floating-point 2-D `matmul` node (`nil` for other nodes).
func matmulShape(_ f: Function, _ id: ValueID) -> (dtype: DType, m: Int, n: Int, k: Int)? {
    let node = f.nodes[id]
    guard node.op == .matmul, node.type.dtype.isFloat else { return nil }
    let at = f.nodes[node.inputs[0]].type
    let bt = f.nodes[node.inputs[1]].type
    let m = at.rank >= 2 ? at.shape[at.rank - 2] : 1
    let k = at.shape.last ?? 1
    let n = bt.rank >= 2 ? bt.shape[bt.rank - 1] : 1
    return (node.type.dtype, m, n, k)
}

// MARK: - Loop nests

/// A loop nest over `dims` (outermost first) with one stride list per operand; axes of length
/// 1 are dropped and adjacent axes merged where every operand allows it.
struct LoopNest {
    var dims: [Int] = []
    var strides: [[Int]]
    var offsets: [Int]

    init(_ shape: [Int], _ operandStrides: [[Int]], offsets: [Int]? = nil) {
        strides = Array(repeating: [], count: operandStrides.count)
        self.offsets = offsets ?? Array(repeating: 0, count: operandStrides.count)
        for i in shape.indices where shape[i] != 1 {
            dims.append(shape[i])
            for k in strides.indices { strides[k].append(operandStrides[k][i]) }
        }
        var i = dims.count - 1
        while i > 0 {
            let inner = dims[i]
            if strides.allSatisfy({ $0[i - 1] == $0[i] * inner }) {
                dims[i - 1] *= inner
                for k in strides.indices {
                    strides[k][i - 1] = strides[k][i]
                    strides[k].remove(at: i)
                }
                dims.remove(at: i)
            }
            i -= 1
        }
    }
}
