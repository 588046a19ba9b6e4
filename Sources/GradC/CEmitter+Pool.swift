import GradIR
import GradRuntime

// The C of the poolings: the loops of GradRuntime/Kernels+Pool.swift (`PoolKernels`), in the
// same order and with the same formulas, so that C agrees with the reference evaluator and
// the VM bit for bit. Every number in the loops comes from the node's geometry.

extension FunctionEmitter {
    func emitPool(_ id: ValueID) throws(Diagnostic) {
        let node = f.nodes[id]
        let t = type(id)
        guard let g = PoolGeometry.of(node.op, operands: node.inputs.map { type($0).shape }, attrs: node.attrs) else {
            throw Diagnostic(.other("C backend: \(node.op.name) %\(id) has operands that do not fit"), at: node.location)
        }
        guard t.count > 0 else { return }
        let ct = cType(t.dtype)
        let f32 = t.dtype == .f32
        let (zero, one) = f32 ? ("0.0f", "1.0f") : ("0.0", "1.0")
        let (plane, outPlane) = (g.height * g.width, g.outHeight * g.outWidth)
        let op = node.op
        w.open("")
        w.line("\(ct) *o = \(try destination(id));")
        // x's plane (the input, or g for avg_pool2d_grad) and, for the two-operand ops, the second.
        w.line("const \(ct) *a = \(try pointer(node.inputs[0]));")
        if node.inputs.count > 1 { w.line("const \(ct) *b = \(try pointer(node.inputs[1]));") }
        let scatters = op == .max_pool2d_grad || op == .avg_pool2d_grad
        if scatters { w.line("memset(o, 0, \(t.count * t.dtype.byteSize));") }
        w.open("for (long k = 0; k < \(g.planes); k++)")
        switch op {
        case .avg_pool2d_grad:
            w.line("\(ct) *dk = o + k * \(plane);")
        case .max_pool2d_grad:
            w.line("const \(ct) *xk = a + k * \(plane);")
            w.line("\(ct) *dk = o + k * \(plane);")
        case .max_pool2d_tangent:
            w.line("const \(ct) *xk = a + k * \(plane);")
            w.line("const \(ct) *vk = b + k * \(plane);")
        default:
            w.line("const \(ct) *xk = a + k * \(plane);")
        }
        w.open("for (long p = 0; p < \(g.outHeight); p++)")
        w.line("const long h0 = p * \(g.strideH) - \(g.padH);")
        w.line("const long hlo = h0 > 0 ? h0 : 0;")
        w.line("const long hhi = h0 + \(g.windowH) < \(g.height) ? (h0 + \(g.windowH) > hlo ? h0 + \(g.windowH) : hlo) : (\(g.height) > hlo ? \(g.height) : hlo);")
        w.open("for (long q = 0; q < \(g.outWidth); q++)")
        w.line("const long w0 = q * \(g.strideW) - \(g.padW);")
        w.line("const long wlo = w0 > 0 ? w0 : 0;")
        w.line("const long whi = w0 + \(g.windowW) < \(g.width) ? (w0 + \(g.windowW) > wlo ? w0 + \(g.windowW) : wlo) : (\(g.width) > wlo ? \(g.width) : wlo);")
        w.line("const long at = k * \(outPlane) + p * \(g.outWidth) + q;")
        func maximum() {
            w.line("\(ct) m = -INFINITY;")
            w.line("for (long h = hlo; h < hhi; h++) for (long v = wlo; v < whi; v++) { const \(ct) e = xk[h * \(g.width) + v]; m = m != m ? m : (e != e ? e : (e > m ? e : m)); }")
        }
        func counted() {
            maximum()
            w.line("long count = 0;")
            w.line("for (long h = hlo; h < hhi; h++) for (long v = wlo; v < whi; v++) if (xk[h * \(g.width) + v] == m) count++;")
            w.line("const \(ct) weight = (count == 0 ? \(zero) : \(one)) / (\(ct))count;")
        }
        switch op {
        case .max_pool2d:
            maximum()
            w.line("o[at] = m;")
        case .max_pool2d_grad:
            counted()
            w.line("const \(ct) gw = b[at];")
            w.line("const \(ct) z = gw * weight;")
            w.line("const \(ct) share = (z != z && gw == 0) ? gw : z;")
            w.line("for (long h = hlo; h < hhi; h++) for (long v = wlo; v < whi; v++) if (count == 0 || xk[h * \(g.width) + v] == m) dk[h * \(g.width) + v] += share;")
        case .max_pool2d_tangent:
            counted()
            w.line("\(ct) acc = \(zero);")
            w.open("for (long h = hlo; h < hhi; h++) for (long v = wlo; v < whi; v++) if (count == 0 || xk[h * \(g.width) + v] == m)")
            w.line("const \(ct) e = vk[h * \(g.width) + v];")
            w.line("const \(ct) z = e * weight;")
            w.line("acc += (z != z && e == 0) ? e : z;")
            w.close()
            w.line("o[at] = acc;")
        case .avg_pool2d:
            w.line("\(ct) acc = \(zero);")
            w.line("for (long h = hlo; h < hhi; h++) for (long v = wlo; v < whi; v++) acc += xk[h * \(g.width) + v];")
            w.line("o[at] = acc / (\(ct))\(g.windowSize);")
        default:
            w.line("const \(ct) share = a[at] / (\(ct))\(g.windowSize);")
            w.line("for (long h = hlo; h < hhi; h++) for (long v = wlo; v < whi; v++) dk[h * \(g.width) + v] += share;")
        }
        w.close()
        w.close()
        w.close()
        w.close()
    }
}
