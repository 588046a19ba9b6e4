import Foundation
import Grad

// MARK: The model file

/// A model as the command read it, once: from a path, or from standard input for `-` (named
/// `<stdin>` in messages) and any file that is not a regular one (`/dev/stdin`, a pipe,
/// `<(…)`), which can be read only once. Diagnostics get their source line from these bytes.
struct ModelFile {
    /// The name messages give the model.
    let name: String
    let bytes: [UInt8]

    static let standardInputName = "<stdin>"

    init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }

    static func read(_ path: String) throws -> ModelFile {
        if path == "-" {
            return ModelFile(name: standardInputName, bytes: try readAll(FileHandle.standardInput, path: path))
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw Diagnostic(.io("cannot read '\(path)': no such file"))
        }
        if isDirectory.boolValue {
            throw Diagnostic(.io("cannot read '\(path)': it is a directory, not a model file"))
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw Diagnostic(.io("cannot read '\(path)': \(FileManager.default.isReadableFile(atPath: path) ? "it cannot be opened" : "permission denied")"))
        }
        defer { try? handle.close() }
        return ModelFile(name: path, bytes: try readAll(handle, path: path))
    }

    /// The most bytes read as a model (an endless stream must not exhaust memory).
    static let maxBytes = 1 << 30

    /// Reads to the end, in chunks. A text model (one that does not start with the `.gbc`
    /// magic) ends at its first NUL byte, which the parser then reports, so `/dev/zero` or
    /// random bytes fail at once instead of being read without end.
    private static func readAll(_ handle: FileHandle, path: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while true {
            let chunk: Data
            do {
                guard let data = try handle.read(upToCount: 1 << 20), !data.isEmpty else { return bytes }
                chunk = data
            } catch {
                throw Diagnostic(.io("cannot read '\(path)': \(describe(error))"))
            }
            let start = bytes.count
            bytes.append(contentsOf: chunk)
            let isText = bytes.count >= bytecodeMagic.count && Array(bytes.prefix(bytecodeMagic.count)) != bytecodeMagic
            if isText, let nul = bytes[Swift.max(0, start - bytecodeMagic.count)...].firstIndex(of: 0) {
                return Array(bytes[...nul])
            }
            guard bytes.count <= maxBytes else {
                throw Diagnostic(.io("cannot read '\(path)': it is larger than \(formatBytes(maxBytes)), the most gradc reads as a model"))
            }
        }
    }

    /// Whether the model is a `.gbc` file (by extension or magic number).
    var isBytecode: Bool {
        name.hasSuffix(".gbc") || Array(bytes.prefix(bytecodeMagic.count)) == bytecodeMagic
    }

    /// The text, for the source line of a diagnostic.
    var source: String { String(decoding: bytes, as: UTF8.self) }

    func module() throws(Diagnostic) -> Module {
        try parseModule(bytes: bytes, file: name)
    }

    /// The function `--func` names, or the last one of the file. An unknown name is a
    /// command-line error (exit 2) that lists the file's functions.
    func function(_ module: Module, _ o: Options) throws -> Function {
        guard let wanted = o.value("--func"), module.function(named: wanted) == nil else {
            return try Pipeline.function(module, named: o.value("--func"))
        }
        let names = module.functions.map(\.name)
        let defined = "it defines " + names.map { "'\($0)'" }.joined(separator: ", ")
        throw UsageError(message: "--func: \(name) has no function named '\(wanted)' (\(defined))",
                         hint: Suggestions.didYouMean(wanted, among: names))
    }

    /// Runs `body`, adding the model's name and source line to a diagnostic that lacks them.
    func located<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let d as Diagnostic {
            throw d.attaching(file: name, source: source)
        }
    }

    /// `Pipeline.lower` of a module the command hands over (it keeps no other reference, so
    /// the passes rewrite its nodes in place instead of copying them first), with diagnostics
    /// located in the model.
    func lowerHandingOver(_ module: consuming Module, to stage: Stage, options: OptimizerOptions, timings: StageTimings? = nil) throws -> Module {
        do {
            return try Pipeline.lower(consume module, to: stage, options: options, timings: timings)
        } catch {
            throw error.attaching(file: name, source: source)
        }
    }
}

/// `--timings`: stage lines to stderr, or nil without the flag.
func stageTimings(_ o: Options) -> StageTimings? {
    o.has("--timings") ? StageTimings(report: printError) : nil
}

// MARK: Output files

/// Where a command writes. Existing files are overwritten (as `cc -o` does); an output that
/// names the wrong kind of thing (a directory where a file is written, a file where a
/// directory is), or cannot be written, is a command-line error naming the option.
enum OutputPath {
    /// Makes `dir` (and its parents) if missing, for the files a command writes into it.
    static func directory(_ dir: String, option: String, writes what: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw UsageError(message: "\(option) '\(dir)' is a file, but \(what) go into a directory: give a directory (it is made if missing)")
            }
            return
        }
        if let reason = makeDirectories(dir) {
            throw UsageError(message: "\(option) '\(dir)': cannot make the directory: \(reason)")
        }
    }

    /// `mkdir -p`: `nil`, or the system's reason for the first directory that could not be
    /// made ("Not a directory" when a file is in the way, "Permission denied", …).
    private static func makeDirectories(_ path: String) -> String? {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            if mkdir(prefix, 0o777) != 0, errno != EEXIST { return String(cString: strerror(errno)) }
            prefix += "/"
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return String(cString: strerror(ENOTDIR))
        }
        return nil
    }

    /// Writes `data` to the file `path` (replaced if it exists).
    static func file(_ path: String, _ data: Data, option: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw UsageError(message: "\(option) '\(path)' is a directory: give a file name, such as \((path as NSString).appendingPathComponent("model.gbc"))")
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, !FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory) || !isDirectory.boolValue {
            throw UsageError(message: "\(option) '\(path)': there is no directory '\(parent)' to write it into")
        }
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw UsageError(message: "\(option) '\(path)': cannot write the file: \(describe(error))")
        }
    }
}

/// A Foundation error as one short sentence: the POSIX reason when there is one
/// ("Permission denied"), never the `NSCocoaErrorDomain Code=…` dump.
func describe(_ error: Error) -> String {
    if let d = error as? Diagnostic { return d.message }
    let ns = error as NSError
    var e = ns
    while true {
        if e.domain == NSPOSIXErrorDomain, let reason = strerror(Int32(e.code)) { return String(cString: reason) }
        guard let next = e.userInfo[NSUnderlyingErrorKey] as? NSError else { break }
        e = next
    }
    switch CocoaError.Code(rawValue: ns.domain == NSCocoaErrorDomain ? ns.code : -1) {
    case .fileNoSuchFile, .fileReadNoSuchFile: return "no such file or directory"
    case .fileReadNoPermission, .fileWriteNoPermission: return "permission denied"
    case .fileWriteOutOfSpace: return "no space left on the device"
    case .fileWriteVolumeReadOnly: return "read-only file system"
    case .fileWriteFileExists: return "a file of that name is in the way"
    default: return ns.localizedDescription
    }
}
