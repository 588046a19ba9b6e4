import GradIR
import GradRuntime
import GradLowering

// The C of the convolutions: im2col loops into the workspace's scratch and the module's
// matrix-multiply kernel (CMatmulKernel.swift), in the VM's and the reference's summation
// order. Every number in the emitted loops comes from the node's geometry.

/// The matrix product a convolution node runs (M, N, K) and the bytes of the matrices it
/// builds before it (`nil` for other nodes).
func convProductShape(_ f: Function, _ id: ValueID) -> (dtype: DType, m: Int, n: Int, k: Int, columnBytes: Int)? {
    let node = f.nodes[id]
    guard node.op == .conv2d || node.op == .conv2d_input_grad || node.op == .conv2d_kernel_grad, node.type.dtype.isFloat,
          let g = ConvGeometry.of(node.op, operands: node.inputs.map { f.nodes[$0].type.shape }, attrs: node.attrs) else { return nil }
    let size = node.type.dtype.byteSize
    func aligned(_ bytes: Int) -> Int { (bytes + 63) / 64 * 64 }
    let (R, S, O, N) = (g.patch, g.positions, g.outChannels, g.batch)
    switch node.op {
    case .conv2d_input_grad: return (node.type.dtype, R, S, O, aligned(R * S * size))
    case .conv2d_kernel_grad: return (node.type.dtype, O, R, N * S, aligned(O * N * S * size) + aligned(R * N * S * size))
    default: return (node.type.dtype, O, S, R, aligned(R * S * size))
    }
}

extension FunctionEmitter {
    func emitConv(_ id: ValueID) throws(Diagnostic) {
        let node = f.nodes[id]
        let t = type(id)
        guard let g = ConvGeometry.of(node.op, operands: node.inputs.map { type($0).shape }, attrs: node.attrs),
              let shape = convProductShape(f, id) else {
            throw Diagnostic(.other("C backend: \(node.op.name) %\(id) has operands that do not fit"), at: node.location)
        }
        guard t.count > 0 else { return }
        let d = t.dtype
        let ct = cType(d)
        let (R, S, O, N) = (g.patch, g.positions, g.outChannels, g.batch)
        let image = g.inChannels * g.height * g.width
        matmulTypes.insert(d)
        if options.threads && matmulSplits(m: shape.m, n: shape.n, k: shape.k, tile: MatmulTile.of(d)) { usesThreads = true }
        let pack = "(\(ct) *)(ws + \(scratchOffset + shape.columnBytes))"
        func mm(_ a: String, _ rsa: Int, _ csa: Int, _ b: String, _ rsb: Int, _ csb: Int, _ c: String) {
            w.line("GRADCPFX_mm_\(d.rawValue)(\(shape.m), \(shape.n), \(shape.k), \(a), \(rsa), \(csa), \(b), \(rsb), \(csb), \(c), \(shape.n), \(pack));")
        }
        /// Loops over (c, i, j) = r and (p, q) = s, with `h`, `w` the input position of the tap
        /// and `inside` whether it is in bounds; `body(index)` with index the (r, s) element
        /// of a matrix whose row r starts at r·rowStride.
        func taps(rowStride: Int, _ body: (String) -> Void) {
            w.open("for (long c = 0; c < \(g.inChannels); c++)")
            w.open("for (long i = 0; i < \(g.kernelHeight); i++)")
            w.open("for (long j = 0; j < \(g.kernelWidth); j++)")
            w.line("const long r = (c * \(g.kernelHeight) + i) * \(g.kernelWidth) + j;")
            w.open("for (long p = 0; p < \(g.outHeight); p++)")
            w.line("const long h = p * \(g.strideH) + i * \(g.dilationH) - \(g.padH);")
            w.open("for (long q = 0; q < \(g.outWidth); q++)")
            w.line("const long v = q * \(g.strideW) + j * \(g.dilationW) - \(g.padW);")
            w.line("const int inside = h >= 0 && h < \(g.height) && v >= 0 && v < \(g.width);")
            w.line("const long at = (c * \(g.height) + h) * \(g.width) + v;")
            body("r * \(rowStride) + p * \(g.outWidth) + q")
            w.close()
            w.close()
            w.close()
            w.close()
            w.close()
        }
        w.open("")
        w.line("\(ct) *o = \(try destination(id));")
        if shape.k == 0 {
            // An empty sum (no channels, no outputs or an empty batch): zeros.
            w.line("memset(o, 0, \(t.count * d.byteSize));")
            w.close()
            return
        }
        w.line("const \(ct) *a = \(try pointer(node.inputs[0]));")
        w.line("const \(ct) *b = \(try pointer(node.inputs[1]));")
        w.line("\(ct) *col = (\(ct) *)(ws + \(scratchOffset));")
        switch node.op {
        case .conv2d_input_grad:
            // dcol = Wᵀ·g[n], then col2im into dx[n].
            w.open("for (long n = 0; n < \(N); n++)")
            mm("b", 1, R, "a + n * \(O * S)", S, 1, "col")
            w.line("\(ct) *dx = o + n * \(image);")
            w.line("memset(dx, 0, \(image * d.byteSize));")
            taps(rowStride: S) { index in w.line("if (inside) dx[at] += col[\(index)];") }
            w.close()
        case .conv2d_kernel_grad:
            // G[o, n·S + s] = g[n, o, s]; col[r, n·S + s] = x[n] at tap r of s; dw = G·colᵀ.
            w.line("\(ct) *gm = col + \(R * N * S);")
            w.open("for (long n = 0; n < \(N); n++)")
            w.line("for (long k = 0; k < \(O); k++) memcpy(gm + k * \(N * S) + n * \(S), b + (n * \(O) + k) * \(S), \(S * d.byteSize));")
            w.line("const \(ct) *x = a + n * \(image);")
            w.line("\(ct) *cn = col + n * \(S);")
            taps(rowStride: N * S) { index in w.line("cn[\(index)] = inside ? x[at] : 0;") }
            w.close()
            mm("gm", N * S, 1, "col", 1, N * S, "o")
        default:
            w.open("for (long n = 0; n < \(N); n++)")
            w.line("const \(ct) *x = a + n * \(image);")
            taps(rowStride: S) { index in w.line("col[\(index)] = inside ? x[at] : 0;") }
            mm("b", R, 1, "col", S, 1, "o + n * \(O * S)")
            w.close()
        }
        w.close()
    }
}
