import Foundation
import Grad

/// `gradc`: the command-line front end. Each verb lives in its own file (`Command+Verb.swift`).
let arguments = Array(CommandLine.arguments.dropFirst())
let status = CLI.main(arguments)
exit(status.rawValue)
