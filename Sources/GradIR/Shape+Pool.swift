/// The geometry of one 2-D pooling (`max_pool2d`, `avg_pool2d` and their transposes), shared
/// by the type rule and every backend so that all agree on which element a window reads.
///
/// Layout NCHW (`x[n, c, h, w]`, `out[n, c, p, q]`). Window (p, q) covers input rows
/// `p·sh − ph + i` (0 ≤ i < KH) and columns `q·sw − pw + j` (0 ≤ j < KW); the positions
/// outside 0..<H × 0..<W are padding (−inf for max pooling, 0 for average pooling).
public struct PoolGeometry: Hashable, Sendable {
    /// N·C: the (image, channel) planes, pooled independently.
    public var planes: Int
    public var batch: Int
    public var channels: Int
    public var height: Int
    public var width: Int
    public var windowH: Int
    public var windowW: Int
    public var strideH: Int
    public var strideW: Int
    public var padH: Int
    public var padW: Int
    public var outHeight: Int
    public var outWidth: Int

    /// The shapes: input [N,C,H,W], output [N,C,OH,OW].
    public var inputShape: [Int] { [batch, channels, height, width] }
    public var outputShape: [Int] { [batch, channels, outHeight, outWidth] }
    /// Elements of a window, padding included (the divisor of `avg_pool2d`).
    public var windowSize: Int { windowH * windowW }

    /// The geometry of pooling x of shape [N,C,H,W] with the node's `window` (required),
    /// `stride` (default: the window) and `padding` (default [0,0], at most half the window on
    /// each axis, as PyTorch asks), or a message saying what was expected.
    public static func make(input x: [Int], attrs: Attributes) -> Result<PoolGeometry, ConvGeometryError> {
        guard x.count == 4 else { return .failure(.init("input must be 4-D NCHW [N,C,H,W], got rank \(x.count)")) }
        func pair(_ key: AttrKey, _ def: (Int, Int)?, min: Int) -> Result<(Int, Int), ConvGeometryError> {
            guard let v = attrs.ints(key) else {
                if let def { return .success(def) }
                return .failure(.init("a window [KH,KW] (two integers ≥ 1)", attribute: key.rawValue))
            }
            guard v.count == 2, v[0] >= min, v[1] >= min, v[0] <= 1 << 20, v[1] <= 1 << 20 else {
                return .failure(.init("two integers ≥ \(min) (rows, columns), got \(AttrValue.ints(v))", attribute: key.rawValue))
            }
            return .success((v[0], v[1]))
        }
        let k: (Int, Int)
        switch pair(.window, nil, min: 1) {
        case .success(let v): k = v
        case .failure(let e): return .failure(e)
        }
        let s: (Int, Int), p: (Int, Int)
        switch (pair(.stride, k, min: 1), pair(.padding, (0, 0), min: 0)) {
        case (.success(let a), .success(let b)): (s, p) = (a, b)
        case (.failure(let e), _), (_, .failure(let e)): return .failure(e)
        }
        guard 2 * p.0 <= k.0, 2 * p.1 <= k.1 else {
            return .failure(.init("padding of at most half the window \(AttrValue.ints([k.0, k.1])) on each axis, got \(AttrValue.ints([p.0, p.1]))",
                                  attribute: AttrKey.padding.rawValue))
        }
        let paddedH = x[2] + 2 * p.0, paddedW = x[3] + 2 * p.1
        guard k.0 <= paddedH, k.1 <= paddedW else {
            return .failure(.init("the window is \(k.0)×\(k.1) but the padded input is only \(paddedH)×\(paddedW)"))
        }
        return .success(PoolGeometry(planes: x[0] * x[1], batch: x[0], channels: x[1], height: x[2], width: x[3],
                                     windowH: k.0, windowW: k.1, strideH: s.0, strideW: s.1, padH: p.0, padW: p.1,
                                     outHeight: (paddedH - k.0) / s.0 + 1, outWidth: (paddedW - k.1) / s.1 + 1))
    }

    /// The geometry of a pooling node from its operands' shapes and attributes (the backends'
    /// entry: the type rule checked it). `avg_pool2d_grad` takes [H,W] from its `shape`.
    public static func of(_ op: Op, operands: [[Int]], attrs: Attributes) -> PoolGeometry? {
        guard let first = operands.first, first.count == 4 else { return nil }
        var input = first
        if op == .avg_pool2d_grad {
            guard let spatial = attrs.shape, spatial.count == 2 else { return nil }
            input = [first[0], first[1], spatial[0], spatial[1]]
        }
        if case .success(let g) = make(input: input, attrs: attrs) { return g }
        return nil
    }

    /// The rows (or columns) of window p along an axis of length `size`: the first input
    /// position it covers (may be negative: padding) and the range of positions inside.
    @inlinable
    public static func span(_ p: Int, stride: Int, pad: Int, window: Int, size: Int) -> Range<Int> {
        let start = p * stride - pad
        let lower = Swift.max(start, 0)
        return lower..<Swift.max(lower, Swift.min(start + window, size))
    }
}
