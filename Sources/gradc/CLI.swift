import Foundation
import Grad

/// Exit codes, documented in `gradc --help` and the README.
enum ExitStatus: Int32 {
    /// Success.
    case ok = 0
    /// `gradc check`: a derivative disagrees with finite differences.
    case checkFailed = 1
    /// Bad command line.
    case usage = 2
    /// The model or an input is invalid (parse, type or shape error, unreadable file).
    case invalidInput = 3
    /// A backend failed (e.g. the C compiler).
    case backendFailed = 4
}

/// A usage error: printed with the verb's help hint.
struct UsageError: Error {
    var message: String
}

enum CLI {
    static let version = gradcVersion

    static let help = """
    gradc \(version) — a symbol-to-symbol differentiation compiler

    usage: gradc <verb> [options]

    verbs:
      run      evaluate a function of a model and print (or save) its outputs
      check    compare every grad/jacobian/hessian with central finite differences
      emit     print the IR at a stage, the graph as Graphviz DOT, or the bytecode
      compile  compile a model for a backend: gradc compile MODEL.ir --backend bytecode -o MODEL.gbc
      cache    the C backend's compile cache: gradc cache --info | --clear
      doc      print the op reference (doc ops) or the option reference (doc cli)
      help     show help for a verb: gradc help <verb>

    exit codes:
      0  success
      1  gradc check: some derivative disagrees with finite differences
      2  bad command line
      3  invalid model or input (the message names file:line:col)
      4  a backend failed

    Run `gradc <verb> --help` for the options of each verb.
    """

    static func main(_ args: [String]) -> ExitStatus {
        guard let verb = args.first else {
            print(help)
            return .usage
        }
        let rest = Array(args.dropFirst())
        do {
            switch verb {
            case "run": return try RunCommand.run(rest)
            case "check": return try CheckCommand.run(rest)
            case "emit": return try EmitCommand.run(rest)
            case "compile": return try CompileCommand.run(rest)
            case "cache": return try CacheCommand.run(rest)
            case "doc":
                switch rest {
                case ["ops"]: print(opReferenceMarkdown(), terminator: "")
                case ["cli"]: print(cliReferenceMarkdown(), terminator: "")
                default: throw UsageError(message: "usage: gradc doc ops|cli")
                }
                return .ok
            case "help", "--help", "-h":
                if let topic = rest.first, let text = verbHelp(topic) {
                    print(text)
                } else {
                    print(help)
                }
                return .ok
            case "--version", "version":
                print("gradc \(version)")
                return .ok
            default:
                throw UsageError(message: "unknown verb '\(verb)'")
            }
        } catch let e as UsageError {
            printError("gradc: \(e.message)\nRun `gradc --help` for usage.")
            return .usage
        } catch let d as Diagnostic {
            printError(d.description)
            return .invalidInput
        } catch {
            printError("gradc: \(error)")
            return .invalidInput
        }
    }

    static let verbs = ["run", "check", "emit", "compile", "cache"]

    /// docs/cli-reference.md: the help of every verb, so the page cannot drift from the tool.
    static func cliReferenceMarkdown() -> String {
        var out = "# gradc option reference\n\nGenerated from `gradc <verb> --help` by `Scripts/refresh-docs.sh`; do not edit by hand.\n"
        out += "See [cli.md](cli.md) for the guide.\n\n```\n\(help)\n```\n"
        for verb in verbs {
            out += "\n## gradc \(verb)\n\n```\n\(verbHelp(verb) ?? "")\n```\n"
        }
        return out
    }

    static func verbHelp(_ verb: String) -> String? {
        switch verb {
        case "run": return RunCommand.help
        case "check": return CheckCommand.help
        case "emit": return EmitCommand.help
        case "compile": return CompileCommand.help
        case "cache": return CacheCommand.help
        default: return nil
        }
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write((text + "\n").data(using: .utf8) ?? Data())
}

/// A minimal option parser: `--flag`, `--key value`, `--key=value` and positional arguments.
struct Options {
    var positional: [String] = []
    var values: [String: [String]] = [:]
    var flags: Set<String> = []

    /// Parses `args`; `valued` lists the options that take a value.
    init(_ args: [String], valued: Set<String>, flags known: Set<String>) throws {
        var i = 0
        while i < args.count {
            let a = args[i]
            i += 1
            if a.hasPrefix("--") || (a.hasPrefix("-") && a.count >= 2) {  // -h, -O2
                var key = a
                var inline: String?
                if let eq = a.firstIndex(of: "="), a.hasPrefix("--") {
                    key = String(a[..<eq])
                    inline = String(a[a.index(after: eq)...])
                }
                if valued.contains(key) {
                    if let inline {
                        values[key, default: []].append(inline)
                    } else {
                        guard i < args.count else { throw UsageError(message: "\(key) needs a value") }
                        values[key, default: []].append(args[i])
                        i += 1
                    }
                } else if known.contains(key) {
                    guard inline == nil else { throw UsageError(message: "\(key) takes no value") }
                    flags.insert(key)
                } else {
                    throw UsageError(message: "unknown option '\(key)'")
                }
            } else {
                positional.append(a)
            }
        }
    }

    func value(_ key: String) -> String? { values[key]?.last }
    func has(_ key: String) -> Bool { flags.contains(key) }

    /// The single model path, or a usage error.
    func modelPath() throws -> String {
        guard positional.count == 1 else {
            throw UsageError(message: positional.isEmpty ? "missing model file" : "expected one model file, got \(positional.count)")
        }
        return positional[0]
    }
}
