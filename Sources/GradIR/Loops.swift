/// Loops as graph nodes (docs/design-loops.md): a `scan` node runs one of its function's
/// `bodies` for a counted number of steps; it has the zero-size token type `bool[0]`, and each
/// of its values is a `result(%scan, index=k)` node. This file states what a loop's operands,
/// body and results are — once, for the parser, the verifier, the evaluator, differentiation
/// and the backends.

/// The type of every `scan` node: zero elements, so it costs no buffer.
public let loopTokenType = TensorType(.bool, [0])

/// A `scan` node's attributes and operand counts, read and checked.
public struct ScanSignature: Hashable, Sendable {
    /// Index of the body in the function's `bodies`.
    public var body: Int
    public var carries: Int
    public var over: Int
    /// The loop-invariant operands (`with`): those after the carries and the sequences.
    public var invariants: Int
    /// The trip count.
    public var length: Int
    public var reverse: Bool
    /// Whether the body's first parameter is the step number (i64), as in `fori`.
    public var indexed: Bool
    /// The operand (a bool scalar carry, or a bool sequence) that gates each step: a step runs
    /// only where its value — the carry's at the start of the step, or row t — is true; a
    /// skipped step leaves the carries as they are and its per-step outputs zero. `while`
    /// stops this way (its gate carry turns false and stays so).
    public var gate: Int?

    public init(body: Int, carries: Int, over: Int, invariants: Int, length: Int, reverse: Bool = false, indexed: Bool = false,
                gate: Int? = nil) {
        self.body = body
        self.carries = carries
        self.over = over
        self.invariants = invariants
        self.length = length
        self.reverse = reverse
        self.indexed = indexed
        self.gate = gate
    }

    /// Reads the signature of a `scan` with `operandCount` operands.
    public init(_ attrs: Attributes, operandCount: Int) throws(Diagnostic) {
        func required(_ key: AttrKey) throws(Diagnostic) -> Int {
            guard let v = attrs.int(key) else { throw Diagnostic(.missingAttribute(op: "scan", name: key.rawValue)) }
            guard v >= 0 else { throw Diagnostic(.invalidAttribute(op: "scan", name: key.rawValue, expected: "a count ≥ 0, got \(v)")) }
            return v
        }
        body = try required(.body)
        carries = try required(.carries)
        over = try required(.over)
        length = try required(.length)
        guard length <= maxElementCount else {
            throw Diagnostic(.invalidAttribute(op: "scan", name: "length", expected: "a trip count of at most \(maxElementCount), got \(length)"))
        }
        guard carries <= operandCount, over <= operandCount - carries else {
            throw Diagnostic(.invalidOperand(op: "scan", "carries=\(carries) and over=\(over) need at least \(carries &+ over) operands, got \(operandCount)"))
        }
        invariants = operandCount - carries - over
        reverse = attrs.reverse
        indexed = attrs.indexed
        gate = attrs.int(.gate)
        if let g = gate, g < 0 || g >= carries + over {
            throw Diagnostic(.invalidAttribute(op: "scan", name: "gate", expected: "the index of a carry or a sequence among the operands (0..<\(carries + over)), got \(g)"))
        }
    }

    /// The attributes of a `scan` node with this signature (those at their default left out).
    public var attributes: Attributes {
        var a = Attributes([.body: .int(body), .carries: .int(carries), .over: .int(over), .length: .int(length)])
        if reverse { a[.reverse] = .bool(true) }
        if indexed { a[.indexed] = .bool(true) }
        if let gate { a[.gate] = .int(gate) }
        return a
    }

    public var operandCount: Int { carries + over + invariants }
    /// Positions of the operand groups among the operands.
    public var carryOperands: Range<Int> { 0..<carries }
    public var overOperands: Range<Int> { carries..<(carries + over) }
    public var invariantOperands: Range<Int> { (carries + over)..<operandCount }
    /// The body parameter that receives operand `k` (after the step number, when indexed).
    public func parameter(ofOperand k: Int) -> Int { k + (indexed ? 1 : 0) }
    /// The step numbers in the order the loop runs them.
    public var steps: StrideTo<Int> {
        reverse ? stride(from: length - 1, to: -1, by: -1) : stride(from: 0, to: length, by: 1)
    }
}

