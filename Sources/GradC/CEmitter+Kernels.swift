import GradRuntime
import GradLowering

// The C of every non-elementwise op (and of elementwise ops the plan did not fuse).

extension FunctionEmitter {
    func emitKernel(_ id: ValueID) throws(Diagnostic) {
        let node = f.nodes[id]
        func elementwise() throws(Diagnostic) {
            var leaves: [ValueID] = []
            for i in node.inputs where !leaves.contains(i) { leaves.append(i) }
            try emitElementwise(root: id, members: [id], leaves: leaves)
        }
        guard let op = node.op.structural else { return try elementwise() }
        switch op {
        case .input, .const, .reshape, .expand_dims, .squeeze:
            return  // no step: parameters, constants and views have their buffers already
        case .cast:
            try elementwise()
        case .broadcast_to:
            try emitCopy(id, from: node.inputs[0], strides: broadcastStrides(type(node.inputs[0]).shape, to: node.type.shape), offset: 0)
        case .transpose:
            if stridedTransposes.contains(id) {
                w.line("/* read in place by the matrix products */")
                return
            }
            let x = type(node.inputs[0])
            let perm = node.attrs.perm ?? Array((0..<x.rank).reversed())
            let s = rowMajorStrides(x.shape)
            try emitCopy(id, from: node.inputs[0], strides: perm.map { s[$0] }, offset: 0)
        case .slice:
            let x = type(node.inputs[0])
            guard let start = node.attrs.start, let step = node.attrs.step, start.count == x.rank, step.count == x.rank else {
                throw Diagnostic(.missingAttribute(op: "slice", name: "start"))
            }
            let s = rowMajorStrides(x.shape)
            var offset = 0
            for d in 0..<x.rank { offset += start[d] * s[d] }
            try emitCopy(id, from: node.inputs[0], strides: steppedStrides(s, step, extents: node.type.shape), offset: offset)
        case .pad: try emitPad(id)
        case .concat: try emitConcat(id)
        case .sum, .mean, .max, .min, .prod, .logsumexp: try emitReduction(id)
        case .matmul: try emitMatmul(id)
        case .dot: try emitDot(id)
        case .cholesky, .triangular_solve, .logdet, .solve, .det, .logabsdet, .det_sign: try emitLinalg(id)
        case .cumsum: try emitCumsum(id)
        case .one_hot: try emitOneHot(id)
        case .take, .take_along_axis: try emitTake(id)
        case .scatter_add, .scatter_add_along_axis: try emitScatterAdd(id)
        case .iota: try emitIota(id)
        case .argmax, .argmin: try emitArgReduce(id)
        case .softmax, .log_softmax, .softmax_cross_entropy: try emitSoftmax(id)
        case .conv2d, .conv2d_input_grad, .conv2d_kernel_grad: try emitConv(id)
        case .max_pool2d, .max_pool2d_grad, .max_pool2d_tangent, .avg_pool2d, .avg_pool2d_grad: try emitPool(id)
        case .grad, .jacobian, .hessian, .jvp, .hvp:
            throw Diagnostic(.unexpandedDerivative(op: node.op.name))
        case .scan, .result:
            throw Diagnostic(.other("C backend: internal error: \(node.op.name) %\(id) is not a kernel step"), at: node.location)
        }
    }

    // MARK: Data movement

    /// out[i] = x[offset + Σ index·strides] over the output's shape.
    func emitCopy(_ id: ValueID, from x: ValueID, strides: [Int], offset: Int) throws(Diagnostic) {
        let t = type(id)
        guard t.count > 0 else { return }
        w.open("")
        w.line("\(cType(t.dtype)) *o = \(try destination(id));")
        w.line("const \(cType(t.dtype)) *x = \(try pointer(x));")
        let nest = LoopNest(t.shape, [rowMajorStrides(t.shape), strides], offsets: [0, offset])
        try emitLoops(nest, prefix: "i", ivdep: true) { (idx: [String]) throws(Diagnostic) in
            self.w.line("o[\(idx[0])] = x[\(idx[1])];")
        }
        w.close()
    }

