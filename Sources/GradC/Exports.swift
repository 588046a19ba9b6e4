@_exported import GradIR
import GradRuntime
