import Foundation
import Grad

/// `GradBench harness`: gradc's side of the peer comparison (issue 6).
///
/// ```
/// swift run -c release GradBench harness --data out/bench-data --out out/bench-results
///     [--quick] [--only mlp-small,mlp-large,rosenbrock,arm,compile] [--backends bytecode,c,reference]
///     [--models Scripts/bench/models]
/// ```
///
/// Loads the peers' `.npy` inputs (Scripts/peers/make_data.py), compiles each workload per
/// backend, times value+gradient and the forward function with the peers' protocol (warm-up,
/// then calls timed one at a time until ≥ 0.5 s, 0.05 s with `--quick`), writes the outputs as
/// `<out>/<system>/<workload>_<dtype>_<k>.npy` and prints one JSON line per measurement in the
/// peers' format (Scripts/peers/README.md), systems `gradc-vm`, `gradc-c`, `gradc-ref` (and
/// `…-scalar` for the arm written with scalar operations).
enum Harness {
    static let usage = """
        usage: GradBench harness [--data DIR] [--out DIR] [--quick] [--only W,…] [--backends bytecode,c,reference] [--models DIR]
               GradBench harness --compile-probe bytecode|c --model FILE --data DIR
        workloads: mlp-small mlp-large rosenbrock arm compile (default: all); embedding (only with --only)
        """

    struct Options {
        var data = "out/bench-data"
        var out = "out/bench-results"
        var models = "Scripts/bench/models"
        var quick = false
        var only = HarnessWorkloads.all + ["compile"]
        var backends: [Backend] = [.bytecode, .c]
        var probe: Backend?
        var probeModel = ""
    }

    static func run(_ args: [String]) throws {
        let o = try parse(args)
        if let backend = o.probe {
            try compileProbe(backend: backend, model: o.probeModel, data: o.data)
            return
        }
        try FileManager.default.createDirectory(atPath: o.out, withIntermediateDirectories: true)
        let sink = JSONLineSink(path: o.out + "/gradc.jsonl")
        for w in o.only where w != "compile" {
            for workload in try HarnessWorkloads.make(w, modelDirectory: o.models) {
                for backend in o.backends {
                    do {
                        sink.emit(try measure(workload, backend: backend, options: o))
                    } catch {
                        warn("\(workload.name) \(workload.dtype) \(workload.form) on \(backend): \(error)")
                    }
                }
            }
        }
        if o.only.contains("compile") {
            for record in try compileWorkload(o) { sink.emit(record) }
        }
    }

    static func parse(_ args: [String]) throws -> Options {
        var o = Options()
        var i = 0
        func value() throws -> String {
            guard i + 1 < args.count else { throw HarnessError("\(args[i]) needs a value\n\(usage)") }
            i += 1
            return args[i]
        }
        while i < args.count {
            switch args[i] {
            case "--data": o.data = try value()
            case "--out": o.out = try value()
            case "--models": o.models = try value()
            case "--quick": o.quick = true
            case "--only":
                o.only = try value().split(separator: ",").map(String.init)
                for w in o.only where !(HarnessWorkloads.all + HarnessWorkloads.extra + ["compile"]).contains(w) {
                    throw HarnessError("unknown workload '\(w)'\n\(usage)")
                }
            case "--backends":
                o.backends = try value().split(separator: ",").map { name throws -> Backend in
                    guard let b = backendNamed(String(name)) else { throw HarnessError("unknown backend '\(name)'\n\(usage)") }
                    return b
                }
            case "--compile-probe":
                let name = try value()
                guard let b = backendNamed(name) else { throw HarnessError("unknown backend '\(name)'") }
                o.probe = b
            case "--model": o.probeModel = try value()
            case "--help", "-h":
                print(usage)
                exit(0)
            default:
                throw HarnessError("unknown option '\(args[i])'\n\(usage)")
            }
            i += 1
        }
        return o
    }

    static func backendNamed(_ name: String) -> Backend? {
        switch name {
        case "bytecode", "vm": return .bytecode
        case "c": return .c
        case "reference", "ref": return .reference
        default: return nil
        }
    }

    static func systemName(_ b: Backend) -> String {
        switch b {
        case .bytecode: return "gradc-vm"
        case .c: return "gradc-c"
        case .reference: return "gradc-ref"
        }
    }

    // MARK: Value + gradient and forward timings of one workload on one backend