    func emitPad(_ id: ValueID) throws(Diagnostic) {
        let node = f.nodes[id]
        let t = type(id)
        let x = type(node.inputs[0])
        guard let low = node.attrs.low, let step = node.attrs.step, low.count == x.rank, step.count == x.rank else {
            throw Diagnostic(.missingAttribute(op: "pad", name: "low"))
        }
        guard t.count > 0 else { return }
        w.open("")
        w.line("\(cType(t.dtype)) *o = \(try destination(id));")
        w.line("memset(o, 0, \(t.count * t.dtype.byteSize));")
        if x.count > 0 {
            w.line("const \(cType(t.dtype)) *x = \(try pointer(node.inputs[0]));")
            let os = rowMajorStrides(t.shape)
            var offset = 0
            for d in 0..<x.rank { offset += low[d] * os[d] }
            let nest = LoopNest(x.shape, [steppedStrides(os, step, extents: x.shape), rowMajorStrides(x.shape)], offsets: [offset, 0])
            try emitLoops(nest, prefix: "i", ivdep: true) { (idx: [String]) throws(Diagnostic) in
                self.w.line("o[\(idx[0])] = x[\(idx[1])];")
            }
        }
        w.close()
    }

    func emitConcat(_ id: ValueID) throws(Diagnostic) {
        let node = f.nodes[id]
        let t = type(id)
        guard let axis = node.attrs.axis.flatMap({ normalizeAxis($0, rank: t.rank) }) else {
            throw Diagnostic(.missingAttribute(op: "concat", name: "axis"))
        }
        guard t.count > 0 else { return }
        let outer = t.shape[..<axis].reduce(1, *)
        let inner = t.shape[(axis + 1)...].reduce(1, *)
        let row = t.shape[axis] * inner
        let size = t.dtype.byteSize
        var copies: [String] = []
        var offset = 0
        for operand in node.inputs {
            let block = type(operand).shape[axis] * inner
            // An operand the plan computed in place (`ExecutionPlan.placeConcatParts`) is there.
            if block > 0, plan.storageRoot[operand] != plan.storageRoot[id] {
                copies.append("for (long i = 0; i < \(outer); i++) memcpy(o + i * \(row) + \(offset), \(try pointer(operand)) + i * \(block), \(block * size));")
            }
            offset += block
        }
        guard !copies.isEmpty else { return }
        w.open("")
        w.line("\(cType(t.dtype)) *o = \(try destination(id));")
        for c in copies { w.line(c) }
        w.close()
    }

    func emitOneHot(_ id: ValueID) throws(Diagnostic) {
        let node = f.nodes[id]
        let t = type(id)
        guard let depth = node.attrs.depth else { throw Diagnostic(.missingAttribute(op: "one_hot", name: "depth")) }
        guard t.count > 0 else { return }
        let labels = type(node.inputs[0]).count
        w.open("")
        w.line("\(cType(t.dtype)) *o = \(try destination(id));")
        w.line("const int64_t *x = \(try pointer(node.inputs[0]));")
        w.line("memset(o, 0, \(t.count * t.dtype.byteSize));")
        w.open("for (long i = 0; i < \(labels); i++)")
        w.line("if (x[i] >= 0 && x[i] < \(depth)) o[i * \(depth) + x[i]] = \(cLiteral(1, t.dtype));")
        w.close()
        w.close()
    }

    // MARK: Indexing

    /// The layout of an indexing node (data operand 0, indices operand 1).
    func gatherLayout(_ id: ValueID) throws(Diagnostic) -> (GatherLayout, axis: Int) {
        let node = f.nodes[id]
        let data = type(node.inputs[0])
        guard let axis = node.attrs.axis.flatMap({ normalizeAxis($0, rank: data.rank) }) else {
            throw Diagnostic(.missingAttribute(op: node.op.name, name: "axis"))
        }
        let along = node.op == .take_along_axis || node.op == .scatter_add_along_axis
        return (GatherLayout(data: data.shape, indices: type(node.inputs[1]).shape, axis: axis, alongAxis: along), axis)
    }

    /// Checks every index (`ix`, `count` of them) against an axis of length `n` before any is
    /// used: the function returns `cIndexOutOfRangeStatus` at the first one outside −n ..< n.
    func emitIndexCheck(count: Int, n: Int) {
        guard count > 0 else { return }
        w.line("for (long q = 0; q < \(count); q++) if (ix[q] < -\(n) || ix[q] >= \(n)) \(failureStatement)")
        emittedFailure = true
    }

