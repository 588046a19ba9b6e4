@_exported import GradIR