    static func measure(_ w: HarnessWorkload, backend: Backend, options o: Options) throws -> [String: Any] {
        let system = systemName(backend) + w.systemSuffix
        let inputs = HarnessInputs(try w.arrays.map { name in
            try readNPY(path: "\(o.data)/\(w.name)_\(w.dtype)_\(name).npy")
        })
        // Model text → expanded and optimized functions → backend (what `compile` does).
        let t0 = harnessNow()
        let module = try Pipeline.lower(Pipeline.parse(w.source, file: w.sourceFile), to: .optimized)
        let vgFunction = try Pipeline.function(module, named: "loss_and_grad")
        let forwardFunction = try Pipeline.function(module, named: "forward")
        for (p, b) in zip(vgFunction.parameters, w.bindings) {
            let t = vgFunction.type(of: p.value)
            let array = inputs.tensors[b.array]
            guard t.dtype == array.dtype, b.offset + t.count <= array.count else {
                throw HarnessError("input '\(p.name)': \(t) does not fit \(w.arrays[b.array]) \(array.type)")
            }
        }
        let t1 = harnessNow()
        let vg = try makeRunner(backend, vgFunction, w.bindings, inputs)
        let t2 = harnessNow()
        let forward = try makeRunner(backend, forwardFunction, w.bindings, inputs)

        // The timed path once, its outputs are what the agreement check reads.
        vg.call()
        let outputs = try vg.outputs()
        let files = try writeResults(w, system: system, outputs: outputs, out: o.out)
        forward.call()
        let forwardValue = try forward.outputs()[0].doubles[0]
        let value = outputs[0].doubles[0]
        if !(forwardValue == value || abs(forwardValue - value) <= 1e-6 * max(abs(value), 1)) {
            warn("\(w.name) \(w.dtype) \(system): forward \(forwardValue) ≠ value \(value)")
        }

        // Value+gradient, then forward, each in one block, like the peers.
        let quickRuns = backend == .reference ? 200 : 1_000_000
        let vgTime = harnessMeasure(quick: o.quick, maxRuns: quickRuns) { vg.call() }
        let fwTime = harnessMeasure(quick: o.quick, maxRuns: quickRuns) { forward.call() }
        _ = try vg.outputs()  // a failure during the timed calls would show here

        var record: [String: Any] = [
            "workload": w.name, "system": system, "dtype": w.dtype, "form": w.form,
            "median_s": vgTime.median, "min_s": vgTime.min, "runs": vgTime.runs,
            "forward_median_s": fwTime.median, "forward_min_s": fwTime.min, "forward_runs": fwTime.runs,
            "lower_s": Double(t1 - t0) * 1e-9, "backend_build_s": Double(t2 - t1) * 1e-9,
            "nodes": vgFunction.nodes.count, "forward_nodes": forwardFunction.nodes.count,
            "quick": o.quick, "time": timestamp(),
            "call_path": callPath(backend),
        ]
        for (k, v) in files { record[k] = v }
        if let vm = vg as? VMRunner {
            record["vm_instructions"] = vm.vm.instructionCount
            record["vm_matmul_kernel"] = vm.vm.matmulKernel.rawValue
        }
        if let c = vg as? CRunner { record["cache_hit"] = c.module.report.cacheHit }
        return record
    }

    static func callPath(_ b: Backend) -> String {
        switch b {
        case .bytecode: return "VirtualMachine.execute() on the arena (inputs written once)"
        case .c: return "CKernel.callUnchecked on preallocated buffers"
        case .reference: return "ReferenceEvaluator.run (allocates every value per call)"
        }
    }

    static func makeRunner(_ b: Backend, _ f: Function, _ bindings: [(array: Int, offset: Int)], _ inputs: HarnessInputs) throws -> HarnessRunner {
        switch b {
        case .bytecode: return try VMRunner(f, bindings: bindings, inputs: inputs)
        case .c: return try CRunner(f, bindings: bindings, inputs: inputs)
        case .reference: return try ReferenceRunner(f, bindings: bindings, inputs: inputs)
        }
    }

    /// Writes result k (the concatenation of the outputs in `resultGroups[k]`) in the peers' layout.
    static func writeResults(_ w: HarnessWorkload, system: String, outputs: [Tensor], out: String) throws -> [String: Any] {
        let dir = "\(out)/\(system)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var files: [String] = []
        for (k, group) in w.resultGroups.enumerated() {
            guard group.allSatisfy({ $0 < outputs.count }) else { throw HarnessError("\(w.name): missing outputs") }
            let result: Tensor
            if group.count == 1 {
                result = outputs[group[0]]
            } else {
                let values = group.flatMap { outputs[$0].doubles }
                result = Tensor(TensorType(outputs[group[0]].dtype, [values.count]), doubles: values)
            }
            // The peers' files hold the value as shape (1,) (np.ascontiguousarray of a 0-d array).
            let stored = result.shape.isEmpty ? (result.reshaped([1]) ?? result) : result
            let path = "\(dir)/\(w.name)_\(w.dtype)_\(k).npy"
            try writeNPY(stored, path: path)
            files.append(absolute(path))
        }
        return ["outputs": absolute("\(dir)/\(w.name)_\(w.dtype)_{k}.npy"), "output_files": files,
                "output_names": w.resultNames]
    }