    /// The wrapped position of index expression `v` on an axis of length `n` (`wrappedIndex`,
    /// after the check).
    func cWrapped(_ v: String, _ n: Int) -> String { "(\(v) < 0 ? \(v) + \(n) : \(v))" }

    func emitTake(_ id: ValueID) throws(Diagnostic) {
        let node = f.nodes[id]
        let (layout, _) = try gatherLayout(id)
        let t = type(id)
        let ct = cType(t.dtype)
        let (n, k, inner) = (layout.n, layout.k, layout.inner)
        w.open("")
        w.line("const int64_t *ix = \(try pointer(node.inputs[1]));")
        w.line("(void)ix;  /* unused when nothing is read */")
        emitIndexCheck(count: type(node.inputs[1]).count, n: n)
        if t.count > 0 {
            w.line("\(ct) *o = \(try destination(id));")
            w.line("const \(ct) *x = \(try pointer(node.inputs[0]));")
            w.open("for (long a = 0; a < \(layout.outer); a++)")
            w.open("for (long j = 0; j < \(k); j++)")
            if layout.alongAxis {
                w.open("for (long i = 0; i < \(inner); i++)")
                w.line("const int64_t v = ix[(a * \(k) + j) * \(inner) + i];")
                w.line("o[(a * \(k) + j) * \(inner) + i] = x[(a * \(n) + \(cWrapped("v", n))) * \(inner) + i];")
                w.close()
            } else {
                w.line("const int64_t v = ix[j];")
                w.line("memcpy(o + (a * \(k) + j) * \(inner), x + (a * \(n) + \(cWrapped("v", n))) * \(inner), \(inner * t.dtype.byteSize));")
            }
            w.close()
            w.close()
        }
        w.close()
    }

    func emitScatterAdd(_ id: ValueID) throws(Diagnostic) {
        let node = f.nodes[id]
        let (layout, _) = try gatherLayout(id)
        let t = type(id)
        let ct = cType(t.dtype)
        let (n, k, inner) = (layout.n, layout.k, layout.inner)
        w.open("")
        w.line("const int64_t *ix = \(try pointer(node.inputs[1]));")
        w.line("(void)ix;  /* unused when nothing is read */")
        emitIndexCheck(count: type(node.inputs[1]).count, n: n)
        if t.count > 0 {
            w.line("\(ct) *o = \(try destination(id));")
            let baseRoot = plan.storageRoot[node.inputs[0]]
            if case .constant(let c)? = plan.locations[node.inputs[0]] ?? plan.locations[baseRoot], let lit = splat[c] {
                // A splat base (the zeros a gradient starts from) is written, not read.
                if zeroConstants.contains(c) {
                    w.line("memset(o, 0, \(t.count * t.dtype.byteSize));")
                } else {
                    w.line("for (long e = 0; e < \(t.count); e++) o[e] = \(lit);")
                }
            } else {
                w.line("const \(ct) *b = \(try pointer(node.inputs[0]));")
                w.line("if (o != b) memcpy(o, b, \(t.count * t.dtype.byteSize));")
            }
            if layout.count > 0 {
                w.line("const \(ct) *u = \(try pointer(node.inputs[2]));")
                w.line("/* every update in row-major order, one addition at a time (repeated indices accumulate) */")
                w.open("for (long a = 0; a < \(layout.outer); a++)")
                w.open("for (long j = 0; j < \(k); j++)")
                if layout.alongAxis {
                    w.open("for (long i = 0; i < \(inner); i++)")
                    w.line("const int64_t v = ix[(a * \(k) + j) * \(inner) + i];")
                    w.line("const long at = (a * \(n) + \(cWrapped("v", n))) * \(inner) + i;")
                    w.line("o[at] = \(cElementwise(.add, ["o[at]", "u[(a * \(k) + j) * \(inner) + i]"], t.dtype));")
                    w.close()
                } else {
                    // One contiguous row per index: the row of `o` and the row of `u` are
                    // distinct buffers (the plan never places updates in the output), so the
                    // row addition vectorizes; rows of repeated indices still add in order.
                    w.line("const int64_t v = ix[j];")
                    w.line("\(ct) *orow = o + (a * \(n) + \(cWrapped("v", n))) * \(inner);")
                    w.line("const \(ct) *urow = u + (a * \(k) + j) * \(inner);")
                    w.line("GRADC_IVDEP")
                    w.open("for (long i = 0; i < \(inner); i++)")
                    w.line("orow[i] = \(cElementwise(.add, ["orow[i]", "urow[i]"], t.dtype));")
                    w.close()
                }
                w.close()
                w.close()
            }
        }
        w.close()
    }

