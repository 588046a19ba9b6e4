import GradIR
import GradRuntime
// The convolutions: im2col (an index map computed once, at selection) and the blocked matrix
// product of Kernels+Matmul.swift. Each product adds its terms from +0 in the reference
// kernels' order (GradRuntime/Kernels+Conv.swift), so without fused multiply-adds the
// results are the reference's bit for bit.

/// `conv2d`, `conv2d_input_grad` or `conv2d_kernel_grad` for f32/f64.
///
/// - conv2d: per image, col[r, s] = x at tap r = (c, i, j) of output position s (0 for
///   padding), then out[n] (O×S) = W (O×R) · col (R×S).
/// - conv2d_input_grad: per image, dcol (R×S) = Wᵀ · g[n] (O×S), then dx[n] = 0 and each
///   dcol[r, s] is added to the input element its tap reads (col2im), in row-major order.
/// - conv2d_kernel_grad: gᵀ-packed G (O × N·S) and colᵀ (N·S × R), dw = G · colᵀ.
final class ConvKernel<T: RealScalar & KernelNumber, V: SIMD & SendableMetatype>: @unchecked Sendable where V.Scalar == T {
    let op: Op
    let geometry: ConvGeometry
    let a: Int
    let b: Int
    let out: Int
    /// im2col map of one image: row-major (r, s) (transposed, (s, r), for the kernel gradient).
    let map: [Int]
    let product: MatmulKernel<T, V>
    /// Byte offsets in the scratch: the matrices this kernel builds, then the product's packing.
    let columnsOffset: Int
    let productOffset: Int
    let scratchBytes: Int

    init(_ op: Op, _ geometry: ConvGeometry, _ inputs: [BytecodeOperand], _ output: BytecodeOperand,
         threads: Int, threshold: Int, micro: MatmulMicro?) {
        self.op = op
        self.geometry = geometry
        (a, b, out) = (inputs[0].offset, inputs[1].offset, output.offset)
        let (R, S, O, N) = (geometry.patch, geometry.positions, geometry.outChannels, geometry.batch)
        let full = geometry.columnIndexMap()
        let size = MemoryLayout<T>.stride
        func aligned(_ bytes: Int) -> Int { (bytes + 63) / 64 * 64 }
        switch op {
        case .conv2d_input_grad:
            map = full
            product = MatmulKernel(m: R, k: O, n: S, aLayout: MatrixLayout(rowStride: 1, columnStride: R),
                                   bLayout: MatrixLayout(rowStride: S, columnStride: 1), threads: threads, threshold: threshold, micro: micro)
            columnsOffset = 0
            productOffset = aligned(R * S * size)
        case .conv2d_kernel_grad:
            var transposed = [Int](repeating: -1, count: R * S)
            for r in 0..<R {
                for s in 0..<S { transposed[s * R + r] = full[r * S + s] }
            }
            map = transposed
            product = MatmulKernel(m: O, k: N * S, n: R, aLayout: MatrixLayout(rowStride: N * S, columnStride: 1),
                                   bLayout: MatrixLayout(rowStride: R, columnStride: 1), threads: threads, threshold: threshold, micro: micro)
            columnsOffset = aligned(O * N * S * size)
            productOffset = columnsOffset + aligned(N * S * R * size)
        default:
            map = full
            product = MatmulKernel(m: O, k: R, n: S, aLayout: MatrixLayout(rowStride: R, columnStride: 1),
                                   bLayout: MatrixLayout(rowStride: S, columnStride: 1), threads: threads, threshold: threshold, micro: micro)
            columnsOffset = 0
            productOffset = aligned(R * S * size)
        }
        scratchBytes = productOffset + product.scratchBytes
    }

    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        let g = geometry
        let (R, S, O, N) = (g.patch, g.positions, g.outChannels, g.batch)
        let image = g.inChannels * g.height * g.width
        let pa = UnsafePointer((base + a).assumingMemoryBound(to: T.self))
        let pb = UnsafePointer((base + b).assumingMemoryBound(to: T.self))
        let po = (base + out).assumingMemoryBound(to: T.self)
        let packing = scratch + productOffset
        map.withUnsafeBufferPointer { map in
            switch op {
            case .conv2d:
                let col = scratch.assumingMemoryBound(to: T.self)
                for n in 0..<N {
                    let x = pa + n * image
                    for e in 0..<(R * S) {
                        let m = map[e]
                        col[e] = m >= 0 ? x[m] : 0
                    }
                    product.product(pb, UnsafePointer(col), po + n * O * S, packing)
                }
            case .conv2d_input_grad:
                let dcol = scratch.assumingMemoryBound(to: T.self)
                for n in 0..<N {
                    product.product(pb, pa + n * O * S, dcol, packing)
                    let dx = po + n * image
                    for e in 0..<image { dx[e] = 0 }
                    for e in 0..<(R * S) {
                        let m = map[e]
                        if m >= 0 { dx[m] += dcol[e] }
                    }
                }
            default:
                // G[o, n·S + s] = g[n, o, s]; colᵀ[n·S + s, r] = x[n] at tap r of position s.
                let packedG = scratch.assumingMemoryBound(to: T.self)
                let colT = (scratch + columnsOffset).assumingMemoryBound(to: T.self)
                for n in 0..<N {
                    for o in 0..<O {
                        let src = pb + (n * O + o) * S
                        let dst = packedG + o * N * S + n * S
                        for s in 0..<S { dst[s] = src[s] }
                    }
                    let x = pa + n * image
                    let dst = colT + n * S * R
                    for e in 0..<(S * R) {
                        let m = map[e]
                        dst[e] = m >= 0 ? x[m] : 0
                    }
                }
                product.product(UnsafePointer(packedG), UnsafePointer(colT), po, packing)
            }
        }
    }
}