    // MARK: Compile: model text → first result, in fresh processes

    /// `compile` (issue 6, workload 5) for mlp-small f64: each probe is a new process that
    /// reads the model text, parses, compiles with `compile(_:backend:)` and calls once.
    /// gradc-c-cold: an empty `GRADC_CACHE_DIR`; gradc-c-warm: the same directory again;
    /// gradc-vm: the VM (no cache).
    static func compileWorkload(_ o: Options) throws -> [[String: Any]] {
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let model = "\(o.models)/mlp_small_f64.ir"
        let reps = o.quick ? 1 : 3
        var times: [String: [Double]] = [:]
        let root = absolute(o.out) + "/gradc-compile-cache"
        for rep in 0..<reps {
            let cache = "\(root)/\(getpid())-\(rep)"
            try? FileManager.default.removeItem(atPath: cache)
            for system in ["gradc-c-cold", "gradc-c-warm", "gradc-vm"] {
                var env = ProcessInfo.processInfo.environment
                env["GRADC_CACHE_DIR"] = cache
                let backend = system == "gradc-vm" ? "bytecode" : "c"
                let line = try runProcess(exe, ["harness", "--compile-probe", backend, "--model", model, "--data", o.data], env)
                guard let data = line.data(using: .utf8),
                      let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any],
                      let s = obj["first_result_s"] as? Double else {
                    throw HarnessError("compile probe printed '\(line)'")
                }
                times[system, default: []].append(s)
            }
            try? FileManager.default.removeItem(atPath: cache)
        }
        try? FileManager.default.removeItem(atPath: root)
        return ["gradc-c-cold", "gradc-c-warm", "gradc-vm"].compactMap { system in
            guard let ts = times[system]?.sorted(), !ts.isEmpty else { return nil }
            return ["workload": "compile", "system": system, "dtype": "f64", "median_s": ts[ts.count / 2],
                    "min_s": ts[0], "runs": ts.count, "quick": o.quick, "time": timestamp(),
                    "note": "fresh process; model text -> parse -> compile(backend:) -> first call; .npy loading excluded"]
        }
    }

    /// The child side of `compileWorkload`: prints `{"first_result_s": …}`.
    static func compileProbe(backend: Backend, model: String, data: String) throws {
        let names = ["X", "Y", "W1", "b1", "W2", "b2"]
        let inputs = try names.map { try readNPY(path: "\(data)/mlp-small_f64_\($0).npy") }
        let t0 = harnessNow()
        let text = try HarnessWorkloads.readText(model)
        let module = try parseModule(text, file: model)
        let f = try Pipeline.function(module, named: "loss_and_grad")
        let exe = try compile(f, backend: backend)
        let result = try exe(inputs)
        let t1 = harnessNow()
        guard result.count == 5 else { throw HarnessError("probe: \(result.count) outputs") }
        print("{\"first_result_s\": \(Double(t1 - t0) * 1e-9)}")
    }

    static func runProcess(_ path: String, _ args: [String], _ env: [String: String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.environment = env
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = try pipe.fileHandleForReading.readToEnd() ?? Data()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw HarnessError("\(path) \(args.joined(separator: " ")) exited \(p.terminationStatus)") }
        let text = String(decoding: data, as: UTF8.self)
        return text.split(separator: "\n").last(where: { $0.hasPrefix("{") }).map(String.init) ?? text
    }

    // MARK: Helpers

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    static func timestamp() -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        return f.string(from: Date())
    }

    static func warn(_ message: String) {
        FileHandle.standardError.write(Data("WARNING: \(message)\n".utf8))
    }
}

/// JSON lines to stdout and appended to a file.
final class JSONLineSink {
    let handle: FileHandle?

    init(path: String) {
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        handle = FileHandle(forWritingAtPath: path)
        handle?.seekToEndOfFile()
    }

    deinit {
        try? handle?.close()
    }

    func emit(_ record: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]),
              let line = String(data: data, encoding: .utf8) else { return }
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
        handle?.write(Data((line + "\n").utf8))
    }
}
