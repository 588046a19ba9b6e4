import Foundation

// The part every libFuzzer target shares. Built two ways (see Scripts/fuzz.sh): normally, a
// target is a replay tool (`GradFuzzIR FILE|DIR…` runs each input once: regression fixtures,
// crash files); with `-Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING` it is the libFuzzer binary,
// whose `main` hands control to `LLVMFuzzerRunDriver`.

/// The target's test function, set once by `fuzzMain` before any input runs.
nonisolated(unsafe) private var fuzzBody: ([UInt8]) -> Void = { _ in }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzzBody(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32
#endif

/// Runs `body` under libFuzzer (a `-DFUZZING` build) or once on every file named on the
/// command line, then exits.
public func fuzzMain(_ body: @escaping ([UInt8]) -> Void) -> Never {
    fuzzBody = body
    #if FUZZING
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
    #else
    exit(replay(CommandLine.arguments.dropFirst(), body))
    #endif
}

/// Runs `body` once on every file named (a directory means every file in it, sorted);
/// prints how many ran. A crash is the failure; the exit status is 2 for bad arguments.
func replay(_ arguments: ArraySlice<String>, _ body: ([UInt8]) -> Void) -> Int32 {
    guard !arguments.isEmpty else {
        print("usage: \(CommandLine.arguments[0]) FILE|DIR…  (replays each input once)")
        return 2
    }
    var count = 0
    for argument in arguments {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
            print("no such file: \(argument)")
            return 2
        }
        let files = isDirectory.boolValue
            ? ((try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []).sorted().map { argument + "/" + $0 }
            : [argument]
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            body([UInt8](data))
            count += 1
        }
    }
    print("replayed \(count) inputs, no crash")
    return 0
}
