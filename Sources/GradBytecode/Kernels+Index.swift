import GradRuntime
// Indexing kernels: take, scatter_add (and their along-axis forms), iota, argmax/argmin, with
// the reference kernels' semantics (GradRuntime/Kernels+Index.swift). Every index is checked
// before any data moves; an index out of range is reported through the VM's `FailureBox`
// under the arena it ran on (naming the op, its source location and the value) and the kernel
// writes nothing more, so no read or write ever leaves the operands' buffers.

/// Where an indexing kernel reports an index out of range.
struct IndexFailureSite {
    let op: Op
    let axis: Int
    let location: SourceLocation
    let failure: FailureBox

    func report(_ index: Int64, length: Int, arena: UnsafeMutableRawPointer) {
        failure.report(Diagnostic(.indexOutOfRange(op: op.name, index: index, axis: axis, length: length), at: location), arena: arena)
    }
}

/// The indices of an instruction, checked: `nil` (after reporting the first bad one) when
/// one is out of range.
@inline(__always)
func checkedIndices(_ base: UnsafeMutableRawPointer, _ offset: Int, _ count: Int, _ layout: GatherLayout,
                    _ site: IndexFailureSite) -> UnsafeBufferPointer<Int64>? {
    let ix = UnsafeBufferPointer(start: (base + offset).assumingMemoryBound(to: Int64.self), count: count)
    if let bad = firstInvalidIndex(ix, length: layout.n) {
        site.report(bad, length: layout.n, arena: base)
        return nil
    }
    return ix
}

/// The position of a checked index (`wrappedIndex` without the test).
@inline(__always) func wrapped(_ v: Int64, _ n: Int) -> Int { Int(v < 0 ? v + Int64(n) : v) }

/// `take` / `take_along_axis`: out[o, j, i] = x[o, wrap(idx[…]), i], elements moved as bytes.
final class TakeKernel: VMKernel {
    let x: Int
    let indices: Int
    let indexCount: Int
    let out: Int
    let layout: GatherLayout
    let elementSize: Int
    let site: IndexFailureSite

    init(_ inputs: [BytecodeOperand], _ output: BytecodeOperand, axis: Int, alongAxis: Bool, site: IndexFailureSite) {
        x = inputs[0].offset
        indices = inputs[1].offset
        indexCount = inputs[1].type.count
        out = output.offset
        layout = GatherLayout(data: inputs[0].type.shape, indices: inputs[1].type.shape, axis: axis, alongAxis: alongAxis)
        elementSize = output.type.dtype.byteSize
        self.site = site
    }
    var scratchBytes: Int { 0 }

    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        guard let ix = checkedIndices(base, indices, indexCount, layout, site) else { return }
        switch elementSize {
        case 8: move(base, ix, UInt64.self)
        case 4: move(base, ix, UInt32.self)
        default: move(base, ix, UInt8.self)
        }
    }

    @inline(__always)
    func move<E>(_ base: UnsafeMutableRawPointer, _ ix: UnsafeBufferPointer<Int64>, _: E.Type) {
        let src = (base + x).assumingMemoryBound(to: E.self)
        let dst = (base + out).assumingMemoryBound(to: E.self)
        let (n, inner, k) = (layout.n, layout.inner, layout.k)
        var d = 0
        for o in 0..<layout.outer {
            for j in 0..<k {
                if layout.alongAxis {
                    for i in 0..<inner {
                        dst[d] = src[layout.dataPosition(o, wrapped(ix[layout.indexPosition(o, j, i)], n), i)]
                        d += 1
                    }
                } else {
                    let row = layout.dataPosition(o, wrapped(ix[j], n), 0)
                    UnsafeMutableRawPointer(dst + d).copyMemory(from: src + row, byteCount: inner * MemoryLayout<E>.stride)
                    d += inner
                }
            }
        }
    }
}

/// `scatter_add` / `scatter_add_along_axis`: out = base, then out[o, wrap(idx[…]), i] +=
/// updates[o, j, i] in row-major order of `updates` (as the reference kernel).
final class ScatterAddKernel<T: KernelNumber>: VMKernel {
    let base: Int
    let indices: Int
    let indexCount: Int
    let updates: Int
    let out: Int
    let count: Int
    let layout: GatherLayout
    let site: IndexFailureSite
    /// The base is all zero bits (a constant): the output is cleared, not copied.
    let zeroBase: Bool

    init(_ inputs: [BytecodeOperand], _ output: BytecodeOperand, axis: Int, alongAxis: Bool, zeroBase: Bool = false,
         site: IndexFailureSite) {
        self.zeroBase = zeroBase
        base = inputs[0].offset
        indices = inputs[1].offset
        indexCount = inputs[1].type.count
        updates = inputs[2].offset
        out = output.offset
        count = output.type.count
        layout = GatherLayout(data: inputs[0].type.shape, indices: inputs[1].type.shape, axis: axis, alongAxis: alongAxis)
        self.site = site
    }
    var scratchBytes: Int { 0 }