extension Function {
    /// The type of a loop node (`scan` or `result`) appended to this function with these
    /// operands, after checking them against the loop's body: the counterpart of
    /// `Op.inferType` for the ops whose rule needs the function.
    public func loopNodeType(_ op: Op, _ inputs: Operands, _ attrs: Attributes) throws(Diagnostic) -> TensorType {
        for v in inputs where v < 0 || v >= nodes.count {
            throw Diagnostic(.invalidOperand(op: op.name, "operand %\(v) is not an earlier value"))
        }
        switch op {
        case .scan:
            _ = try scanResultTypes(inputs.map { nodes[$0].type }, attrs)
            return loopTokenType
        case .result:
            guard inputs.count == 1 else { throw Diagnostic(.wrongArity(op: "result", expected: "1 operand", got: inputs.count)) }
            let loop = nodes[inputs[0]]
            guard loop.op == .scan else {
                throw Diagnostic(.invalidOperand(op: "result", "its operand must be a scan node, got \(loop.op.name)"))
            }
            guard let k = attrs.int(.index) else { throw Diagnostic(.missingAttribute(op: "result", name: "index")) }
            let types = try scanResultTypes(loop.inputs.map { nodes[$0].type }, loop.attrs)
            guard k >= 0, k < types.count else {
                throw Diagnostic(.invalidAttribute(op: "result", name: "index", expected: "an index in 0..<\(types.count) (the scan has \(types.count) values), got \(k)"))
            }
            return types[k]
        default:
            return try op.inferType(inputs.map { nodes[$0].type }, attrs)
        }
    }

    /// The type of any node appended with these operands: `Op.inferType`, or `loopNodeType`
    /// for the loop ops, or `sparseRequestType` for a sparse derivative request (the ops whose
    /// type depends on more of the function than their operands' types).
    public func nodeType(_ op: Op, _ inputs: Operands, _ attrs: Attributes) throws(Diagnostic) -> TensorType {
        if op.family == .loop { return try loopNodeType(op, inputs, attrs) }
        for v in inputs where v < 0 || v >= nodes.count {
            throw Diagnostic(.invalidOperand(op: op.name, "operand %\(v) is not an earlier value"))
        }
        if op.family == .derivative, attrs.sparse { return try sparseRequestType(op, inputs, attrs) }
        return try op.inferType(inputs.map { nodes[$0].type }, attrs)
    }

    /// The types of a `scan`'s values — the final carries, then each per-step output stacked
    /// on a leading axis of the trip count — after checking the operands against the body.
    public func scanResultTypes(_ operands: [TensorType], _ attrs: Attributes) throws(Diagnostic) -> [TensorType] {
        let s = try ScanSignature(attrs, operandCount: operands.count)
        guard s.body < bodies.count else {
            throw Diagnostic(.invalidAttribute(op: "scan", name: "body", expected: "a body of this function (it has \(bodies.count)), got \(s.body)"))
        }
        return try bodies[s.body].scanResultTypes(as: s, operands: operands)
    }

