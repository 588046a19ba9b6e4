import Foundation
import GradBenchTool

// gradc-gradbench: gradc as a GradBench tool (docs/gradbench.md). Speaks the suite's protocol
// on stdin/stdout; the models are Examples/gradbench/*.ir unless `--models DIR` says otherwise.
//
//   gradc-gradbench [--models DIR]

var arguments = Array(CommandLine.arguments.dropFirst())
var models = GradBenchTool.defaultModelsDirectory
while let a = arguments.first {
    arguments.removeFirst()
    switch a {
    case "--models":
        guard let dir = arguments.first else {
            FileHandle.standardError.write(Data("gradc-gradbench: --models needs a directory\n".utf8))
            exit(2)
        }
        arguments.removeFirst()
        models = dir
    case "-h", "--help":
        print("usage: gradc-gradbench [--models DIR]   (a GradBench tool on stdin/stdout; docs/gradbench.md)")
        exit(0)
    default:
        FileHandle.standardError.write(Data("gradc-gradbench: unknown argument '\(a)' (usage: gradc-gradbench [--models DIR])\n".utf8))
        exit(2)
    }
}
GradBenchTool(modelsDirectory: models).serve()