    func emitIota(_ id: ValueID) throws(Diagnostic) {
        let node = f.nodes[id]
        let t = type(id)
        guard let axis = normalizeAxis(node.attrs.axis ?? 0, rank: t.rank) else {
            throw Diagnostic(.invalidAttribute(op: "iota", name: "axis", expected: "an axis of the result"))
        }
        guard t.count > 0 else { return }
        let stride = rowMajorStrides(t.shape)[axis]
        w.open("")
        w.line("\(cType(t.dtype)) *o = \(try destination(id));")
        w.line("for (long e = 0; e < \(t.count); e++) o[e] = (\(cType(t.dtype)))((e / \(stride)) % \(t.shape[axis]));")
        w.close()
    }

    /// argmax/argmin: per output element, the reduced elements in increasing index order (as
    /// `emitReduction`), a running position `j`, the best so far replaced by a NaN or a
    /// strictly larger (smaller) element while it is not NaN itself.
    func emitArgReduce(_ id: ValueID) throws(Diagnostic) {
        let node = f.nodes[id]
        let t = type(id)
        let xt = type(node.inputs[0])
        guard t.count > 0 else { return }
        let rank = xt.rank
        let axes = Set(normalizedAxes(node.attrs.axes, rank: rank))
        let inStrides = rowMajorStrides(xt.shape)
        let kept = (0..<rank).filter { !axes.contains($0) }
        let reduced = (0..<rank).filter { axes.contains($0) }
        let keptShape = kept.map { xt.shape[$0] }
        let keptNest = LoopNest(keptShape, [rowMajorStrides(keptShape), kept.map { inStrides[$0] }])
        let redNest = LoopNest(reduced.map { xt.shape[$0] }, [reduced.map { inStrides[$0] }])
        let ct = cType(xt.dtype)
        let beats = node.op == .argmax ? ">" : "<"
        w.open("")
        w.line("int64_t *o = \(try destination(id));")
        w.line("const \(ct) *x = \(try pointer(node.inputs[0]));")
        try emitLoops(keptNest, prefix: "i", ivdep: false) { (idx: [String]) throws(Diagnostic) in
            self.w.line("const long base = \(idx[1]);")
            self.w.line("int64_t best = 0, j = 0;")
            self.w.line("\(ct) b = x[base];")
            try self.emitLoops(redNest, prefix: "r", ivdep: false, base: ["base"]) { (r: [String]) throws(Diagnostic) in
                self.w.line("const \(ct) c = x[\(r[0])];")
                self.w.open("if (b == b && (c != c || c \(beats) b))")
                self.w.line("best = j;")
                self.w.line("b = c;")
                self.w.close()
                self.w.line("j++;")
            }
            self.w.line("o[\(idx[0])] = best;")
        }
        w.close()
    }

    // MARK: Reductions

