import Foundation
import Grad

// MARK: - Calling a compiled function the way a library user does, without per-call overhead

/// The peers' input arrays, copied once into 64-byte aligned buffers the harness owns (the
/// buffers a user of the library would already hold).
final class HarnessInputs {
    let tensors: [Tensor]
    let buffers: [UnsafeMutableRawPointer]

    init(_ tensors: [Tensor]) {
        self.tensors = tensors
        buffers = tensors.map { t in
            let bytes = max(t.count * t.dtype.byteSize, 1)
            let p = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            withRawPointers([t.storage]) { ps in
                if let src = ps[0] { p.copyMemory(from: src, byteCount: t.count * t.dtype.byteSize) }
            }
            return p
        }
    }

    deinit {
        for b in buffers { b.deallocate() }
    }

    /// Where parameter data starts: element `binding.offset` of array `binding.array`.
    func pointer(_ binding: (array: Int, offset: Int)) -> UnsafeMutableRawPointer {
        buffers[binding.array] + binding.offset * tensors[binding.array].dtype.byteSize
    }

    /// The parameter as a `Tensor` (for the checked call paths).
    func tensor(_ binding: (array: Int, offset: Int), _ type: TensorType) throws -> Tensor {
        try tensorFromBytes(UnsafeRawPointer(pointer(binding)), type)
    }
}

/// A tensor of `type` from raw little-endian element bytes.
func tensorFromBytes(_ p: UnsafeRawPointer, _ type: TensorType) throws -> Tensor {
    let n = type.count
    let made: Tensor?
    switch type.dtype {
    case .f64: made = Tensor(Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: Double.self), count: n)), shape: type.shape)
    case .f32: made = Tensor(Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: Float.self), count: n)), shape: type.shape)
    case .i64: made = Tensor(i64: Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: Int64.self), count: n)), shape: type.shape)
    case .bool: made = nil
    }
    guard let t = made else { throw HarnessError("cannot read a \(type) output") }
    return t
}

/// One compiled function, called repeatedly on the same preallocated inputs.
protocol HarnessRunner: AnyObject {
    /// One evaluation. The VM and C runners allocate nothing here.
    func call()
    /// The outputs of the last `call()`, in the function's output order.
    func outputs() throws -> [Tensor]
}

/// The bytecode VM's low-level path: inputs written into its arena once, `execute()` per call,
/// outputs read from the arena.
final class VMRunner: HarnessRunner {
    let vm: VMSession
    let types: [TensorType]

    init(_ f: Function, bindings: [(array: Int, offset: Int)], inputs: HarnessInputs) throws {
        vm = try VirtualMachine(BytecodeProgram(function: f), limits: VMLimits(maxArenaBytes: Int.max)).makeSession()
        types = f.outputs.map { f.type(of: $0.value) }
        // The checked path once (it reports kernel failures), which also fills the arena's inputs.
        let tensors = try zip(f.parameters, bindings).map { p, b in try inputs.tensor(b, f.type(of: p.value)) }
        _ = try vm.run(tensors)
    }

    func call() {
        vm.execute()
    }

    func outputs() throws -> [Tensor] {
        try types.enumerated().map { k, t in
            guard let base = vm.outputBuffer(k).baseAddress else { throw HarnessError("output \(k) has no bytes") }
            return try tensorFromBytes(base, t)
        }
    }
}

/// The C backend's raw ABI call: `int f(const void *const *in, void *const *out, void *ws)` on
/// pointers into the harness's buffers (inputs) and buffers allocated once (outputs).
final class CRunner: HarnessRunner {
    let module: CModule
    let kernel: CKernel
    let inPointers: UnsafeMutablePointer<UnsafeRawPointer?>
    let outPointers: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    let outBuffers: [UnsafeMutableRawPointer]
    let types: [TensorType]
    let inputs: HarnessInputs
    var status: Int32 = 0

    init(_ f: Function, bindings: [(array: Int, offset: Int)], inputs: HarnessInputs) throws {
        module = try CModule([f])
        guard let k = module.kernels.first else { throw HarnessError("the C backend produced no function") }
        kernel = k
        self.inputs = inputs
        types = k.abi.outputs
        inPointers = .allocate(capacity: max(bindings.count, 1))
        for (i, b) in bindings.enumerated() { inPointers[i] = UnsafeRawPointer(inputs.pointer(b)) }
        outBuffers = types.map { UnsafeMutableRawPointer.allocate(byteCount: max($0.count * $0.dtype.byteSize, 1), alignment: 64) }
        outPointers = .allocate(capacity: max(outBuffers.count, 1))
        for (i, b) in outBuffers.enumerated() { outPointers[i] = b }
        guard k.abi.inputs.count == bindings.count else { throw HarnessError("C ABI takes \(k.abi.inputs.count) inputs") }
    }

    deinit {
        inPointers.deallocate()
        outPointers.deallocate()
        for b in outBuffers { b.deallocate() }
    }

    func call() {
        status |= kernel.callUnchecked(inPointers, outPointers)
    }

    func outputs() throws -> [Tensor] {
        guard status == 0 else { throw HarnessError("the compiled C function failed (status \(status))") }
        return try zip(outBuffers, types).map { b, t in try tensorFromBytes(b, t) }
    }
}

/// The reference evaluator through its only API (it allocates every value on every call).
final class ReferenceRunner: HarnessRunner {
    let function: Function
    let named: [String: Tensor]
    var last: [Tensor] = []
    var failure: Diagnostic?

    init(_ f: Function, bindings: [(array: Int, offset: Int)], inputs: HarnessInputs) throws {
        function = f
        var named: [String: Tensor] = [:]
        for (p, b) in zip(f.parameters, bindings) { named[p.name] = try inputs.tensor(b, f.type(of: p.value)) }
        self.named = named
    }

    func call() {
        do {
            last = try ReferenceEvaluator.run(function, inputs: named)
        } catch {
            failure = error
        }
    }

    func outputs() throws -> [Tensor] {
        if let failure { throw failure }
        return last
    }
}

// MARK: - Timing

struct HarnessTiming {
    var median: Double
    var min: Double
    var runs: Int
}

/// Monotonic clock in nanoseconds.
@inline(__always)
func harnessNow() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec)
}

/// The peers' protocol (Scripts/peers/common.py `time_fn`): `warmup` calls, then calls timed
/// one at a time until `minTotal` seconds were measured and at least 5 calls made.
func harnessMeasure(quick: Bool, maxRuns: Int = 1_000_000, _ body: () -> Void) -> HarnessTiming {
    let minTotal = UInt64((quick ? 0.05 : 0.5) * 1e9)
    let warmup = quick ? 2 : 5
    for _ in 0..<warmup { body() }
    var times = [UInt64]()
    times.reserveCapacity(min(maxRuns, 1 << 16))
    var total: UInt64 = 0
    while (total < minTotal || times.count < 5) && times.count < maxRuns {
        let t0 = harnessNow()
        body()
        let dt = harnessNow() &- t0
        times.append(dt)
        total &+= dt
    }
    times.sort()
    let n = times.count
    let median = n % 2 == 1 ? Double(times[n / 2]) : (Double(times[n / 2 - 1]) + Double(times[n / 2])) / 2
    return HarnessTiming(median: median * 1e-9, min: Double(times[0]) * 1e-9, runs: n)
}
