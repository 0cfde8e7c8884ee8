/// The parsers that read files from elsewhere, each behind a harness that feeds it arbitrary bytes.
///
/// The contract under test: any input either parses or is refused with a thrown error. A trap, an
/// AddressSanitizer report, a leak, a hang or an allocation out of proportion to the input is a bug.
/// `make fuzz` runs every target under libFuzzer (Sources/advdistill-fuzz); `make asan` and the
/// FuzzRegressionTests replay the committed corpus (Tests/Fixtures/fuzz/<target>/) through the same
/// functions.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A safetensors file: header and body, then its metadata, architecture detection, the check of
    /// that claim against the file's size, and building the model and loading the file into it.
    case safetensors
    /// An IDX images file and an IDX labels file (each raw or gzip), framed as one input.
    case idx
    /// A CIFAR-10 and a CIFAR-100 binary batch (the same bytes read both ways).
    case cifar
    /// A PNG through CImageCodecs (libpng), then the image-folder pixel path.
    case png
    /// A JPEG through CImageCodecs (libjpeg), then the image-folder pixel path.
    case jpeg
    /// A run config (JSON with strict keys) and its validation.
    case config

    /// What a harness made of one input.
    public enum Outcome: Equatable, Sendable {
        case accepted
        /// The parser threw; the error's description, which a user would see.
        case refused(String)
    }

    /// Feeds `bytes` to the parser. Never throws: refusing bad input is a correct outcome.
    public func run(_ bytes: [UInt8]) -> Outcome {
        do {
            switch self {
            case .safetensors: try SafeTensorsHarness.run(bytes)
            case .idx: try IDXHarness.run(bytes)
            case .cifar: try CIFARHarness.run(bytes)
            case .png, .jpeg: try ImageHarness.run(bytes)
            case .config: try ConfigHarness.run(bytes)
            }
            return .accepted
        } catch {
            return .refused(String(describing: error))
        }
    }
}
