import Foundation
import Grad
import TestSupport
import XCTest

/// The version is stated once (`gradcVersion`); the files that must carry the same text agree.
final class VersionTests: XCTestCase {
    func testVersionIsSemanticAndTheChangelogStartsWithIt() throws {
        let parts = gradcVersion.split(separator: ".", omittingEmptySubsequences: false)
        XCTAssertEqual(parts.count, 3, gradcVersion)
        XCTAssertTrue(parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }, gradcVersion)
        let changelog = try repositoryFile("CHANGELOG.md")
        let first = changelog.split(separator: "\n").first { $0.hasPrefix("## ") }
        XCTAssertEqual(first, "## \(gradcVersion)", "CHANGELOG.md's newest section names the current version")
    }

    func testPythonModuleCarriesTheVersion() throws {
        let pyproject = try repositoryFile("python/pyproject.toml")
        XCTAssertTrue(pyproject.contains("\nversion = \"\(gradcVersion)\"\n"), "python/pyproject.toml's version is gradcVersion")
        let module = try repositoryFile("python/gradc/__init__.py")
        XCTAssertTrue(module.contains("\n__version__ = \"\(gradcVersion)\"\n"), "python/gradc/__init__.py's __version__ is gradcVersion")
    }
}
