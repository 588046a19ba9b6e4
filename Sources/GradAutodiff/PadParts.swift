import GradIR

/// The gradient parts reaching one value when some of them are `pad`s (the cotangents of
/// slices and element reads of that value), in arrival order.
///
/// `sum` gives exactly the left-to-right chain of adds the sweep builds for any other value
/// when few pads met; when many did — an element-by-element model reads each of n elements
/// and gets n pads of n elements — it adds the pads' elements into the sum of the other parts
/// (or zeros) with one `scatter_add` at constant flat indices: O(n + k) for k elements read
/// instead of O(n) per read.
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
}