    /// `scanResultTypes` with `self` the body.
    public func scanResultTypes(as s: ScanSignature, operands: [TensorType]) throws(Diagnostic) -> [TensorType] {
        let expectedParameters = operands.count + (s.indexed ? 1 : 0)
        guard parameters.count == expectedParameters else {
            let groups = "\(s.carries) carr\(s.carries == 1 ? "y" : "ies"), \(s.over) sequence row\(s.over == 1 ? "" : "s") and \(s.invariants) loop-invariant value\(s.invariants == 1 ? "" : "s")"
            let what = (s.indexed ? "the step number, " : "") + groups
            throw Diagnostic(.invalidOperand(op: "scan", "body '\(name)' takes \(parameters.count) parameter\(parameters.count == 1 ? "" : "s"), but the loop passes \(expectedParameters): \(what)"))
        }
        func parameterType(_ i: Int) throws(Diagnostic) -> TensorType {
            let p = parameters[i]
            guard p.value >= 0, p.value < nodes.count else { throw Diagnostic(.invalidOperand(op: "scan", "body '\(name)': parameter '\(p.name)' refers to no node")) }
            return nodes[p.value].type
        }
        if s.indexed {
            let t = try parameterType(0)
            guard t == TensorType(.i64) else {
                throw Diagnostic(.invalidOperand(op: "scan", "body '\(name)': its first parameter '\(parameters[0].name)' receives the step number, so it must be i64, but it is \(t)"))
            }
        }
        if let g = s.gate {
            let t = try parameterType(s.parameter(ofOperand: g))
            guard t == TensorType(.bool) else {
                throw Diagnostic(.invalidOperand(op: "scan", "the gate (operand \(g)) must be a bool carry or a bool sequence, but the body receives \(t)"))
            }
        }
        for k in 0..<operands.count {
            let i = s.parameter(ofOperand: k)
            var passed = operands[k]
            if s.overOperands.contains(k) {
                guard passed.rank >= 1, passed.shape[0] == s.length else {
                    throw Diagnostic(.invalidOperand(op: "scan", "the sequence \(passed) must have \(s.length) rows (the trip count) on axis 0"))
                }
                passed = passed.with(shape: Array(passed.shape.dropFirst()))
            }
            let declared = try parameterType(i)
            guard declared == passed else {
                let role = s.carryOperands.contains(k) ? "carry" : s.overOperands.contains(k) ? "sequence row" : "loop-invariant value"
                throw Diagnostic(.invalidOperand(op: "scan", "body '\(name)': parameter '\(parameters[i].name)' is \(declared), but the loop passes it the \(role) \(passed)"))
            }
        }
        guard outputs.count >= s.carries else {
            throw Diagnostic(.invalidOperand(op: "scan", "body '\(name)' returns \(outputs.count) value\(outputs.count == 1 ? "" : "s"), but it must return the \(s.carries) new carr\(s.carries == 1 ? "y" : "ies") first"))
        }
        var types: [TensorType] = []
        for (j, o) in outputs.enumerated() {
            guard o.value >= 0, o.value < nodes.count else { throw Diagnostic(.invalidOperand(op: "scan", "body '\(name)': output '\(o.name)' refers to no node")) }
            let t = nodes[o.value].type
            if j < s.carries {
                guard t == operands[j] else {
                    throw Diagnostic(.invalidOperand(op: "scan", "body '\(name)' returns \(t) as its new carry \(j) ('\(o.name)'), but the carry is \(operands[j]): a carry keeps its type across iterations"))
                }
                types.append(t)
            } else {
                let shape = [s.length] + t.shape
                guard checkedElementCount(shape) != nil else {
                    throw Diagnostic(.invalidShape("the stacked per-step output \(t.with(shape: shape)) (at most \(maxElementCount) elements, rank ≤ \(maxRank))"))
                }
                types.append(t.with(shape: shape))
            }
        }
        return types
    }
}

// MARK: - Copies of functions, and `while` as a masked scan

extension Function {
    /// Appends a copy of `callee`'s nodes (not its parameters), each parameter replaced by the
    /// matching value of `arguments`, its loops naming the callee's bodies from `bodyOffset` on
    /// among this function's (the caller appends them there). Returns the values of the callee's
    /// outputs, or `nil` if the callee is malformed (an operand or output that is no earlier
    /// node). Nothing is checked beyond that: the nodes were checked in the callee.
    public mutating func appendCopy(of callee: Function, arguments: [ValueID], bodyOffset: Int) -> [ValueID]? {
        guard arguments.count == callee.parameters.count else { return nil }
        var map = [ValueID](repeating: -1, count: callee.nodes.count)
        var retype = false
        for (p, id) in zip(callee.parameters, arguments) {
            guard p.value >= 0, p.value < map.count else { return nil }
            map[p.value] = id
        }
        for i in callee.nodes.indices where callee.nodes[i].op != .input {
            var copy = callee.nodes[i]
            if copy.op == .scan, let k = copy.attrs.int(.body) { copy.attrs[.body] = .int(k + bodyOffset) }
            for j in copy.inputs.indices {
                let v = copy.inputs[j]
                guard v >= 0, v < i, map[v] >= 0 else { return nil }
                copy.inputs[j] = map[v]
            }
            // A sparse request's length is its pattern's in this graph, which may differ from
            // the callee's (two parameters given the same value); once one differs, the
            // nodes after it are typed again too.
            if retype || (copy.op.family == .derivative && copy.attrs.sparse) {
                guard let t = try? nodeType(copy.op, copy.inputs, copy.attrs) else { return nil }
                if t != copy.type { retype = true }
                copy.type = t
            }
            map[i] = append(copy)
        }
        var outs: [ValueID] = []
        for o in callee.outputs {
            guard o.value >= 0, o.value < map.count, map[o.value] >= 0 else { return nil }
            outs.append(map[o.value])
        }
        return outs
    }

