
// The building blocks of the rules: unions of sets element by element, over groups and over
// lists, data movement, interactions, and the index maps they use.

extension Propagator {
    /// The values of an index operand when they are known (`IndexValues`).
    mutating func indexValues(_ f: Function, _ id: ValueID) -> [Int64]? {
        guard !indexEvaluators.isEmpty else { return constantIndices(f, id) }
        return indexEvaluators[indexEvaluators.count - 1].values(id)
    }

    /// Every element depends on everything any operand depends on.
    mutating func everything(_ node: Node, _ operands: [DependencySets?], _ count: Int, emit: Bool) throws(SparsityError) -> DependencySets {
        let all = try collapseAll(operands.compactMap { $0 })
        if emit { try emitSquares(all) }
        return uniformly(all, count: count)
    }

    /// A value of `count` elements each with the one set of `d` (one element): no table.
    func uniformly(_ d: DependencySets, count: Int) -> DependencySets {
        DependencySets(starts: d.starts, indices: d.indices, map: .uniform(d.isEmpty ? -1 : d.setID(0)), count: count)
    }

    /// One element: the union of all the sets of all the values.
    mutating func collapseAll(_ values: [DependencySets]) throws(SparsityError) -> DependencySets {
        var parts: [(DependencySets, [Int]?)] = []
        for d in values { parts.append((try collapse(d), nil)) }
        return try unionOf(parts, count: 1)
    }

    /// One element: the union of all of `d`'s sets.
    mutating func collapse(_ d: DependencySets) throws(SparsityError) -> DependencySets {
        try groupUnion(d, ([0], Array(0..<d.count)))
    }

    /// Element `e` gets the union of `parts[k]`'s element `source[e]` (`nil`: `e`) over k.
    mutating func unionOf(_ parts: [(DependencySets, [Int]?)], count: Int) throws(SparsityError) -> DependencySets {
        let live = parts.filter { !$0.0.isEmpty }
        if live.isEmpty { return .empty(count) }
        if live.count == 1 {
            let (d, s) = live[0]
            return s.map { d.remapped($0) } ?? d.resized(count)
        }
        var starts = [0]
        var indices: [Int32] = []
        var table = [Int32](repeating: -1, count: count)
        if live.count == 2 {
            // The common case (a binary op), without per-element arrays.
            let (a, b) = (live[0].0, live[1].0)
            let (ra, rb) = (a.ids, b.ids)
            let (sa, sb) = (live[0].1 ?? [], live[1].1 ?? [])
            let (mappedA, mappedB) = (live[0].1 != nil, live[1].1 != nil)
            var (lastA, lastB, lastOut): (Int32, Int32, Int32) = (-2, -2, -1)
            for e in 0..<count {
                let ia = ra[mappedA ? sa[e] : e], ib = rb[mappedB ? sb[e] : e]
                if ia != lastA || ib != lastB {
                    (lastA, lastB) = (ia, ib)
                    merge(a, ia, b, ib, into: &indices)
                    if indices.count == starts[starts.count - 1] {
                        lastOut = -1
                    } else {
                        starts.append(indices.count)
                        lastOut = Int32(starts.count - 2)
                        guard indices.count <= limit else { throw .tooManyNonZeros(limit: limit) }
                    }
                }
                table[e] = lastOut
            }
            return DependencySets(starts: starts, indices: indices, map: .table(table), count: count)
        }
        var previous = [Int32](repeating: -2, count: live.count)
        var current = previous
        var previousOut: Int32 = -1
        for e in 0..<count {
            for k in live.indices { current[k] = live[k].0.setID(live[k].1.map { $0[e] } ?? e) }
            if current == previous {
                table[e] = previousOut
                continue
            }
            swap(&current, &previous)
            union.begin()
            for k in live.indices { union.add(live[k].0, previous[k]) }
            union.finish(into: &indices)
            if indices.count == starts[starts.count - 1] {
                previousOut = -1
            } else {
                starts.append(indices.count)
                previousOut = Int32(starts.count - 2)
                guard indices.count <= limit else { throw .tooManyNonZeros(limit: limit) }
            }
            table[e] = previousOut
        }
        return DependencySets(starts: starts, indices: indices, map: .table(table), count: count)
    }

    /// Appends the union of two sorted sets.
    func merge(_ a: DependencySets, _ ia: Int32, _ b: DependencySets, _ ib: Int32, into out: inout [Int32]) {
        let ra = a.range(ia), rb = b.range(ib)
        var i = ra.lowerBound, j = rb.lowerBound
        while i < ra.upperBound && j < rb.upperBound {
            let x = a.indices[i], y = b.indices[j]
            if x < y {
                out.append(x)
                i += 1
            } else if y < x {
                out.append(y)
                j += 1
            } else {
                out.append(x)
                i += 1
                j += 1
            }
        }
        while i < ra.upperBound {
            out.append(a.indices[i])
            i += 1
        }
        while j < rb.upperBound {
            out.append(b.indices[j])
            j += 1
        }
    }

