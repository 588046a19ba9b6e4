import GradIR

/// The gradient parts reaching one value when some of them are `pad`s (the cotangents of
/// slices and element reads of that value), in arrival order.
///
/// `sum` gives exactly the left-to-right chain of adds the sweep builds for any other value
/// when few pads met; when many did — an element-by-element model reads each of n elements
/// and gets n pads of n elements — it adds the pads' elements into the sum of the other parts
/// (or zeros) in O(n + k) for k elements read instead of O(n) per read: by one `concat` when
/// every pad is a slab along one common axis and the slabs' ranges are disjoint once equal
/// ranges are added together (the columns of a matrix, the elements of a vector: no index
/// constant), else by one `scatter_add` at constant flat indices.
struct PadParts {
    /// Every part in arrival order; `isPad[i]` says which are pads.
    private var parts: [ValueID] = []
    private var isPad: [Bool] = []
    /// Elements of all pads' operands (the k of the cost).
    private var padElements = 0
    private var padCount = 0

    /// A float `pad` with no negative padding: its operand's elements land at known flat
    /// positions of a zero tensor.
    static func isScatterable(_ id: ValueID, _ f: Function) -> Bool {
        let node = f.nodes[id]
        guard node.op == .pad, node.type.dtype.isFloat,
              let low = node.attrs.low, let high = node.attrs.high, let step = node.attrs.step else { return false }
        return low.allSatisfy { $0 >= 0 } && high.allSatisfy { $0 >= 0 } && step.allSatisfy { $0 >= 1 }
    }

    /// Starts with the sum that had arrived before the first pad (`earlier`, −1: none).
    init(earlier: ValueID, pad: ValueID, _ f: Function) {
        if earlier >= 0 {
            parts.append(earlier)
            isPad.append(false)
        }
        append(pad, f)
    }

    mutating func append(_ part: ValueID, _ f: Function) {
        let pad = Self.isScatterable(part, f)
        parts.append(part)
        isPad.append(pad)
        if pad {
            padCount += 1
            padElements += f.nodes[f.nodes[part].inputs[0]].type.count
        }
    }

    /// Whether one scatter beats the adds: m pads of n elements cost m·n; the scatter costs
    /// the n of its base plus its k elements twice (gathered by a concat, then scattered).
    private func scatterPays(_ n: Int) -> Bool {
        let (dense, overflow) = padCount.multipliedReportingOverflow(by: n)
        return padCount >= 3 && (overflow || dense > 2 * (n + 2 * padElements))
    }

    /// The sum of the parts. (Reads `b.function` only before each append: a copy of it held
    /// across `b.add` would make copy-on-write duplicate the whole graph per call.)
    func sum(_ b: inout GraphBuilder) throws(Diagnostic) -> ValueID {
        let type = b.type(of: parts[isPad.firstIndex(of: true) ?? 0])
        if padCount >= 3, let slabs = try slabConcat(&b, type) { return try addingOtherParts(slabs, &b) }
        guard scatterPays(type.count) else {
            var total = parts[0]
            for p in parts.dropFirst() { total = try b.binary(.add, total, p) }
            return total
        }
        // The pads' elements at their flat positions in the value.
        var indices: [Double] = []
        indices.reserveCapacity(padElements)
        var operands: [ValueID] = []
        let strides = rowMajorStrides(type.shape)
        for (p, pad) in zip(parts, isPad) where pad {
            let node = b.function.nodes[p]
            let shape = b.type(of: node.inputs[0]).shape
            let (low, step) = (node.attrs.low ?? [], node.attrs.step ?? [])
            let offset = zip(low, strides).reduce(0) { $0 + $1.0 * $1.1 }
            let positions = stridedIndexMap(shape: shape, strides: steppedStrides(strides, step, extents: shape), offset: offset)
            indices.append(contentsOf: positions.lazy.map(Double.init))
            operands.append(node.inputs[0])
        }
        // The other parts in arrival order (their chain as the sweep would build it), or zeros.
        var base = -1
        for (p, pad) in zip(parts, isPad) where !pad {
            base = base < 0 ? p : try b.binary(.add, base, p)
        }
        if base < 0 { base = try b.constant(0, type) }
        let flat = try b.reshape(base, [type.count])
        var values: [ValueID] = []
        for operand in operands { values.append(try b.reshape(operand, [b.type(of: operand).count])) }
        var idxAttrs = Attributes()
        idxAttrs[.dtype] = .dtype(.i64)
        idxAttrs[.shape] = .ints([indices.count])
        idxAttrs[.values] = .floats(indices)
        let idx = try b.add(.const, [], idxAttrs)
        let updates = values.count == 1 ? values[0] : try b.add(.concat, values, Attributes([.axis: .int(0)]))
        let scattered = try b.add(.scatter_add, [flat, idx, updates], Attributes([.axis: .int(0)]))
        return try b.reshape(scattered, type.shape)
    }

