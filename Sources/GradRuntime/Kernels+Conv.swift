import GradIR
// Reference kernels of the convolutions: direct loops, written from the definitions in the op
// table. Each sum starts at +0 and adds its terms in the order the VM's and C's im2col +
// matrix-product kernels add them (padding zeros included), so those agree bit for bit
// where the product does not fuse multiply-adds.

/// `conv2d`, `conv2d_input_grad` or `conv2d_kernel_grad` on f32/f64 tensors.
func convKernel(_ op: Op, _ attrs: Attributes, _ inputs: [Tensor], _ rt: TensorType) throws(Diagnostic) -> Tensor {
    guard let geometry = ConvGeometry.of(op, operands: inputs.map(\.shape), attrs: attrs) else { throw operandMismatch(op, inputs) }
    func run<T: KernelNumber>(_ a: [T], _ b: [T]) -> [T] {
        switch op {
        case .conv2d_input_grad: return convInputGradReference(geometry, a, b)
        case .conv2d_kernel_grad: return convKernelGradReference(geometry, a, b)
        default: return convReference(geometry, a, b)
        }
    }
    switch (inputs[0].storage, inputs[1].storage) {
    case (.f32(let a), .f32(let b)): return try makeTensor(.f32(run(a, b)), rt.shape, op)
    case (.f64(let a), .f64(let b)): return try makeTensor(.f64(run(a, b)), rt.shape, op)
    default: throw operandMismatch(op, inputs)
    }
}

/// The input row and column tap (i, j) of output position (p, q) reads, or nil for padding.
@inline(__always)
private func tap(_ g: ConvGeometry, _ p: Int, _ q: Int, _ i: Int, _ j: Int) -> (Int, Int)? {
    let h = p * g.strideH + i * g.dilationH - g.padH
    let w = q * g.strideW + j * g.dilationW - g.padW
    return h >= 0 && h < g.height && w >= 0 && w < g.width ? (h, w) : nil
}

/// out[n,o,p,q] = Σ_{c,i,j} w[o,c,i,j]·xp[n,c,…] (padding zeros multiplied in).
func convReference<T: KernelNumber>(_ g: ConvGeometry, _ x: [T], _ w: [T]) -> [T] {
    var out = [T](repeating: T.kernelZero, count: g.outputShape.reduce(1, *))
    let (C, H, W, KH, KW) = (g.inChannels, g.height, g.width, g.kernelHeight, g.kernelWidth)
    var k = 0
    for n in 0..<g.batch {
        for o in 0..<g.outChannels {
            for p in 0..<g.outHeight {
                for q in 0..<g.outWidth {
                    var acc = T.kernelZero
                    for c in 0..<C {
                        for i in 0..<KH {
                            for j in 0..<KW {
                                let xv = tap(g, p, q, i, j).map { x[((n * C + c) * H + $0.0) * W + $0.1] } ?? T.kernelZero
                                acc = T.kernelAdd(acc, T.kernelMul(w[((o * C + c) * KH + i) * KW + j], xv))
                            }
                        }
                    }
                    out[k] = acc
                    k += 1
                }
            }
        }
    }
    return out
}

/// dx[n,c,h,w] = Σ g[n,o,p,q]·w[o,c,i,j] over the taps that read (h, w): for each (c, i, j)
/// and (p, q) in row-major order, Σ_o from +0, added into dx.
func convInputGradReference<T: KernelNumber>(_ g: ConvGeometry, _ cot: [T], _ w: [T]) -> [T] {
    var dx = [T](repeating: T.kernelZero, count: g.inputShape.reduce(1, *))
    let (C, H, W, KH, KW, O) = (g.inChannels, g.height, g.width, g.kernelHeight, g.kernelWidth, g.outChannels)
    let (OH, OW) = (g.outHeight, g.outWidth)
    for n in 0..<g.batch {
        for c in 0..<C {
            for i in 0..<KH {
                for j in 0..<KW {
                    for p in 0..<OH {
                        for q in 0..<OW {
                            guard let (h, ww) = tap(g, p, q, i, j) else { continue }
                            var acc = T.kernelZero
                            for o in 0..<O {
                                acc = T.kernelAdd(acc, T.kernelMul(w[((o * C + c) * KH + i) * KW + j], cot[((n * O + o) * OH + p) * OW + q]))
                            }
                            let at = ((n * C + c) * H + h) * W + ww
                            dx[at] = T.kernelAdd(dx[at], acc)
                        }
                    }
                }
            }
        }
    }
    return dx
}

/// dw[o,c,i,j] = Σ_{n,p,q} g[n,o,p,q]·xp[n,c,…] from +0 in (n, p, q) order.
func convKernelGradReference<T: KernelNumber>(_ g: ConvGeometry, _ x: [T], _ cot: [T]) -> [T] {
    var dw = [T](repeating: T.kernelZero, count: g.kernelShape.reduce(1, *))
    let (C, H, W, KH, KW, O) = (g.inChannels, g.height, g.width, g.kernelHeight, g.kernelWidth, g.outChannels)
    let (OH, OW) = (g.outHeight, g.outWidth)
    var k = 0
    for o in 0..<O {
        for c in 0..<C {
            for i in 0..<KH {
                for j in 0..<KW {
                    var acc = T.kernelZero
                    for n in 0..<g.batch {
                        for p in 0..<OH {
                            for q in 0..<OW {
                                let xv = tap(g, p, q, i, j).map { x[((n * C + c) * H + $0.0) * W + $0.1] } ?? T.kernelZero
                                acc = T.kernelAdd(acc, T.kernelMul(cot[((n * O + o) * OH + p) * OW + q], xv))
                            }
                        }
                    }
                    dw[k] = acc
                    k += 1
                }
            }
        }
    }
    return dw
}