    /// Group g is the elements `base[g] + offsets[r]` of `d`; the result has one element per
    /// group, its set the union of the group's.
    mutating func groupUnion(_ d: DependencySets, _ groups: (base: [Int], offsets: [Int])) throws(SparsityError) -> DependencySets {
        let n = groups.base.count
        if d.isEmpty || groups.offsets.isEmpty { return .empty(n) }
        if case .uniform(let s) = d.map { return DependencySets(starts: d.starts, indices: d.indices, map: .uniform(s), count: n) }
        if groups.offsets.count == 1 { return d.remapped(groups.base.map { $0 + groups.offsets[0] }) }
        var starts = [0]
        var indices: [Int32] = []
        var table = [Int32](repeating: -1, count: n)
        let ids = d.ids
        for g in 0..<n {
            union.begin()
            var last: Int32 = -2
            for o in groups.offsets {
                let id = ids[groups.base[g] + o]
                if id != last {
                    union.add(d, id)
                    last = id
                }
            }
            union.finish(into: &indices)
            if indices.count > starts[starts.count - 1] {
                starts.append(indices.count)
                table[g] = Int32(starts.count - 2)
                guard indices.count <= limit else { throw .tooManyNonZeros(limit: limit) }
            }
        }
        return DependencySets(starts: starts, indices: indices, map: .table(table), count: n)
    }

    /// Element `e` gets the union over the parts of `members[starts[e] ..< starts[e+1]]`'s sets.
    mutating func unionOfLists(_ parts: [(DependencySets, [Int], [Int])], count: Int) throws(SparsityError) -> DependencySets {
        var starts = [0]
        var indices: [Int32] = []
        var table = [Int32](repeating: -1, count: count)
        for e in 0..<count {
            union.begin()
            for (d, s, m) in parts where !d.isEmpty {
                for k in s[e]..<s[e + 1] { union.add(d, d.setID(m[k])) }
            }
            union.finish(into: &indices)
            if indices.count > starts[starts.count - 1] {
                starts.append(indices.count)
                table[e] = Int32(starts.count - 2)
                guard indices.count <= limit else { throw .tooManyNonZeros(limit: limit) }
            }
        }
        return DependencySets(starts: starts, indices: indices, map: .table(table), count: count)
    }

    /// The elements of `d` grouped by `targets` (an output element per element, `-1`: none),
    /// as lists for `unionOfLists`.
    func listsByTarget(_ d: DependencySets, _ targets: [Int], count: Int) -> (DependencySets, [Int], [Int]) {
        var starts = [Int](repeating: 0, count: count + 1)
        for t in targets where t >= 0 { starts[t + 1] += 1 }
        for e in 0..<count { starts[e + 1] += starts[e] }
        var next = starts
        var members = [Int](repeating: 0, count: starts[count])
        for (u, t) in targets.enumerated() where t >= 0 {
            members[next[t]] = u
            next[t] += 1
        }
        return (d, starts, members)
    }

    /// The sets of several values placed at the given positions of one value of `count`
    /// elements (concat, a loop's stacked outputs); positions not given depend on nothing.
    func combine(_ parts: [(DependencySets, [Int])], count: Int) -> DependencySets {
        let live = parts.filter { !$0.0.isEmpty }
        if live.isEmpty { return .empty(count) }
        var starts = [0]
        var indices: [Int32] = []
        var table = [Int32](repeating: -1, count: count)
        for (d, positions) in live {
            let base = Int32(starts.count - 1)
            for s in 0..<d.setCount {
                indices.append(contentsOf: d.indices[d.starts[s]..<d.starts[s + 1]])
                starts.append(indices.count)
            }
            for (e, p) in positions.enumerated() {
                let id = d.setID(e)
                if id >= 0 { table[p] = base + id }
            }
        }
        return DependencySets(starts: starts, indices: indices, map: .table(table), count: count)
    }

    /// The running union along `axis` (cumsum): element p of a line depends on elements
    /// 0…p (p…n−1 when `reverse`).
    mutating func cumulative(_ d: DependencySets, _ shape: [Int], axis: Int, reverse: Bool) throws(SparsityError) -> DependencySets {
        let count = shape.reduce(1, *)
        if d.isEmpty { return .empty(count) }
        let (base, offsets) = axisGroups(shape, [axis])
        let order = reverse ? Array(offsets.reversed()) : offsets
        var starts = [0]
        var indices: [Int32] = []
        var table = [Int32](repeating: -1, count: count)
        for b in base {
            union.begin()
            var current: Int32 = -1
            for o in order {
                let id = d.setID(b + o)
                let before = union.collected.count
                union.add(d, id)
                if union.collected.count > before {
                    union.finish(into: &indices)
                    starts.append(indices.count)
                    current = Int32(starts.count - 2)
                    guard indices.count <= limit else { throw .tooManyNonZeros(limit: limit) }
                }
                table[b + o] = current
            }
        }
        return DependencySets(starts: starts, indices: indices, map: .table(table), count: count)
    }

