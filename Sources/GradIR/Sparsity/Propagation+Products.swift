
// The rules of the products: matmul and the convolutions.

extension Propagator {
    /// out[b, i, j] depends on row i of A[b] and column j of B[b] (batch dimensions broadcast).
    mutating func matmul(_ a: DependencySets, _ aShape: [Int], _ b: DependencySets, _ bShape: [Int], _ outShape: [Int],
                         emit: Bool, sets: Bool = true) throws(SparsityError) -> DependencySets {
        let (ra, rb) = (aShape.count, bShape.count)
        let (m, k, n) = (aShape[ra - 2], aShape[ra - 1], bShape[rb - 1])
        let batch = Array(outShape.dropLast(2))
        let aBatch = broadcastIndexMap(from: Array(aShape.dropLast(2)), to: batch)
        let bBatch = broadcastIndexMap(from: Array(bShape.dropLast(2)), to: batch)
        if emit {
            // A[b, i, κ]·B[b, κ, j] for every i, j: the union over i times the union over j.
            let aColumns = try groupUnion(a, axisGroups(aShape, [ra - 2]))
            let bRows = try groupUnion(b, axisGroups(bShape, [rb - 1]))
            var seen = Set<Int>()
            for (ab, bb) in zip(aBatch, bBatch) where seen.insert(ab * (bBatch.count + 1) + bb).inserted {
                for kk in 0..<k { try pairs?.add(aColumns, aColumns.setID(ab * k + kk), bRows, bRows.setID(bb * k + kk)) }
            }
        }
        if !sets { return .empty(outShape.reduce(1, *)) }
        let rowsOfA = try groupUnion(a, axisGroups(aShape, [ra - 1]))
        let columnsOfB = try groupUnion(b, axisGroups(bShape, [rb - 2]))
        let count = outShape.reduce(1, *)
        var aMap = [Int](repeating: 0, count: count), bMap = [Int](repeating: 0, count: count)
        var e = 0
        for t in aBatch.indices {
            for i in 0..<m {
                for j in 0..<n {
                    aMap[e] = aBatch[t] * m + i
                    bMap[e] = bBatch[t] * n + j
                    e += 1
                }
            }
        }
        return try unionOf([(rowsOfA, aMap), (columnsOfB, bMap)], count: count)
    }

    /// conv2d: out[n, o, p, q] depends on the window of x[n] under (p, q) (every channel)
    /// and on the kernel w[o].
    mutating func convolution(_ x: DependencySets, _ w: DependencySets, _ g: ConvGeometry, emit: Bool, sets: Bool = true) throws(SparsityError) -> DependencySets {
        let map = g.columnIndexMap()
        let (positions, patch) = (g.positions, g.patch)
        let image = g.inChannels * g.height * g.width
        // Windows: for (n, pq), the input elements read.
        var starts = [0]
        var members: [Int] = []
        for n in 0..<g.batch {
            for pq in 0..<positions {
                for r in 0..<patch where map[r * positions + pq] >= 0 { members.append(n * image + map[r * positions + pq]) }
                starts.append(members.count)
            }
        }
        let windows = try unionOfLists([(x, starts, members)], count: g.batch * positions)
        // Kernels: for (o, pq), the taps w[o, r] that fall on the input (not on padding).
        var kStarts = [0]
        var kMembers: [Int] = []
        for o in 0..<g.outChannels {
            for pq in 0..<positions {
                for r in 0..<patch where map[r * positions + pq] >= 0 { kMembers.append(o * patch + r) }
                kStarts.append(kMembers.count)
            }
        }
        let kernels = try unionOfLists([(w, kStarts, kMembers)], count: g.outChannels * positions)
        if emit {
            // w[o, r] multiplies x[n, map[r, pq]] for every n and pq: per (o, r), w's set times
            // the union of what patch row r reads.
            var rowStarts = [0]
            var rowMembers: [Int] = []
            for r in 0..<patch {
                for n in 0..<g.batch {
                    for pq in 0..<positions where map[r * positions + pq] >= 0 { rowMembers.append(n * image + map[r * positions + pq]) }
                }
                rowStarts.append(rowMembers.count)
            }
            let read = try unionOfLists([(x, rowStarts, rowMembers)], count: patch)
            for o in 0..<g.outChannels {
                for r in 0..<patch { try pairs?.add(w, w.setID(o * patch + r), read, read.setID(r)) }
            }
        }
        let count = g.batch * g.outChannels * positions
        if !sets { return .empty(count) }
        var xMap = [Int](repeating: 0, count: count), wMap = [Int](repeating: 0, count: count)
        var e = 0
        for n in 0..<g.batch {
            for o in 0..<g.outChannels {
                for pq in 0..<positions {
                    xMap[e] = n * positions + pq
                    wMap[e] = o * positions + pq
                    e += 1
                }
            }
        }
        return try unionOf([(windows, xMap), (kernels, wMap)], count: count)
    }

