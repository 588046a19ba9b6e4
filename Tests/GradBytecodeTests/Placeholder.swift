import XCTest
final class GradBytecodeTestsPlaceholder: XCTestCase { func testBuilds() {} }