    // MARK: Interactions

    /// S×S for every set S some element of `d` has (a nonlinear function of one operand).
    mutating func emitSquares(_ d: DependencySets) throws(SparsityError) {
        guard pairs != nil else { return }
        for s in d.usedSets() { try pairs?.add(d, s, d, s) }
    }

    /// D(a)[e] × D(b)[e] for every element e (a product of two operands).
    mutating func emitProducts(_ a: DependencySets, _ sa: [Int]?, _ b: DependencySets, _ sb: [Int]?, count: Int) throws(SparsityError) {
        guard pairs != nil, !a.isEmpty, !b.isEmpty else { return }
        var last: (Int32, Int32) = (-2, -2)
        let (ra, rb) = (a.ids, b.ids)
        let (ma, mb) = (sa ?? [], sb ?? [])
        for e in 0..<count {
            let ia = ra[sa == nil ? e : ma[e]], ib = rb[sb == nil ? e : mb[e]]
            if ia == last.0 && ib == last.1 { continue }
            last = (ia, ib)
            try pairs?.add(a, ia, b, ib)
        }
    }
}

// MARK: - Index maps

/// For each element of a gather's result (in `layout`'s order), the data position its known
/// index names, or −1 for an index out of range (the run-time error's case).
func knownDataPositions(_ layout: GatherLayout, _ idx: [Int64]) -> [Int] {
    var map = [Int](repeating: -1, count: layout.count)
    var e = 0
    for o in 0..<layout.outer {
        for j in 0..<layout.k {
            for i in 0..<layout.inner {
                if let p = wrappedIndex(idx[layout.indexPosition(o, j, i)], length: layout.n) { map[e] = layout.dataPosition(o, p, i) }
                e += 1
            }
        }
    }
    return map
}

/// For each element of an `[outer, along, inner]` value, its line along the middle axis
/// (`o · inner + i`): where a run-time index may land anywhere on that line.
func lineOfElement(outer: Int, along: Int, inner: Int) -> [Int] {
    var map = [Int](repeating: 0, count: outer * along * inner)
    var e = 0
    for o in 0..<outer {
        for _ in 0..<along {
            for i in 0..<inner {
                map[e] = o * inner + i
                e += 1
            }
        }
    }
    return map
}

/// The groups of a reduction over `axes` of `shape`: group g (row-major over the kept axes)
/// is the elements `base[g] + offsets[r]`.
func axisGroups(_ shape: [Int], _ axes: [Int]) -> (base: [Int], offsets: [Int]) {
    let strides = rowMajorStrides(shape)
    let kept = shape.indices.filter { !axes.contains($0) }
    return (stridedIndexMap(shape: kept.map { shape[$0] }, strides: kept.map { strides[$0] }),
            stridedIndexMap(shape: axes.map { shape[$0] }, strides: axes.map { strides[$0] }))
}

/// For every element of `shape`, its group of a reduction over `axes` (row-major over the
/// kept axes).
func groupOfElement(_ shape: [Int], _ axes: [Int]) -> [Int] {
    let kept = shape.indices.filter { !axes.contains($0) }
    let keptStrides = rowMajorStrides(kept.map { shape[$0] })
    var strides = [Int](repeating: 0, count: shape.count)
    for (i, d) in kept.enumerated() { strides[d] = keptStrides[i] }
    return stridedIndexMap(shape: shape, strides: strides)
}

/// The values of an i64 index operand that is a `const` node (exact where doubles hold them).
func constantIndices(_ f: Function, _ id: ValueID) -> [Int64]? {
    let node = f.nodes[id]
    let count = node.type.count
    guard node.op == .const, count <= IndexValues.maxElements else { return nil }
    if let values = node.attrs.exactValues, values.count == count {
        return values.map { Int64(exactly: $0) ?? Int64.min }
    }
    if case .ints(let v)? = node.attrs[.values], v.count == count { return v.map { Int64($0) } }
    if let v = node.attrs.exactValue { return [Int64](repeating: Int64(exactly: v) ?? Int64.min, count: count) }
    if case .int(let v)? = node.attrs[.value] { return [Int64](repeating: Int64(v), count: count) }
    return nil
}
