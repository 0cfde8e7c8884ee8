/// Why a model could not be exported; each description names the file or model and what to do.
public enum ExportError: Error, CustomStringConvertible, Equatable {
    case unsupportedModel(arch: String)
    case outputExists(path: String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .unsupportedModel(let arch):
            "model '\(arch)' cannot describe its graph for export; only the zoo's architectures export"
        case .outputExists(let path):
            "\(path) already exists; nothing was written. Pass --overwrite to replace it, or choose another --onnx path."
        case let .cannotWrite(path, reason): "cannot write \(path): \(reason)"
        }
    }
}