    func emitReduction(_ id: ValueID) throws(Diagnostic) {
        let node = f.nodes[id]
        let t = type(id)
        let xt = type(node.inputs[0])
        let d = xt.dtype
        let ct = cType(d)
        let real = d.isFloat
        guard t.count > 0 else { return }
        let rank = xt.rank
        let axes = Set((node.attrs.axes ?? Array(0..<rank)).compactMap { normalizeAxis($0, rank: rank) })
        let n = axes.reduce(1) { $0 * xt.shape[$1] }
        let inStrides = rowMajorStrides(xt.shape)
        let kept = (0..<rank).filter { !axes.contains($0) }
        let reduced = (0..<rank).filter { axes.contains($0) }
        let keptShape = kept.map { xt.shape[$0] }
        let keptOutStrides = rowMajorStrides(keptShape)
        var outStrides = [Int](repeating: 0, count: rank)
        for (j, a) in kept.enumerated() { outStrides[a] = keptOutStrides[j] }

        let identity: String
        let combine: (String, String) -> String
        switch node.op {
        case .sum, .mean, .logsumexp:
            identity = cLiteral(0, d)
            combine = { cElementwise(.add, [$0, $1], d) }
        case .prod:
            identity = cLiteral(1, d)
            combine = { cElementwise(.mul, [$0, $1], d) }
        case .max:
            identity = real ? "(-INFINITY)" : "INT64_MIN"
            combine = { cMaximum($0, $1, real: real) }
        case .min:
            identity = real ? "INFINITY" : "INT64_MAX"
            combine = { cMinimum($0, $1, real: real) }
        default:
            throw Diagnostic(.other("C backend: \(node.op.name) is not a reduction"))
        }
        let divisor = cLiteral(Double(n), d)
        w.open("")
        w.line("\(ct) *o = \(try destination(id));")
        w.line("const \(ct) *x = \(try pointer(node.inputs[0]));")
        if node.op != .logsumexp, let last = kept.last, last == rank - 1, n > 1, xt.count > 0 {
            // The last axis is kept: walk the input in order, updating the outputs (vectorizes
            // along the kept axis; each output still sees its elements in increasing order).
            w.line("for (long i = 0; i < \(t.count); i++) o[i] = \(identity);")
            let nest = LoopNest(xt.shape, [outStrides, inStrides])
            try emitLoops(nest, prefix: "i", ivdep: true) { (idx: [String]) throws(Diagnostic) in
                self.w.line("o[\(idx[0])] = \(combine("o[\(idx[0])]", "x[\(idx[1])]"));")
            }
            if node.op == .mean {
                w.line("for (long i = 0; i < \(t.count); i++) o[i] = o[i] / \(divisor);")
            }
        } else {
            // One accumulator per output, its elements visited in increasing index order.
            let keptNest = LoopNest(keptShape, [keptOutStrides, kept.map { inStrides[$0] }])
            let redNest = LoopNest(reduced.map { xt.shape[$0] }, [reduced.map { inStrides[$0] }])
            try emitLoops(keptNest, prefix: "i", ivdep: false) { (idx: [String]) throws(Diagnostic) in
                self.w.line("const long base = \(idx[1]);")
                if node.op == .logsumexp {
                    self.w.line("\(ct) m = (-INFINITY);")
                    try self.emitLoops(redNest, prefix: "r", ivdep: false, base: ["base"]) { (r: [String]) throws(Diagnostic) in
                        self.w.line("m = \(cMaximum("m", "x[\(r[0])]", real: true));")
                    }
                    self.w.open("if (!isfinite(m))")
                    self.w.line("o[\(idx[0])] = m;")
                    self.w.close()
                    self.w.open("else")
                    self.w.line("\(ct) s = \(cLiteral(0, d));")
                    try self.emitLoops(redNest, prefix: "r", ivdep: false, base: ["base"]) { (r: [String]) throws(Diagnostic) in
                        self.w.line("s = s + \(d == .f32 ? "expf" : "exp")(x[\(r[0])] - m);")
                    }
                    self.w.line("o[\(idx[0])] = m + \(d == .f32 ? "logf" : "log")(s);")
                    self.w.close()
                } else {
                    self.w.line("\(ct) acc = \(identity);")
                    try self.emitLoops(redNest, prefix: "r", ivdep: false, base: ["base"]) { (r: [String]) throws(Diagnostic) in
                        self.w.line("acc = \(combine("acc", "x[\(r[0])]"));")
                    }
                    self.w.line("o[\(idx[0])] = acc\(node.op == .mean ? " / \(divisor)" : "");")
                }
            }
        }
        w.close()
    }

    // MARK: Along one axis

