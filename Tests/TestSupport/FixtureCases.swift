import Foundation

/// One case of a FileCheck fixture file (cases are separated by a `// -----` line).
public struct FixtureCase {
    /// The case's text, `// CHECK` lines included.
    public var source: String
    /// The IR alone: every `//` line blanked, so line numbers stay those of the file.
    public var ir: String
    /// "PATH case N (line L)", for messages.
    public var context: String
}

public enum FixtureError: Error, CustomStringConvertible {
    case malformed(String)
    public var description: String {
        switch self {
        case .malformed(let m): return m
        }
    }
}

/// The cases of the fixture file at `path` (relative to the repository). A file without a
/// case, or a case without a `func` or without CHECK lines, is an error: a fixture that
/// checks nothing must not pass.
public func fixtureCases(_ path: String) throws -> [FixtureCase] {
    let text = try repositoryFile(path)
    var cases: [FixtureCase] = []
    var firstLine = 1
    for (index, source) in text.components(separatedBy: "\n// -----\n").enumerated() {
        defer { firstLine += source.split(separator: "\n", omittingEmptySubsequences: false).count + 1 }
        let context = "\(path) case \(index + 1) (line \(firstLine))"
        let ir = source.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces).hasPrefix("//") ? "" : String($0) }
            .joined(separator: "\n")
        guard ir.contains("func ") else { throw FixtureError.malformed("\(context) has no func") }
        guard !FileCheck.directives(in: source).isEmpty else { throw FixtureError.malformed("\(context) has no CHECK lines") }
        cases.append(FixtureCase(source: source, ir: ir, context: context))
    }
    guard !cases.isEmpty else { throw FixtureError.malformed("\(path) has no cases") }
    return cases
}

/// The `.ir` files of a fixture directory (relative to the repository), sorted.
public func fixtureFiles(_ directory: String) throws -> [String] {
    let url = repositoryRoot.appendingPathComponent(directory)
    return try FileManager.default.contentsOfDirectory(atPath: url.path).filter { $0.hasSuffix(".ir") }.sorted().map { "\(directory)/\($0)" }
}
