import Foundation
import Grad

enum CacheCommand {
    static let help = """
    usage: gradc cache --info | --clear

    The compile cache of the C backend: one shared object per (C source, compiler, flags,
    gradc version), in $GRADC_CACHE_DIR, else $XDG_CACHE_HOME/gradc, else ~/.cache/gradc
    (mode 0700; refused if it is a symbolic link, another user owns it, or others can write
    to it or replace it). Entries are checked (owner, mode, size, a keyed trailer) and loaded
    from a private copy; anything else at an entry's path is rebuilt. See docs/cache.md.

    Environment: GRADC_CC_TIMEOUT=SECONDS kills a compiler run after that long (default 600);
    GRADC_CACHE_LOCK_TIMEOUT=SECONDS bounds the wait for another process's build of the same
    entry, then compiles without it (default: GRADC_CC_TIMEOUT). inf: no limit.

      --info    print the directory, the number of entries and their total size
      --clear   delete every entry, temporary file, lock file and the key
    """

    static func run(_ args: [String]) throws -> ExitStatus {
        let o = try Options(args, valued: [], flags: ["--help", "-h", "--info", "--clear"])
        if o.has("--help") || o.has("-h") {
            print(help)
            return .ok
        }
        guard o.positional.isEmpty, o.has("--info") != o.has("--clear") else {
            throw UsageError(message: "usage: gradc cache --info | --clear")
        }
        let cache = try CCache.open()
        if o.has("--clear") {
            let n = cache.clear()
            print("removed \(n) file\(n == 1 ? "" : "s") from \(cache.directory)")
        } else {
            let info = cache.info()
            print("directory: \(cache.directory)")
            print("entries:   \(info.entries)")
            print("size:      \(info.bytes) bytes")
        }
        return .ok
    }
}

/// `gradc compile MODEL.ir --backend c -o DIR`: writes DIR/model.c, model.h and model.so
/// (replacing them if they exist).
func compileToC(_ o: Options, model: ModelFile, into outDir: String, timings: StageTimings? = nil) throws -> ExitStatus {
    var chosen = try model.module()
    timings?.mark("parse", note: "\(chosen.functions.reduce(0) { $0 + $1.nodes.count }) nodes")
    if o.value("--func") != nil {
        chosen = Module(functions: [try model.function(chosen, o)])
    }
    let lowered = try model.lowerHandingOver(consume chosen, to: .optimized, options: try optimizerOptions(o), timings: timings)
    let options = CBackendOptions(portable: o.has("--portable"))
    let names = try cNames(o, lowered.functions)
    timings?.skip()
    let source = try emitC(lowered.functions, options: options.emit, names: names)
    timings?.mark("c: emit", note: "\(source.source.utf8.count) bytes of C")
    try OutputPath.directory(outDir, option: "-o", writes: "model.c, model.h and model.so")
    let c = (outDir as NSString).appendingPathComponent("model.c")
    let h = (outDir as NSString).appendingPathComponent("model.h")
    let so = (outDir as NSString).appendingPathComponent("model.so")
    try OutputPath.file(c, Data(source.source.utf8), option: "-o")
    try OutputPath.file(h, Data(source.header.utf8), option: "-o")
    let compiler = try CCompiler.find()
    let flags = options.flags(threads: source.usesThreads, straightLine: source.straightLine)
    timings?.mark("c: write")
    do {
        try compiler.compileSharedObject(source: c, output: so, flags: flags)
    } catch {
        printError(error.description)
        return .backendFailed
    }
    timings?.mark("c: cc", note: flags.first ?? "")
    if let timings {
        // What loading the written object costs (timing only).
        _ = try CLibrary(path: so)
        timings.mark("c: dlopen")
    }
    print("wrote \(c), \(h), \(so)")
    for (k, abi) in source.functions.enumerated() {
        print("  \(abi.symbol): function \(k), \(abi.inputs.count) inputs, \(abi.outputs.count) outputs, \(abi.workspaceBytes) bytes of workspace")
    }
    return .ok
}