    /// The scan body that runs `while(cond, body, carry=(c…), with=(w…), max_iterations=K)`
    /// (docs/language.md, "Loops"; `GraphBuilder.addWhile` builds the loop): one more carry,
    /// `go`, gates each step (`ScanSignature.gate`); a step computes `c' = body(c…, w…)` and
    /// `go' = cond(c'…, w…)`. The loop starts with `go = cond(c₀…, w…)`, so `body` runs only on
    /// states where `cond` holds, and once `go` is false every later step is skipped (the
    /// carries stay, the gradient flows through the steps that ran). Parameters (c…, go, w…),
    /// outputs (new c…, go'). `cond` and `body` take (c…, w…); `cond` returns one bool scalar,
    /// `body` the new carries.
    public static func whileBody(cond: Function, body: Function, carries: Int) throws(Diagnostic) -> Function {
        guard cond.parameters.count == body.parameters.count, carries <= body.parameters.count else {
            throw Diagnostic(.invalidOperand(op: "while", "the condition '\(cond.name)' takes \(cond.parameters.count) parameters and the body '\(body.name)' \(body.parameters.count), but both take the \(carries) carr\(carries == 1 ? "y" : "ies") and then the loop-invariant values"))
        }
        for (p, q) in zip(cond.parameters, body.parameters) where cond.type(of: p.value) != body.type(of: q.value) {
            throw Diagnostic(.invalidOperand(op: "while", "the condition's parameter '\(p.name)' is \(cond.type(of: p.value)) but the body's '\(q.name)' is \(body.type(of: q.value)): both receive the same values"))
        }
        guard cond.outputs.count == 1, cond.type(of: cond.outputs[0].value) == TensorType(.bool) else {
            let got = cond.outputs.map { cond.type(of: $0.value).description }.joined(separator: ", ")
            throw Diagnostic(.invalidOperand(op: "while", "the condition '\(cond.name)' must return one bool, got (\(got))"))
        }
        guard body.outputs.count == carries else {
            throw Diagnostic(.invalidOperand(op: "while", "the body '\(body.name)' returns \(body.outputs.count) value\(body.outputs.count == 1 ? "" : "s"), but it must return the \(carries) new carr\(carries == 1 ? "y" : "ies") only"))
        }
        for j in 0..<carries {
            let (t, c) = (body.type(of: body.outputs[j].value), body.type(of: body.parameters[j].value))
            guard t == c else {
                throw Diagnostic(.invalidOperand(op: "while", "the body '\(body.name)' returns \(t) as its new carry \(j), but the carry is \(c): a carry keeps its type across iterations"))
            }
        }
        var names = Set(body.parameters.map(\.name) + body.outputs.map(\.name))
        var go = "go"
        while names.contains(go) { go += "_" }
        names.insert(go)
        var g = GraphBuilder(name: "while_\(cond.name)_\(body.name)")
        g.function.location = body.location
        var params: [ValueID] = []
        for (k, p) in body.parameters.enumerated() {
            if k == carries { _ = try g.parameter(go, TensorType(.bool)) }
            params.append(try g.parameter(p.name, body.type(of: p.value)))
        }
        if carries == body.parameters.count { _ = try g.parameter(go, TensorType(.bool)) }
        g.function.bodies = body.bodies + cond.bodies
        guard let next = g.function.appendCopy(of: body, arguments: params, bodyOffset: 0),
              let test = g.function.appendCopy(of: cond, arguments: Array(next) + Array(params[carries...]), bodyOffset: body.bodies.count) else {
            throw Diagnostic(.other("while: the condition or the body is malformed"))
        }
        for j in 0..<carries { g.function.outputs.append(Output(name: body.outputs[j].name, value: next[j])) }
        g.function.outputs.append(Output(name: go, value: test[0]))
        return g.function
    }
}

