import GradRuntime
// Data movement kernels and the generic fallback.

/// `memmove` of a buffer (views materialized, output copies).
final class CopyKernel: VMKernel {
    let from: Int
    let to: Int
    let bytes: Int
    init(from: Int, to: Int, bytes: Int) {
        self.from = from
        self.to = to
        self.bytes = bytes
    }
    var scratchBytes: Int { 0 }
    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        if from != to && bytes > 0 { (base + to).copyMemory(from: base + from, byteCount: bytes) }
    }
}

/// An index map as runs of consecutive indices — `map[first ..< first + length]` is
/// `source ..< source + length` — when its runs are long enough (at least 16 elements on
/// average) that a copy per run beats an indexed loop: the slices and pads of whole rows.
struct IndexRuns {
    /// Per run: the position in the map (the gathered side), the index it starts at (the
    /// other side), and its length.
    var first: [Int] = []
    var source: [Int] = []
    var length: [Int] = []

    init?(_ map: [Int]) {
        guard !map.isEmpty else { return nil }
        var start = 0
        for i in 1...map.count where i == map.count || map[i] != map[i - 1] + 1 {
            first.append(start)
            source.append(map[start])
            length.append(i - start)
            start = i
        }
        guard map.count >= 16 * first.count else { return nil }
    }
}

/// `out[i] = x[map[i]]` — transpose, broadcast_to and slice, with the index map computed at
/// link time (every entry is inside `x`: the maps come from the validated shapes); a copy
/// per run where the map is runs of consecutive indices (`IndexRuns`).
final class GatherKernel: VMKernel {
    let from: Int
    let to: Int
    let elementSize: Int
    let map: [Int]
    let runs: IndexRuns?
    init(from: BytecodeOperand, to: BytecodeOperand, map: [Int]) {
        self.from = from.offset
        self.to = to.offset
        elementSize = to.type.dtype.byteSize
        runs = IndexRuns(map)
        self.map = runs == nil ? map : []
    }
    var scratchBytes: Int { 0 }
    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        if let runs {
            for r in runs.first.indices {
                (base + to + runs.first[r] * elementSize).copyMemory(from: base + from + runs.source[r] * elementSize,
                                                                     byteCount: runs.length[r] * elementSize)
            }
            return
        }
        map.withUnsafeBufferPointer { m in
            switch elementSize {
            case 8: move(base, m, UInt64.self)
            case 4: move(base, m, UInt32.self)
            default: move(base, m, UInt8.self)
            }
        }
    }
    @inline(__always)
    func move<E>(_ base: UnsafeMutableRawPointer, _ m: UnsafeBufferPointer<Int>, _: E.Type) {
        let src = (base + from).assumingMemoryBound(to: E.self)
        let dst = (base + to).assumingMemoryBound(to: E.self)
        for i in 0..<m.count { dst[i] = src[m[i]] }
    }
}

/// `pad`: the output is zeroed (every element type's zero is all-zero bytes), then element
/// `s` of `x` is stored at `destination[s]` (same index map as the reference kernel), by a
/// copy per run where the map is runs of consecutive indices.
final class PadKernel: VMKernel {
    let from: Int
    let to: Int
    let elementSize: Int
    let outBytes: Int
    let destination: [Int]
    let runs: IndexRuns?
    init(from: BytecodeOperand, to: BytecodeOperand, low: [Int], step: [Int]) {
        self.from = from.offset
        self.to = to.offset
        elementSize = to.type.dtype.byteSize
        outBytes = to.byteCount
        let outStrides = rowMajorStrides(to.type.shape)
        var offset = 0
        for d in 0..<from.type.rank { offset += low[d] * outStrides[d] }
        let map = from.type.count == 0 ? [] : stridedIndexMap(shape: from.type.shape, strides: steppedStrides(outStrides, step, extents: from.type.shape), offset: offset)
        runs = IndexRuns(map)
        destination = runs == nil ? map : []
    }
    var scratchBytes: Int { 0 }
    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        (base + to).initializeMemory(as: UInt8.self, repeating: 0, count: outBytes)
        if let runs {
            for r in runs.first.indices {
                (base + to + runs.source[r] * elementSize).copyMemory(from: base + from + runs.first[r] * elementSize,
                                                                      byteCount: runs.length[r] * elementSize)
            }
            return
        }
        destination.withUnsafeBufferPointer { m in
            switch elementSize {
            case 8: scatter(base, m, UInt64.self)
            case 4: scatter(base, m, UInt32.self)
            default: scatter(base, m, UInt8.self)
            }
        }
    }
    @inline(__always)
    func scatter<E>(_ base: UnsafeMutableRawPointer, _ m: UnsafeBufferPointer<Int>, _: E.Type) {
        let src = (base + from).assumingMemoryBound(to: E.self)
        let dst = (base + to).assumingMemoryBound(to: E.self)
        for i in 0..<m.count { dst[m[i]] = src[i] }
    }
}