    func run(_ arena: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        guard let ix = checkedIndices(arena, indices, indexCount, layout, site) else { return }
        if zeroBase && base != out {
            (arena + out).initializeMemory(as: UInt8.self, repeating: 0, count: count * MemoryLayout<T>.stride)
        } else if base != out {
            (arena + out).copyMemory(from: arena + base, byteCount: count * MemoryLayout<T>.stride)
        }
        let u = (arena + updates).assumingMemoryBound(to: T.self)
        let dst = (arena + out).assumingMemoryBound(to: T.self)
        let (n, inner, k) = (layout.n, layout.inner, layout.k)
        var s = 0
        if !layout.alongAxis {
            // One contiguous row per index (the updates and the output are distinct buffers),
            // in concrete types: the generic class's `T.kernelAdd` is not specialized.
            if T.self == Float.self {
                scatterAddRows((arena + updates).assumingMemoryBound(to: Float.self), (arena + out).assumingMemoryBound(to: Float.self), ix, layout)
                return
            }
            if T.self == Double.self {
                scatterAddRows((arena + updates).assumingMemoryBound(to: Double.self), (arena + out).assumingMemoryBound(to: Double.self), ix, layout)
                return
            }
            for o in 0..<layout.outer {
                for j in 0..<k {
                    let row = dst + layout.dataPosition(o, wrapped(ix[j], n), 0)
                    let from = u + s
                    for i in 0..<inner { row[i] = T.kernelAdd(row[i], from[i]) }
                    s += inner
                }
            }
            return
        }
        for o in 0..<layout.outer {
            for j in 0..<k {
                for i in 0..<inner {
                    let at = layout.dataPosition(o, wrapped(ix[layout.indexPosition(o, j, i)], n), i)
                    dst[at] = T.kernelAdd(dst[at], u[s])
                    s += 1
                }
            }
        }
    }
}

/// dst[o, wrap(ix[j]), :] += u[o, j, :] for every (o, j) in order: one row at a time (a free
/// function so that it is specialized for each float type).
@inline(__always)
func scatterAddRows<E: BinaryFloatingPoint>(_ u: UnsafeMutablePointer<E>, _ dst: UnsafeMutablePointer<E>, _ ix: UnsafeBufferPointer<Int64>,
                                            _ layout: GatherLayout) {
    let (n, inner, k) = (layout.n, layout.inner, layout.k)
    var s = 0
    for o in 0..<layout.outer {
        for j in 0..<k {
            let row = dst + layout.dataPosition(o, wrapped(ix[j], n), 0)
            let from = u + s
            for i in 0..<inner { row[i] += from[i] }
            s += inner
        }
    }
}

/// `iota`: every element's index along the axis, in the output's dtype (i64, f32 or f64).
final class IotaKernel: VMKernel {
    let out: Int
    let count: Int
    let stride: Int
    let n: Int
    let dtype: DType
    init(_ output: BytecodeOperand, axis: Int) {
        out = output.offset
        count = output.type.count
        stride = rowMajorStrides(output.type.shape)[axis]
        n = output.type.shape[axis]
        dtype = output.type.dtype
    }
    var scratchBytes: Int { 0 }
    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        func fill<E>(_: E.Type, _ convert: (Int) -> E) {
            let dst = (base + out).assumingMemoryBound(to: E.self)
            for e in 0..<count { dst[e] = convert((e / stride) % n) }
        }
        switch dtype {
        case .i64: fill(Int64.self) { Int64($0) }
        case .f64: fill(Double.self) { Double($0) }
        case .f32: fill(Float.self) { Float($0) }
        case .bool: fill(UInt8.self) { $0 != 0 ? 1 : 0 }  // refused by the type rule
        }
    }
}

/// `argmax` / `argmin` over the reduced axes (visit order from `reductionOrder`, as the
/// reference): the first element no later one beats, NaN beating every number.
final class ArgReduceKernel<T: Comparable>: VMKernel {
    let x: Int
    let out: Int
    let order: [Int]
    let groups: Int
    let n: Int
    let isMax: Bool
    init(_ op: Op, _ input: BytecodeOperand, _ output: BytecodeOperand, axes: [Int]) {
        x = input.offset
        out = output.offset
        (order, groups, n) = reductionOrder(shape: input.type.shape, axes: axes)
        isMax = op == .argmax
    }
    var scratchBytes: Int { 0 }
    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        let v = (base + x).assumingMemoryBound(to: T.self)
        let dst = (base + out).assumingMemoryBound(to: Int64.self)
        order.withUnsafeBufferPointer { order in
            for g in 0..<groups {
                let first = g * n
                var best = 0
                var b = v[order[first]]
                var j = 1
                while j < n && b == b {
                    let c = v[order[first + j]]
                    if c != c || (isMax ? c > b : c < b) {
                        best = j
                        b = c
                    }
                    j += 1
                }
                dst[g] = Int64(best)
            }
        }
    }
}
