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

/// `gradc compile MODEL.ir --backend c -o DIR`: writes DIR/model.c, model.h and model.so.
func compileToC(_ o: Options, path: String) throws -> ExitStatus {
    var chosen = try Pipeline.load(path: path)
    if let name = o.value("--func") {
        chosen = Module(functions: [try Pipeline.function(chosen, named: name)])
    }
    let lowered = try lowerHandingOver(consume chosen, path: path, to: .optimized, options: try optimizerOptions(o))
    let options = CBackendOptions(portable: o.has("--portable"))
    let source = try emitC(lowered.functions, options: options.emit, names: try cNames(o, lowered.functions))
    let dir = o.value("-o") ?? (path as NSString).deletingLastPathComponent
    let outDir = dir.isEmpty ? "." : dir
    try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
    let c = outDir + "/model.c"
    let h = outDir + "/model.h"
    let so = outDir + "/model.so"
    guard FileManager.default.createFile(atPath: c, contents: Data(source.source.utf8)),
          FileManager.default.createFile(atPath: h, contents: Data(source.header.utf8)) else {
        throw Diagnostic(.io("cannot write into '\(outDir)'"))
    }
    let compiler = try CCompiler.find()
    do {
        try compiler.compileSharedObject(source: c, output: so, flags: options.flags(threads: source.usesThreads, straightLine: source.straightLine))
    } catch {
        printError(error.description)
        return .backendFailed
    }
    print("wrote \(c), \(h), \(so)")
    for (k, abi) in source.functions.enumerated() {
        print("  \(abi.symbol): function \(k), \(abi.inputs.count) inputs, \(abi.outputs.count) outputs, \(abi.workspaceBytes) bytes of workspace")
    }
    return .ok
}
