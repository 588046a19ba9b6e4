import XCTest
final class GradTestsPlaceholder: XCTestCase { func testBuilds() {} }
