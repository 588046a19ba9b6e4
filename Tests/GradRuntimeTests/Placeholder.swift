import XCTest
final class GradRuntimeTestsPlaceholder: XCTestCase { func testBuilds() {} }