    /// conv2d_input_grad(g, w): dx[n, c, h, w] = Σ g[n, o, p, q]·w[o, c, i, j] over the (i, j,
    /// p, q) whose window places (i, j) at (h, w): it depends on g[n, :, p, q] and w[:, c, i, j]
    /// for exactly those.
    mutating func transposedConvolution(_ g: DependencySets, _ w: DependencySets, _ geo: ConvGeometry, emit: Bool, sets: Bool = true) throws(SparsityError) -> DependencySets {
        let map = geo.columnIndexMap()
        let (positions, patch) = (geo.positions, geo.patch)
        let image = geo.inChannels * geo.height * geo.width
        // For each input element of an image, the (patch row, position) pairs that read it.
        var counts = [Int](repeating: 0, count: image + 1)
        for k in map.indices where map[k] >= 0 { counts[map[k] + 1] += 1 }
        for e in 0..<image { counts[e + 1] += counts[e] }
        var next = counts
        var readers = [Int](repeating: 0, count: counts[image])
        for k in map.indices where map[k] >= 0 {
            readers[next[map[k]]] = k
            next[map[k]] += 1
        }
        // g over its channels per (n, pq); w over its outputs per patch row r.
        let gPositions = try groupUnion(g, axisGroups([geo.batch, geo.outChannels, positions], [1]))
        let wRows = try groupUnion(w, axisGroups([geo.outChannels, patch], [0]))
        var gStarts = [0], wStarts = [0]
        var gMembers: [Int] = [], wMembers: [Int] = []
        for n in 0..<geo.batch {
            for e in 0..<image {
                for k in readers[counts[e]..<counts[e + 1]] {
                    gMembers.append(n * positions + k % positions)
                    wMembers.append(k / positions)
                }
                gStarts.append(gMembers.count)
                wStarts.append(wMembers.count)
            }
        }
        if emit {
            // g[n, o, pq]·w[o, r]: per (o, r), w's set times the union of g[:, o, pq] over the
            // positions where patch row r reads the input.
            var starts = [0]
            var members: [Int] = []
            for o in 0..<geo.outChannels {
                for r in 0..<patch {
                    for n in 0..<geo.batch {
                        for pq in 0..<positions where map[r * positions + pq] >= 0 { members.append((n * geo.outChannels + o) * positions + pq) }
                    }
                    starts.append(members.count)
                }
            }
            let read = try unionOfLists([(g, starts, members)], count: geo.outChannels * patch)
            for k in 0..<(geo.outChannels * patch) { try pairs?.add(w, w.setID(k), read, read.setID(k)) }
        }
        if !sets { return .empty(geo.batch * image) }
        return try unionOfLists([(gPositions, gStarts, gMembers), (wRows, wStarts, wMembers)], count: geo.batch * image)
    }

    /// conv2d_kernel_grad(x, g): dw[o, r] = Σ_{n, pq} g[n, o, pq]·x[n, map[r, pq]] over the
    /// positions pq where patch row r = (c, i, j) reads the input (not padding).
    mutating func kernelGradient(_ x: DependencySets, _ g: DependencySets, _ geo: ConvGeometry, emit: Bool, sets: Bool = true) throws(SparsityError) -> DependencySets {
        let map = geo.columnIndexMap()
        let (positions, patch) = (geo.positions, geo.patch)
        let image = geo.inChannels * geo.height * geo.width
        var xStarts = [0], gStarts = [0]
        var xMembers: [Int] = [], gMembers: [Int] = []
        for r in 0..<patch {
            for n in 0..<geo.batch {
                for pq in 0..<positions where map[r * positions + pq] >= 0 { xMembers.append(n * image + map[r * positions + pq]) }
            }
            xStarts.append(xMembers.count)
        }
        for o in 0..<geo.outChannels {
            for r in 0..<patch {
                for n in 0..<geo.batch {
                    for pq in 0..<positions where map[r * positions + pq] >= 0 { gMembers.append((n * geo.outChannels + o) * positions + pq) }
                }
                gStarts.append(gMembers.count)
            }
        }
        let read = try unionOfLists([(x, xStarts, xMembers)], count: patch)
        let cotangents = try unionOfLists([(g, gStarts, gMembers)], count: geo.outChannels * patch)
        if emit {
            // Per image and output channel: all of g[n, o] with all of x[n] (conservative).
            let gImages = try groupUnion(g, axisGroups([geo.batch, geo.outChannels, positions], [2]))
            let xImages = try groupUnion(x, axisGroups([geo.batch, image], [1]))
            for n in 0..<geo.batch {
                for o in 0..<geo.outChannels { try pairs?.add(gImages, gImages.setID(n * geo.outChannels + o), xImages, xImages.setID(n)) }
            }
        }
        let count = geo.outChannels * patch
        if !sets { return .empty(count) }
        return try unionOf([(read, (0..<count).map { $0 % Swift.max(patch, 1) }), (cotangents, nil)], count: count)
    }
}
