/// The version of gradc (semantic versioning), stated here only: `gradc --version`, the C
/// backend (generated code, every cache key) and the Python module's metadata (a test checks
/// python/pyproject.toml and CHANGELOG.md against it) all follow it. A release is the git tag
/// of the same text (`0.2.0`), which `.package(url:…, from:)` resolves.
public let gradcVersion = "0.3.0"
