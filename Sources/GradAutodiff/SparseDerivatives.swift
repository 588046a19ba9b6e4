/// Compressed sparse Jacobians and Hessians (docs/sparsity.md): the structural pattern, a
/// colouring of its columns (forward sweeps), rows (reverse sweeps) or of the symmetric
/// Hessian (Hessian-vector products), one sweep per colour seeded with the colour's
/// indicator, and the non-zeros gathered from the compressed matrix in CSR order.
extension Expansion {
    /// The pattern of a sparse request, on the source graph its type was computed on.
    func patternOfRequest(_ node: Node) throws(Diagnostic) -> SparsityPattern {
        guard let view = sourceForPatterns else {
            throw Diagnostic(.other("internal: no source graph kept for a sparse request"), at: node.location)
        }
        do throws(Diagnostic) {
            let pattern = try view.requestPattern(node.op, node.inputs)
            // The type was computed from the same graph; a different count would be a bug here.
            guard pattern.nonZeroCount == node.type.count else {
                throw Diagnostic(.other("internal: the sparse \(node.op.name) was typed with \(node.type.count) non-zeros but its pattern now has \(pattern.nonZeroCount)"), at: node.location)
            }
            return pattern
        } catch {
            var e = error
            if !e.location.isKnown { e.location = node.location }
            throw e
        }
    }

    /// `jacobian(y, x, sparse=true)`: column compression (one tangent pass per colour) or row
    /// compression (one backward pass per colour), as `jacobianLayout` picks.
    mutating func sparseJacobian(_ node: Node, pattern: SparsityPattern) throws(Diagnostic) -> ValueID {
        let saved = builder.role
        builder.role = .gradient
        defer { builder.role = saved }
        let (y, x) = (remap[node.inputs[0]], remap[node.inputs[1]])
        let yType = builder.type(of: y)
        let xType = builder.type(of: x)
        guard pattern.nonZeroCount > 0 else { return try builder.constant(0, TensorType(yType.dtype, [0])) }
        let layout = jacobianLayout(node, pattern)
        let forward = layout.direction == .columns
        let relevant = forward ? Relevance(lowest: 0, flags: []) : relevantNodes(from: y, wrt: [x])
        var parts: [ValueID] = []
        for k in 0..<layout.colourCount {
            let seed = try colourIndicator(layout, k, forward ? xType : yType)
            parts.append(forward ? try tangents(of: [y], wrt: [x], along: [seed])[0]
                                 : try backward(from: y, seed: seed, wrt: [x], relevant: relevant)[0])
        }
        return try recover(layout, parts, columns: forward)
    }

    /// The compression of a sparse Jacobian: the one `forward=` asks for, else whichever
    /// colouring has fewer colours (columns on a tie). A row colouring needs at least the most
    /// non-zeros in a column, so it is not tried when the column colouring already has that
    /// few (on a pattern with a dense column it would cost O(n²) to find out).
    func jacobianLayout(_ node: Node, _ pattern: SparsityPattern) -> CompressedLayout {
        if case .bool(let forward)? = node.attrs[.forward] {
            return forward ? Colouring.columnColouring(pattern) : Colouring.rowColouring(pattern)
        }
        let columns = Colouring.columnColouring(pattern)
        if columns.colourCount <= pattern.maxColumnCount { return columns }
        let rows = Colouring.rowColouring(pattern)
        return columns.colourCount <= rows.colourCount ? columns : rows
    }

    /// `hessian(f, x, sparse=true)`: the gradient once, then one Hessian-vector product
    /// (a tangent pass over the gradient) per colour of a symmetric colouring.
    mutating func sparseHessian(_ node: Node, pattern: SparsityPattern) throws(Diagnostic) -> ValueID {
        let x = remap[node.inputs[1]]
        let xType = builder.type(of: x)
        guard pattern.nonZeroCount > 0 else { return try builder.constant(0, TensorType(xType.dtype, [0])) }
        let g = try gradients(of: remap[node.inputs[0]], wrt: [x])[0]
        builder.location = node.location
        let saved = builder.role
        builder.role = .gradient
        defer { builder.role = saved }
        let layout = Colouring.symmetricColouring(pattern)
        var parts: [ValueID] = []
        for k in 0..<layout.colourCount {
            let seed = try colourIndicator(layout, k, xType)
            parts.append(try tangents(of: [g], wrt: [x], along: [seed])[0])
        }
        return try recover(layout, parts, columns: true)
    }

    /// The seed of colour `k`, shaped like the seeded value (x for columns, y for rows): 1
    /// where an element has colour k, else 0 — a constant of its own, since the optimizer
    /// folds only small tensors and a mask computed at run time costs a pass per call.
    mutating func colourIndicator(_ layout: CompressedLayout, _ k: Int, _ type: TensorType) throws(Diagnostic) -> ValueID {
        var attrs = Attributes()
        attrs[.dtype] = .dtype(type.dtype)
        attrs[.shape] = .ints(type.shape)
        let colour = Int32(k)
        attrs[.values] = .floats(layout.colours.map { $0 == colour ? 1 : 0 })
        return try builder.add(.const, [], attrs)
    }

    /// The non-zeros in CSR order: the compressed parts (one per colour, each flattened)
    /// stacked one after the other — the compressed matrix with one colour per row, so the
    /// stacking copies contiguous runs — and gathered at the layout's recovery indices,
    /// renumbered from the layout's `rows × colourCount` order where the parts are columns.
    mutating func recover(_ layout: CompressedLayout, _ parts: [ValueID], columns: Bool) throws(Diagnostic) -> ValueID {
        // Concatenated on their own first axis (the same bytes as flattened parts end to end,
        // and the parts can then be computed in the concatenation's buffer); scalars as [1].
        let shaped = try parts.map { (p: ValueID) throws(Diagnostic) -> ValueID in builder.type(of: p).isScalar ? try builder.reshape(p, [1]) : p }
        let joined = shaped.count == 1 ? shaped[0] : try builder.add(.concat, shaped, Attributes([.axis: .int(0)]))
        let stacked = try builder.reshape(joined, [builder.type(of: joined).count])
        let c = layout.colourCount
        let length = parts.isEmpty ? 0 : builder.type(of: parts[0]).count
        // B[i, k] (row-major rows × c) is element k·rows + i of the stacked parts.
        let indices = columns ? layout.recovery.map { ($0 % c) * length + $0 / c } : layout.recovery
        // A gather of every element in order (one colour of a diagonal, say) is no gather.
        if indices.count == builder.type(of: stacked).count, indices.enumerated().allSatisfy({ $0.offset == $0.element }) {
            return stacked
        }
        var attrs = Attributes()
        attrs[.dtype] = .dtype(.i64)
        attrs[.shape] = .ints([indices.count])
        attrs[.values] = .int64Values(indices)
        let indexConstant = try builder.add(.const, [], attrs)
        return try builder.add(.take, [stacked, indexConstant], Attributes([.axis: .int(0)]))
    }
}
