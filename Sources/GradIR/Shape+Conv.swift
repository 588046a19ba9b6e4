/// The geometry of one 2-D convolution (`conv2d` and its two transposes), shared by the type
/// rule and every backend so that all agree on which element reads which.
///
/// Layouts: data NCHW (`x[n, c, h, w]`), kernels OIHW (`w[o, c, i, j]`), results NCHW
/// (`out[n, o, p, q]`). Output element (p, q) reads padded input row `p·sh + i·dh` and column
/// `q·sw + j·dw`, that is input row `p·sh + i·dh − ph` (zero outside 0..<H).
public struct ConvGeometry: Hashable, Sendable {
    public var batch: Int
    public var inChannels: Int
    public var outChannels: Int
    public var height: Int
    public var width: Int
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var outHeight: Int
    public var outWidth: Int
    public var strideH: Int
    public var strideW: Int
    public var padH: Int
    public var padW: Int
    public var dilationH: Int
    public var dilationW: Int

    /// Rows of the im2col matrix: C·KH·KW (the reduction of the forward product).
    public var patch: Int { inChannels * kernelHeight * kernelWidth }
    /// Output positions per image: OH·OW.
    public var positions: Int { outHeight * outWidth }

    public static func == (a: ConvGeometry, b: ConvGeometry) -> Bool {
        a.batch == b.batch && a.inChannels == b.inChannels && a.outChannels == b.outChannels && a.height == b.height
            && a.width == b.width && a.kernelHeight == b.kernelHeight && a.kernelWidth == b.kernelWidth
            && a.strideH == b.strideH && a.strideW == b.strideW && a.padH == b.padH && a.padW == b.padW
            && a.dilationH == b.dilationH && a.dilationW == b.dilationW
    }
    public func hash(into h: inout Hasher) {
        for v in [batch, inChannels, outChannels, height, width, kernelHeight, kernelWidth, strideH, strideW, padH, padW, dilationH, dilationW] {
            h.combine(v)
        }
    }

    /// The geometry of `conv2d` on `x` of shape [N,C,H,W] and a kernel of shape [O,C,KH,KW]
    /// with the node's `stride`, `padding` and `dilation` (defaults [1,1], [0,0], [1,1]), or a
    /// message saying what was expected.
    public static func make(input x: [Int], kernel w: [Int], attrs: Attributes) -> Result<ConvGeometry, ConvGeometryError> {
        guard x.count == 4 else { return .failure(.init("input must be 4-D NCHW [N,C,H,W], got rank \(x.count)")) }
        guard w.count == 4 else { return .failure(.init("kernel must be 4-D OIHW [O,C,KH,KW], got rank \(w.count)")) }
        guard x[1] == w[1] else {
            return .failure(.init("input has \(x[1]) channels but the kernel expects \(w[1]) (x[N,C,H,W], w[O,C,KH,KW])"))
        }
        func pair(_ key: AttrKey, _ def: Int, min: Int) -> Result<(Int, Int), ConvGeometryError> {
            guard let v = attrs.ints(key) else { return .success((def, def)) }
            guard v.count == 2, v[0] >= min, v[1] >= min, v[0] <= 1 << 20, v[1] <= 1 << 20 else {
                return .failure(.init("two integers ≥ \(min) (rows, columns), got \(AttrValue.ints(v))", attribute: key.rawValue))
            }
            return .success((v[0], v[1]))
        }
        let s: (Int, Int), p: (Int, Int), d: (Int, Int)
        switch (pair(.stride, 1, min: 1), pair(.padding, 0, min: 0), pair(.dilation, 1, min: 1)) {
        case (.success(let a), .success(let b), .success(let c)): (s, p, d) = (a, b, c)
        case (.failure(let e), _, _), (_, .failure(let e), _), (_, _, .failure(let e)): return .failure(e)
        }
        guard w[2] >= 1, w[3] >= 1 else { return .failure(.init("kernel must have at least one row and column, got [\(w[2]),\(w[3])]")) }
        let paddedH = x[2] + 2 * p.0, paddedW = x[3] + 2 * p.1
        let spanH = d.0 * (w[2] - 1) + 1, spanW = d.1 * (w[3] - 1) + 1
        guard spanH <= paddedH, spanW <= paddedW else {
            return .failure(.init("the kernel spans \(spanH)×\(spanW) (with dilation) but the padded input is only \(paddedH)×\(paddedW)"))
        }
        return .success(ConvGeometry(batch: x[0], inChannels: x[1], outChannels: w[0], height: x[2], width: x[3],
                                     kernelHeight: w[2], kernelWidth: w[3],
                                     outHeight: (paddedH - spanH) / s.0 + 1, outWidth: (paddedW - spanW) / s.1 + 1,
                                     strideH: s.0, strideW: s.1, padH: p.0, padW: p.1, dilationH: d.0, dilationW: d.1))
    }

    /// The shapes: input [N,C,H,W], kernel [O,C,KH,KW], output [N,O,OH,OW].
    public var inputShape: [Int] { [batch, inChannels, height, width] }
    public var kernelShape: [Int] { [outChannels, inChannels, kernelHeight, kernelWidth] }
    public var outputShape: [Int] { [batch, outChannels, outHeight, outWidth] }

    /// The geometry of a `conv2d`, `conv2d_input_grad` or `conv2d_kernel_grad` node from its
    /// operands' shapes and attributes (the backends' entry: the type rule checked it).
    public static func of(_ op: Op, operands: [[Int]], attrs: Attributes) -> ConvGeometry? {
        guard operands.count == 2, operands[0].count == 4, operands[1].count == 4 else { return nil }
        let spatial = attrs.shape ?? []
        let result: Result<ConvGeometry, ConvGeometryError>
        switch op {
        case .conv2d_input_grad:
            guard spatial.count == 2 else { return nil }
            let (g, w) = (operands[0], operands[1])
            result = make(input: [g[0], w[1], spatial[0], spatial[1]], kernel: w, attrs: attrs)
        case .conv2d_kernel_grad:
            guard spatial.count == 2 else { return nil }
            let (x, g) = (operands[0], operands[1])
            result = make(input: x, kernel: [g[1], x[1], spatial[0], spatial[1]], attrs: attrs)
        default:
            result = make(input: operands[0], kernel: operands[1], attrs: attrs)
        }
        if case .success(let geometry) = result { return geometry }
        return nil
    }

    /// im2col: for each patch row r = (c, i, j) and output position (p, q), the flat index of
    /// the input element it reads within one image (c·H·W + h·W + w), or −1 for padding.
    /// Row-major over (r, p·OW + q).
    public func columnIndexMap() -> [Int] {
        var map = [Int](repeating: -1, count: patch * positions)
        var k = 0
        for c in 0..<inChannels {
            for i in 0..<kernelHeight {
                for j in 0..<kernelWidth {
                    for p in 0..<outHeight {
                        let h = p * strideH + i * dilationH - padH
                        for q in 0..<outWidth {
                            let w = q * strideW + j * dilationW - padW
                            if h >= 0, h < height, w >= 0, w < width { map[k] = (c * height + h) * width + w }
                            k += 1
                        }
                    }
                }
            }
        }
        return map
    }
}

/// Why a convolution's operands or attributes do not fit together.
public struct ConvGeometryError: Error, Sendable {
    public var message: String
    /// The attribute at fault, if one is.
    public var attribute: String?
    init(_ message: String, attribute: String? = nil) {
        self.message = message
        self.attribute = attribute
    }
}
