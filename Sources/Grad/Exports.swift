@_exported import GradIR
@_exported import GradAutodiff
@_exported import GradRuntime
@_exported import GradOptimizer
@_exported import GradLowering
@_exported import GradBytecode
@_exported import GradC