// MARK: - Adding loops, and checkpointing as nested loops

extension GraphBuilder {
    /// A `scan` of `body` with `s`'s groups of `operands`; returns its values (final carries,
    /// then stacked per-step outputs). The body is appended to the function's bodies, unless
    /// `existing` is its index there already (a body run by several loops is stored once).
    public mutating func addScan(_ body: Function, _ operands: [ValueID], _ s: ScanSignature,
                                 existing: Int? = nil) throws(Diagnostic) -> [ValueID] {
        var signature = s
        signature.body = existing ?? function.bodies.count
        _ = try body.scanResultTypes(as: signature, operands: operands.map { type(of: $0) })
        if existing == nil { function.bodies.append(body) }
        let loop = try add(.scan, operands, signature.attributes)
        var values: [ValueID] = []
        for k in body.outputs.indices { values.append(try add(.result, [loop], Attributes([.index: .int(k)]))) }
        return values
    }

    /// `while(cond, body, carry=(c…), with=(w…), max_iterations=K)`: a gated `scan` of K steps
    /// running `Function.whileBody`, its gate carry starting at `cond(c…, w…)` (a copy of
    /// `cond` in this function). Returns the final carries.
    public mutating func addWhile(_ cond: Function, _ body: Function, carries: [ValueID], invariants: [ValueID],
                                  maxIterations k: Int) throws(Diagnostic) -> [ValueID] {
        let loopBody = try Function.whileBody(cond: cond, body: body, carries: carries.count)
        let s = ScanSignature(body: 0, carries: carries.count + 1, over: 0, invariants: invariants.count, length: k,
                              gate: carries.count)
        var operands = carries + [-1] + invariants
        for (p, v) in zip(body.parameters, carries + invariants) where type(of: v) != body.type(of: p.value) {
            throw Diagnostic(.invalidOperand(op: "while", "parameter '\(p.name)' of '\(body.name)' is \(body.type(of: p.value)), but the loop passes it \(type(of: v))"), at: location)
        }
        let offset = function.bodies.count
        function.bodies += cond.bodies
        guard let first = function.appendCopy(of: cond, arguments: carries + invariants, bodyOffset: offset) else {
            throw Diagnostic(.other("while: the condition '\(cond.name)' is malformed"), at: location)
        }
        operands[carries.count] = first[0]
        return Array(try addScan(loopBody, operands, s).prefix(carries.count))
    }