    func emitSoftmax(_ id: ValueID) throws(Diagnostic) {
        let node = f.nodes[id]
        let xt = type(node.inputs[0])
        let d = xt.dtype
        let ct = cType(d)
        let sfx = d == .f32 ? "f" : ""
        guard let axis = normalizeAxis(node.attrs.axis ?? -1, rank: xt.rank) else {
            throw Diagnostic(.invalidAttribute(op: node.op.name, name: "axis", expected: "an axis of the operand"))
        }
        guard type(id).count > 0 else { return }
        let outer = xt.shape[..<axis].reduce(1, *)
        let n = xt.shape[axis]
        let inner = xt.shape[(axis + 1)...].reduce(1, *)
        let at = inner == 1 ? "j" : "j * \(inner)"
        w.open("")
        w.line("\(ct) *o = \(try destination(id));")
        w.line("const \(ct) *x = \(try pointer(node.inputs[0]));")
        if node.op == .softmax_cross_entropy {
            w.line("const \(ct) *y = \(try pointer(node.inputs[1]));")
        }
        w.open("for (long a = 0; a < \(outer); a++)")
        w.open("for (long b = 0; b < \(inner); b++)")
        w.line("const long base = a * \(n * inner) + b;")
        w.line("\(ct) m = (-INFINITY);")
        w.line("for (long j = 0; j < \(n); j++) m = \(cMaximum("m", "x[base + \(at)]", real: true));")
        w.line("\(ct) s = \(cLiteral(0, d));")
        switch node.op {
        case .softmax:
            // exp once per element: the stored value is the one the division would recompute.
            w.open("for (long j = 0; j < \(n); j++)")
            w.line("const \(ct) e = exp\(sfx)(x[base + \(at)] - m);")
            w.line("o[base + \(at)] = e;")
            w.line("s = s + e;")
            w.close()
            w.line("for (long j = 0; j < \(n); j++) o[base + \(at)] = o[base + \(at)] / s;")
        case .log_softmax:
            w.line("for (long j = 0; j < \(n); j++) s = s + exp\(sfx)(x[base + \(at)] - m);")
            w.line("const \(ct) ls = log\(sfx)(s);")
            w.line("for (long j = 0; j < \(n); j++) o[base + \(at)] = (x[base + \(at)] - m) - ls;")
        default:
            w.line("for (long j = 0; j < \(n); j++) s = s + exp\(sfx)(x[base + \(at)] - m);")
            w.line("const \(ct) ls = log\(sfx)(s);")
            w.line("\(ct) acc = \(cLiteral(0, d));")
            w.line("for (long j = 0; j < \(n); j++) acc = acc + y[base + \(at)] * ((x[base + \(at)] - m) - ls);")
            w.line("o[a * \(inner) + b] = -acc;")
        }
        w.close()
        w.close()
        w.close()
    }

    func emitCumsum(_ id: ValueID) throws(Diagnostic) {
        let node = f.nodes[id]
        let t = type(id)
        guard let axis = node.attrs.axis.flatMap({ normalizeAxis($0, rank: t.rank) }) else {
            throw Diagnostic(.missingAttribute(op: "cumsum", name: "axis"))
        }
        guard t.count > 0 else { return }
        let ct = cType(t.dtype)
        let outer = t.shape[..<axis].reduce(1, *)
        let n = t.shape[axis]
        let inner = t.shape[(axis + 1)...].reduce(1, *)
        w.open("")
        w.line("\(ct) *o = \(try destination(id));")
        w.line("const \(ct) *x = \(try pointer(node.inputs[0]));")
        w.open("for (long a = 0; a < \(outer); a++)")
        w.open("for (long b = 0; b < \(inner); b++)")
        w.line("\(ct) acc = \(cLiteral(0, t.dtype));")
        if node.attrs.reverse {
            w.open("for (long j = \(n - 1); j >= 0; j--)")
        } else {
            w.open("for (long j = 0; j < \(n); j++)")
        }
        w.line("const long k = a * \(n * inner) + j * \(inner) + b;")
        w.line("acc = \(cElementwise(.add, ["acc", "x[k]"], t.dtype));")
        w.line("o[k] = acc;")
        w.close()
        w.close()
        w.close()
        w.close()
    }

    // MARK: Linear algebra

    func emitDot(_ id: ValueID) throws(Diagnostic) {
        let node = f.nodes[id]
        let d = type(id).dtype
        let ct = cType(d)
        let n = type(node.inputs[0]).count
        w.open("")
        w.line("const \(ct) *a = \(try pointer(node.inputs[0]));")
        w.line("const \(ct) *b = \(try pointer(node.inputs[1]));")
        w.line("\(ct) acc = \(cLiteral(0, d));")
        w.line("for (long i = 0; i < \(n); i++) acc = \(cElementwise(.add, ["acc", cElementwise(.mul, ["a[i]", "b[i]"], d)], d));")
        w.line("*\(try destination(id)) = acc;")
        w.close()
    }

