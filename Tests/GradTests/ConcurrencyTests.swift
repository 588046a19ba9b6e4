import Foundation
import Grad
import TestSupport
import XCTest

/// What the library lets several threads share, called from 8 threads at once, against the
/// same calls made one after another on one thread (issue 13 §2: a shared `VirtualMachine`,
/// declared `Sendable`, segfaulted or returned another thread's results).
final class ConcurrencyTests: XCTestCase {
    static let threads = 8
    static let callsPerThread = 12

    /// Matmul, broadcasting, reductions, a softmax and a gradient: several kernels, each using
    /// the arena and scratch memory.
    static let model = """
    func f(x: f64[16,32], w: f64[32,8], b: f64[8]) {
      h = tanh(x @ w + b)
      loss = mean(log_softmax(h, axis=1)) + sum(h * h)
      return loss, h, grad(loss, w, b)
    }
    """

    static func function() throws -> Function {
        try XCTUnwrap(Pipeline.parse(model).functions.last)
    }

    /// Different inputs for every (thread, call), so results from another call are caught.
    static func inputs(_ f: Function, thread: Int, call: Int) -> [Tensor] {
        var rng = SplitMix64(seed: UInt64(1 + thread * 1000 + call))
        return f.parameters.map { Tensor.random(f.type(of: $0.value), using: &rng) }
    }

    /// Results collected from several threads.
    final class Results: @unchecked Sendable {  // every access holds `lock`
        private let lock = NSLock()
        private var values: [[[Tensor]]] = Array(repeating: Array(repeating: [], count: callsPerThread), count: threads)
        private var errors: [String] = []
        func set(_ thread: Int, _ call: Int, _ v: [Tensor]) { lock.withLock { values[thread][call] = v } }
        func fail(_ message: String) { lock.withLock { errors.append(message) } }
        var all: (values: [[[Tensor]]], errors: [String]) { lock.withLock { (values, errors) } }
    }

    /// Runs `call(thread, k)` for every thread on its own `Thread`, all started together;
    /// returns every result and error.
    static func onEightThreads(_ call: @escaping @Sendable (Int, Int) throws -> [Tensor]) -> (values: [[[Tensor]]], errors: [String]) {
        let results = Results()
        let start = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        for t in 0..<threads {
            done.enter()
            let thread = Thread {
                start.wait()
                for k in 0..<callsPerThread {
                    do {
                        results.set(t, k, try call(t, k))
                    } catch {
                        results.fail("thread \(t) call \(k): \(error)")
                    }
                }
                done.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        for _ in 0..<threads { start.signal() }
        done.wait()
        return results.all
    }

    /// Each (thread, call)'s outputs equal, bit for bit, the same call made on one thread.
    func assertSameAsSerial(_ label: String, _ call: @escaping @Sendable (Int, Int) throws -> [Tensor],
                            file: StaticString = #filePath, line: UInt = #line) throws {
        var serial: [[[Tensor]]] = []
        for t in 0..<Self.threads { serial.append(try (0..<Self.callsPerThread).map { try call(t, $0) }) }
        let parallel = Self.onEightThreads(call)
        XCTAssertEqual(parallel.errors, [], label, file: file, line: line)
        for t in 0..<Self.threads {
            for k in 0..<Self.callsPerThread {
                let (p, s) = (parallel.values[t][k], serial[t][k])
                XCTAssertTrue(p.count == s.count && zip(p, s).allSatisfy { sameBits($0, $1) },
                              "\(label): thread \(t) call \(k) differs from the serial run", file: file, line: line)
            }
        }
    }

    /// One `VirtualMachine` shared by 8 threads: `run(_:)` serializes on the VM's arena.
    func testOneVirtualMachineFromEightThreads() throws {
        let f = try Self.function()
        let lowered = try Pipeline.lower(Module(functions: [f]), to: .optimized).functions[0]
        let vm = try VirtualMachine(BytecodeProgram(function: lowered))
        try assertSameAsSerial("VirtualMachine.run") { t, k in try vm.run(Self.inputs(lowered, thread: t, call: k)) }
    }

    /// One session per thread, made from one VM: the linked kernels shared, evaluations in
    /// parallel on separate arenas.
    func testSessionsOfOneVirtualMachineRunInParallel() throws {
        let f = try Self.function()
        let lowered = try Pipeline.lower(Module(functions: [f]), to: .optimized).functions[0]
        let vm = try VirtualMachine(BytecodeProgram(function: lowered))
        try assertSameAsSerial("VMSession.run") { t, k in
            let session = vm.makeSession()  // a fresh arena per call: no session is shared
            return try session.run(Self.inputs(lowered, thread: t, call: k))
        }
    }

    /// `compile(_:backend:)`'s functions (the objects library users get) on every backend.
    func testCompiledFunctionsFromEightThreads() throws {
        setenv("GRADC_CACHE_DIR", try TemporaryDirectory.forProcess("concurrency").path, 1)
        let f = try Self.function()
        for backend in Backend.allCases {
            let executable = try compile(f, backend: backend)
            let g = executable.function
            try assertSameAsSerial("\(backend)") { t, k in try executable(Self.inputs(g, thread: t, call: k)) }
        }
    }
}