    /// The loop `addScan(body, operands, s)` computes, as loops nested so that reverse mode
    /// stores about T/k + k carries instead of T (`checkpoint=k`, docs/language.md "Loops"):
    /// an outer loop over ⌊T/k⌋ segments whose body runs the k steps of a segment (so the
    /// outer loop's tape holds the carry at the start of each segment, and the backward pass
    /// recomputes a segment's k carries from it before running back through them), then the
    /// T mod k remaining steps as a plain loop (first, for a reverse loop). Same values as the
    /// plain loop, to the last bit: the same steps run in the same order. With k ≤ 1 or
    /// k ≥ T it is the plain loop.
    public mutating func addCheckpointedScan(_ body: Function, _ operands: [ValueID], _ s: ScanSignature,
                                             every k: Int) throws(Diagnostic) -> [ValueID] {
        let (n, C, O, I) = (s.length, s.carries, s.over, s.invariants)
        guard s.gate == nil else {
            throw Diagnostic(.invalidOperand(op: "scan", "checkpoint= is not supported on a gated loop (while)"), at: location)
        }
        guard k > 1, k < n else { return try addScan(body, operands, s) }
        _ = try body.scanResultTypes(as: s, operands: operands.map { type(of: $0) })
        let (q, r) = (n / k, n % k)
        let step = TensorType(.i64)
        // The body of a run of steps starting at step `base`: for `fori`, a wrapper that
        // passes base + j as the step number (base its last invariant); else the body itself.
        var inner = body
        if s.indexed {
            var w = GraphBuilder(name: "\(body.name)_from")
            var taken = Set(body.parameters.map(\.name))
            func fresh(_ name: String) -> String {
                var n = name
                while taken.contains(n) { n += "_" }
                taken.insert(n)
                return n
            }
            let j = try w.parameter(fresh("j"), step)
            var args: [ValueID] = []
            for p in body.parameters.dropFirst() { args.append(try w.parameter(p.name, body.type(of: p.value))) }
            let base = try w.parameter(fresh("base"), step)
            w.function.bodies = body.bodies
            let t = try w.add(.add, [base, j])
            guard let outs = w.function.appendCopy(of: body, arguments: [t] + args, bodyOffset: 0) else {
                throw Diagnostic(.other("checkpoint: the loop body '\(body.name)' is malformed"))
            }
            w.function.outputs = zip(body.outputs, outs).map { Output(name: $0.0.name, value: $0.1) }
            inner = w.function
        }
        let extra = s.indexed ? 1 : 0
        let runSignature = { (length: Int) in
            ScanSignature(body: 0, carries: C, over: O, invariants: I + extra, length: length, reverse: s.reverse, indexed: s.indexed)
        }
        // The segment body: (segment number?, carries, k rows of each sequence, invariants).
        var g = GraphBuilder(name: "\(body.name)_segment")
        var taken = Set<String>()
        func unique(_ name: String) -> String {
            var n = name
            while taken.contains(n) { n += "_" }
            taken.insert(n)
            return n
        }
        let segment = s.indexed ? try g.parameter(unique("segment"), step) : nil
        var segmentArgs: [ValueID] = []
        let bodyParams = Array(body.parameters.dropFirst(extra))
        for (m, p) in bodyParams.enumerated() {
            var t = body.type(of: p.value)
            if m >= C && m < C + O { t = t.with(shape: [k] + t.shape) }
            segmentArgs.append(try g.parameter(unique(p.name), t))
        }
        if let segment {
            let size = try g.constant(Double(k), step)
            segmentArgs.append(try g.add(.mul, [segment, size]))
        }
        let segmentValues = try g.addScan(inner, segmentArgs, runSignature(k))
        g.function.outputs = zip(body.outputs, segmentValues).map { Output(name: $0.0.name, value: $0.1) }
        // Operands of the segmented part and of the remainder.
        let carries = Array(operands[s.carryOperands])
        let sequences = Array(operands[s.overOperands])
        let invariants = Array(operands[s.invariantOperands])
        var headRows: [ValueID] = []
        var tailRows: [ValueID] = []
        for x in sequences {
            let row = Array(type(of: x).shape.dropFirst())
            let head = r == 0 ? x : try slice(x, axis: 0, start: 0, stop: q * k)
            headRows.append(try reshape(head, [q, k] + row))
            if r > 0 { tailRows.append(try slice(x, axis: 0, start: q * k, stop: n)) }
        }
        let segmented = { (b: inout GraphBuilder, from: [ValueID]) throws(Diagnostic) -> [ValueID] in
            let outer = ScanSignature(body: 0, carries: C, over: O, invariants: I, length: q, reverse: s.reverse, indexed: s.indexed)
            return try b.addScan(g.function, from + headRows + invariants, outer)
        }
        let remainder = { (b: inout GraphBuilder, from: [ValueID]) throws(Diagnostic) -> [ValueID] in
            var extraOperand: [ValueID] = []
            if s.indexed { extraOperand = [try b.constant(Double(q * k), step)] }
            return try b.addScan(inner, from + tailRows + invariants + extraOperand, runSignature(r))
        }
        var head: [ValueID]
        var tail: [ValueID] = []
        if r == 0 {
            head = try segmented(&self, carries)
        } else if s.reverse {
            tail = try remainder(&self, carries)
            head = try segmented(&self, Array(tail[0..<C]))
        } else {
            head = try segmented(&self, carries)
            tail = try remainder(&self, Array(head[0..<C]))
        }
        var values = r > 0 && !s.reverse ? Array(tail[0..<C]) : Array(head[0..<C])
        for j in C..<body.outputs.count {
            let t = type(of: head[j])
            let stacked = try reshape(head[j], [q * k] + Array(t.shape.dropFirst(2)))
            values.append(r == 0 ? stacked : try add(.concat, [stacked, tail[j]], Attributes([.axis: .int(0)])))
        }
        return values
    }
}
