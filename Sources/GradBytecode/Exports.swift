import GradRuntime
@_exported import GradIR