/// `concat` along an axis: for each of the `outer` leading indices, one contiguous block of
/// every operand in turn (`copyMemory` per block). A block already at its place (an operand
/// the plan computed into the concat's buffer) is not copied.
final class ConcatKernel: VMKernel {
    /// Per operand: arena offset and bytes per block.
    let parts: [(offset: Int, blockBytes: Int)]
    let to: Int
    let outer: Int
    init(inputs: [BytecodeOperand], output: BytecodeOperand, axis: Int) {
        let shape = output.type.shape
        let inner = shape[(axis + 1)...].reduce(1, *)
        let size = output.type.dtype.byteSize
        parts = inputs.map { (offset: $0.offset, blockBytes: $0.type.shape[axis] * inner * size) }
        to = output.offset
        outer = shape[..<axis].reduce(1, *)
    }
    var scratchBytes: Int { 0 }
    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        var dst = base + to
        for o in 0..<outer {
            for part in parts where part.blockBytes > 0 {
                let src = base + part.offset + o * part.blockBytes
                if src != UnsafeRawPointer(dst) { dst.copyMemory(from: src, byteCount: part.blockBytes) }
                dst += part.blockBytes
            }
        }
    }
}

/// `one_hot`: the output is zeroed, then `one` is stored at `[i, label_i]` for every label in
/// `0 ..< depth` (out-of-range labels leave a row of zeros, as in the reference).
final class OneHotKernel: VMKernel {
    let labels: Int
    let count: Int
    let to: Int
    let depth: Int
    let dtype: DType
    init(labels: BytecodeOperand, output: BytecodeOperand, depth: Int) {
        self.labels = labels.offset
        count = labels.type.count
        to = output.offset
        self.depth = depth
        dtype = output.type.dtype
    }
    var scratchBytes: Int { 0 }
    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        let size = dtype.byteSize
        (base + to).initializeMemory(as: UInt8.self, repeating: 0, count: count * depth * size)
        let l = (base + labels).assumingMemoryBound(to: Int64.self)
        for i in 0..<count where l[i] >= 0 && l[i] < Int64(depth) {
            let at = base + to + (i * depth + Int(l[i])) * size
            switch dtype {
            case .f32: at.storeBytes(of: Float(1), as: Float.self)
            case .f64: at.storeBytes(of: Double(1), as: Double.self)
            case .i64: at.storeBytes(of: Int64(1), as: Int64.self)
            case .bool: at.storeBytes(of: UInt8(1), as: UInt8.self)
            }
        }
    }
}

/// `cast` between any two element types, with the reference conversions (`castKernel`):
/// each pair converts directly (never through a third type, which could round twice).
final class CastKernel: VMKernel {
    let from: Int
    let to: Int
    let source: DType
    let target: DType
    let count: Int
    init(from: BytecodeOperand, to: BytecodeOperand) {
        self.from = from.offset
        self.to = to.offset
        source = from.type.dtype
        target = to.type.dtype
        count = to.type.count
    }
    var scratchBytes: Int { 0 }

    @inline(__always)
    func convert<S, D>(_ base: UnsafeMutableRawPointer, _: S.Type, _: D.Type, _ f: (S) -> D) {
        let src = (base + from).assumingMemoryBound(to: S.self)
        let dst = (base + to).assumingMemoryBound(to: D.self)
        for i in 0..<count { dst[i] = f(src[i]) }
    }

    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        switch (source, target) {
        case (.f32, .f32), (.f64, .f64), (.i64, .i64), (.bool, .bool):
            if from != to { (base + to).copyMemory(from: base + from, byteCount: count * source.byteSize) }
        case (.f32, .f64): convert(base, Float.self, Double.self) { Double($0) }
        case (.f32, .i64): convert(base, Float.self, Int64.self) { ScalarMath.toInt64($0) }
        case (.f32, .bool): convert(base, Float.self, UInt8.self) { $0 != 0 ? 1 : 0 }
        case (.f64, .f32): convert(base, Double.self, Float.self) { Float($0) }
        case (.f64, .i64): convert(base, Double.self, Int64.self) { ScalarMath.toInt64($0) }
        case (.f64, .bool): convert(base, Double.self, UInt8.self) { $0 != 0 ? 1 : 0 }
        case (.i64, .f32): convert(base, Int64.self, Float.self) { Float($0) }
        case (.i64, .f64): convert(base, Int64.self, Double.self) { Double($0) }
        case (.i64, .bool): convert(base, Int64.self, UInt8.self) { $0 != 0 ? 1 : 0 }
        case (.bool, .f32): convert(base, UInt8.self, Float.self) { $0 != 0 ? 1 : 0 }
        case (.bool, .f64): convert(base, UInt8.self, Double.self) { $0 != 0 ? 1 : 0 }
        case (.bool, .i64): convert(base, UInt8.self, Int64.self) { $0 != 0 ? 1 : 0 }
        }
    }
}

/// The generic slow path for rare ops (i64 `matmul`, `dot` and reductions): copies the operands out of the arena into `Tensor`s, calls
/// the reference kernel `evaluateOp`, copies the result back. Allocates per call.
final class FallbackKernel: VMKernel {
    let op: Op
    let attrs: Attributes
    let inputs: [BytecodeOperand]
    let output: BytecodeOperand
    let failure: FailureBox
    init(op: Op, attrs: Attributes, inputs: [BytecodeOperand], output: BytecodeOperand, failure: FailureBox) {
        self.op = op
        self.attrs = attrs
        self.inputs = inputs
        self.output = output
        self.failure = failure
    }
    var scratchBytes: Int { 0 }
    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        let operands = inputs.map { readTensor(base + $0.offset, $0.type) }
        do {
            let result = try evaluateOp(op, attrs, operands, resultType: output.type)
            let bytes = tensorBytes(result)
            bytes.withUnsafeBytes { src in
                if let s = src.baseAddress { (base + output.offset).copyMemory(from: s, byteCount: min(src.count, output.byteCount)) }
            }
            failure.record(nil, arena: base)
        } catch {
            failure.record(error, arena: base)
        }
    }
}