    func emitMatmul(_ id: ValueID) throws(Diagnostic) {
        let node = f.nodes[id]
        let t = type(id)
        let at = type(node.inputs[0])
        let bt = type(node.inputs[1])
        let d = t.dtype
        let ct = cType(d)
        guard t.count > 0 else { return }
        let m = at.rank >= 2 ? at.shape[at.rank - 2] : 1
        let k = at.shape[at.rank - 1]
        let n = bt.rank >= 2 ? bt.shape[bt.rank - 1] : 1
        let aBatch = at.rank > 2 ? Array(at.shape.dropLast(2)) : []
        let bBatch = bt.rank > 2 ? Array(bt.shape.dropLast(2)) : []
        guard let batch = broadcastShapes(aBatch, bBatch) else {
            throw Diagnostic(.shapeMismatch(op: "matmul", [at, bt]))
        }
        let count = batch.reduce(1, *)
        let aOffsets = batchOffsets(aBatch, batch).map { $0 * m * k }
        let bOffsets = batchOffsets(bBatch, batch).map { $0 * k * n }
        // A transposed operand is read through swapped strides: a(i,p) = X[p*m + i].
        var (a, rsa, csa) = (node.inputs[0], k, 1)
        var (b, rsb, csb) = (node.inputs[1], n, 1)
        if stridedTransposes.contains(a) { (a, rsa, csa) = (f.nodes[a].inputs[0], 1, m) }
        if stridedTransposes.contains(b) { (b, rsb, csb) = (f.nodes[b].inputs[0], 1, k) }
        w.open("")
        w.line("\(ct) *o = \(try destination(id));")
        w.line("const \(ct) *a = \(try pointer(a));")
        w.line("const \(ct) *b = \(try pointer(b));")
        func call(_ ao: String, _ bo: String, _ oo: String) {
            if d.isFloat {
                w.line("GRADCPFX_mm_\(d.rawValue)(\(m), \(n), \(k), a + \(ao), \(rsa), \(csa), b + \(bo), \(rsb), \(csb), o + \(oo), \(n), (\(ct) *)(ws + \(scratchOffset)));")
            } else {
                w.open("for (long i = 0; i < \(m); i++)")
                w.line("for (long j = 0; j < \(n); j++) o[\(oo) + i * \(n) + j] = 0;")
                w.open("for (long p = 0; p < \(k); p++)")
                w.line("const int64_t aip = a[\(ao) + i * \(k) + p];")
                w.line("for (long j = 0; j < \(n); j++) o[\(oo) + i * \(n) + j] = (int64_t)((uint64_t)o[\(oo) + i * \(n) + j] + (uint64_t)aip * (uint64_t)b[\(bo) + p * \(n) + j]);")
                w.close()
                w.close()
            }
        }
        if d.isFloat {
            matmulTypes.insert(d)
            if options.threads && matmulSplits(m: m, n: n, k: k, tile: MatmulTile.of(d)) { usesThreads = true }
        }
        if count == 1 {
            call("\(aOffsets.first ?? 0)", "\(bOffsets.first ?? 0)", "0")
        } else {
            w.line("static const long ao[\(count)] = {\(aOffsets.map(String.init).joined(separator: ", "))};")
            w.line("static const long bo[\(count)] = {\(bOffsets.map(String.init).joined(separator: ", "))};")
            w.open("for (long q = 0; q < \(count); q++)")
            call("ao[q]", "bo[q]", "q * \(m * n)")
            w.close()
        }
        w.close()
    }
}

/// For each index of the broadcast batch shape `out` (row-major), the index of the operand
/// batch of shape `shape` it reads.
func batchOffsets(_ shape: [Int], _ out: [Int]) -> [Int] {
    let strides = broadcastStrides(shape, to: out)
    let total = out.reduce(1, *)
    var result: [Int] = []
    result.reserveCapacity(total)
    let outStrides = rowMajorStrides(out)
    for flat in 0..<total {
        var rest = flat
        var index = 0
        for dim in out.indices {
            let i = rest / max(outStrides[dim], 1)
            rest -= i * outStrides[dim]
            index += i * strides[dim]
        }
        result.append(index)
    }
    return result
}