    /// The axis along which a pad is a slab (step 1, padding on that axis alone, none
    /// negative), with its range there; nil for any other pad.
    private static func slab(_ attrs: Attributes, _ type: TensorType) -> (axis: Int, low: Int, extent: Int)? {
        guard let low = attrs.low, let high = attrs.high, let step = attrs.step,
              low.count == high.count, step.allSatisfy({ $0 == 1 }) else { return nil }
        var axis = -1
        for i in low.indices where low[i] != 0 || high[i] != 0 {
            guard axis < 0 else { return nil }
            axis = i
        }
        guard axis >= 0, axis < type.rank, low[axis] >= 0, high[axis] >= 0 else { return nil }
        return (axis, low[axis], type.shape[axis] - low[axis] - high[axis])
    }

    /// The sum of the pads as one `concat` along their common axis — pads of equal range
    /// added first (in arrival order), zeros in the gaps — when every pad is a slab along
    /// that axis and the ranges are then disjoint; nil otherwise.
    ///
    /// In O(n + k): the slabs are bucketed by their start (one list per position of the
    /// axis, in arrival order), not kept in a dictionary of arrays.
    private func slabConcat(_ b: inout GraphBuilder, _ type: TensorType) throws(Diagnostic) -> ValueID? {
        var axis = -1
        var lows: [Int] = []
        var extents: [Int] = []
        var operands: [ValueID] = []
        lows.reserveCapacity(padCount)
        extents.reserveCapacity(padCount)
        operands.reserveCapacity(padCount)
        for (p, pad) in zip(parts, isPad) where pad {
            let (s, operand): ((axis: Int, low: Int, extent: Int)?, ValueID) = b.function.nodes.withUnsafeBufferPointer {
                (Self.slab($0[p].attrs, $0[p].type), $0[p].inputs[0])
            }
            guard let s, axis < 0 || s.axis == axis else { return nil }
            axis = s.axis
            lows.append(s.low)
            extents.append(s.extent)
            operands.append(operand)
        }
        guard axis >= 0, axis < type.rank else { return nil }
        let dim = type.shape[axis]
        // first[low]: the first slab starting at low (−1: none); next[k]: the next one.
        var first = [Int](repeating: -1, count: dim + 1)
        var next = [Int](repeating: -1, count: lows.count)
        for k in lows.indices.reversed() {
            guard lows[k] <= dim else { return nil }
            next[k] = first[lows[k]]
            first[lows[k]] = k
        }
        var end = 0
        for start in 0...dim where first[start] >= 0 {
            let extent = extents[first[start]]
            guard start >= end else { return nil }
            var k = next[first[start]]
            while k >= 0 {
                guard extents[k] == extent else { return nil }
                k = next[k]
            }
            end = start + extent
        }
        var pieces: [ValueID] = []
        var at = 0
        func zeros(_ extent: Int) throws(Diagnostic) -> ValueID {
            var shape = type.shape
            shape[axis] = extent
            return try b.constant(0, TensorType(type.dtype, shape))
        }
        for start in 0...dim where first[start] >= 0 {
            if start > at { pieces.append(try zeros(start - at)) }
            var k = first[start]
            var total = operands[k]
            k = next[k]
            while k >= 0 {
                total = try b.binary(.add, total, operands[k])
                k = next[k]
            }
            pieces.append(total)
            at = start + extents[first[start]]
        }
        if at < dim { pieces.append(try zeros(dim - at)) }
        return pieces.count == 1 ? pieces[0] : try b.add(.concat, pieces, Attributes([.axis: .int(axis)]))
    }

    /// `total` plus the parts that are not pads, in arrival order.
    private func addingOtherParts(_ total: ValueID, _ b: inout GraphBuilder) throws(Diagnostic) -> ValueID {
        var base = -1
        for (p, pad) in zip(parts, isPad) where !pad {
            base = base < 0 ? p : try b.binary(.add, base, p)
        }
        return base < 0 ? total : try b.binary(.add, base, total)
    }
}
