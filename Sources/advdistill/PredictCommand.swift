import ArgumentParser
import Attacks
import Datasets
import Engine
import Foundation
import NN

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Logits of a checkpoint on images from a .npy file or a data set, optionally after an attack.",
        discussion: """
        Writes into --out: logits.npy (float32 [N, K], the model in eval mode) and, with --data, inputs.npy \
        (float32 [N, C, H, W] in [0, 1]: the images classified, adversarial ones with --attack) and labels.npy \
        (int64 [N]), and prints the accuracy. The files load with numpy.load, so an exported model can be run \
        on the very same inputs (Tests/Interop/check_onnx.py compares ONNX Runtime with these logits).
          advdistill predict --checkpoint runs/x/best.safetensors --inputs batch.npy \\
              --out preds
          advdistill predict --checkpoint runs/x/best.safetensors \\
              --data /usr/share/datasets/fashion-mnist --limit 500 \\
              --attack pgd20 --eps 0.1 --out preds-pgd20
        Existing files in --out are not replaced without --overwrite.
        """)

    @Option(help: "Checkpoint (.safetensors): ours, or a PyTorch state_dict with --model.")
    var checkpoint: String
    @Option(help: "Architecture, for files without our metadata (e.g. resnet18, wrn-34-10).")
    var model: String?
    @Option(help: "Images as a .npy array of float32 [N, C, H, W] in [0, 1].")
    var inputs: String?
    @Option(help: "Data instead of --inputs: a path (IDX/CIFAR folder, image folder) or a JSON spec.")
    var data: String?
    @Option(help: "Split when --data is a path: train or test.")
    var split: String = "test"
    @Option(help: "With --data: the first N images.")
    var limit: Int?
    @Option(help: "With --data: classify the images after this attack (one name, e.g. pgd20 or fgsm).")
    var attack: String?
    @Option(help: "L∞ radius of --attack on [0,1] inputs, e.g. 0.1 or 8/255.")
    var eps: String = "8/255"
    @Option(help: "Seed of the attack's random start.")
    var seed: UInt64 = 0
    @Option(help: "Images per batch.")
    var batchSize: Int = 200
    @Option(help: "Directory for logits.npy (and inputs.npy, labels.npy with --data).")
    var out: String
    @Flag(help: "Replace files in --out if they exist.")
    var overwrite = false
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard (inputs == nil) != (data == nil) else { throw ValidationError("give one of --inputs FILE.npy and --data PATH") }
        if attack != nil, data == nil { throw ValidationError("--attack needs --data (the labels come from it)") }
        _ = try parseEpsilon(eps, option: "--eps")
        if let limit, limit <= 0 { throw ValidationError("--limit must be > 0, got \(limit)") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be > 0, got \(batchSize)") }
        guard ["train", "test"].contains(split) else { throw ValidationError("--split must be train or test, got '\(split)'") }
    }

    func run() throws {
        try ClusterSetup.requireOneProcess("predict")
        try common.apply()
        let names = data == nil ? ["logits.npy"] : ["logits.npy", "inputs.npy", "labels.npy"]
        let paths = names.map { (out as NSString).appendingPathComponent($0) }
        let existing = paths.filter { FileManager.default.fileExists(atPath: $0) }
        if !overwrite, !existing.isEmpty {
            throw CommandError("\(existing.joined(separator: ", ")) already \(existing.count == 1 ? "exists" : "exist"); "
                               + "nothing was written. Pass --overwrite to replace, or choose another --out.")
        }
        let attackToRun = try attack.map { name -> Attack in
            let entries = try AttackRegistry.parse(name, eps: parseNumber(eps)!)
            guard entries.count == 1 else { throw ValidationError("--attack takes one attack, '\(name)' is \(entries.count)") }
            return entries[0].attack
        }
        let net = try loadCheckpoint(checkpoint, arch: model)

        let images: Tensor, labels: [Int]?
        if let inputs {
            let (shape, values) = try NPY.readFloats(path: inputs)
            let (c, side) = (net.spec.inChannels, net.spec.inputSize)
            guard shape.count == 4, shape[1] == c, shape[2] == side, shape[3] == side else {
                throw NPYError(inputs, "has shape \(shape); \(net.spec.arch) takes [N, \(c), \(side), \(side)]")
            }
            images = Tensor(shape: shape, scalars: values); labels = nil
        } else {
            let dataset = try Dataset.load(try dataSpec(data!, split: split))
            let n = min(limit ?? dataset.count, dataset.count)
            (images, labels) = dataset.tensor(Array(0..<n))
        }

        let n = images.shape[0], per = images.count / max(n, 1), k = net.spec.numClasses
        var classified = [Float](), logits = [Float]()
        classified.reserveCapacity(images.count); logits.reserveCapacity(n * k)
        var rng = SeededGenerator(seed: seed)
        for lo in stride(from: 0, to: n, by: batchSize) {
            let hi = min(lo + batchSize, n)
            var x = Tensor(shape: [hi - lo] + images.shape.dropFirst(),
                           scalars: Array(UnsafeBufferPointer(start: images.data + lo * per, count: (hi - lo) * per)))
            if let attackToRun, let labels { x = attackToRun.perturb(net, x, labels: Array(labels[lo..<hi]), rng: &rng) }
            classified += x.scalars
            logits += withNoGrad { net.forward(x, training: false) }.scalars
        }

        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try AtomicFile.write(NPY.encode(floats: logits, shape: [n, k]), to: paths[0])
        if let labels {
            try AtomicFile.write(NPY.encode(floats: classified, shape: images.shape), to: paths[1])
            try AtomicFile.write(NPY.encode(int64: labels, shape: [n]), to: paths[2])
            let correct = (0..<n).filter { i in
                let row = logits[i * k..<(i + 1) * k]
                return row.indices.max { row[$0] < row[$1] }! - i * k == labels[i]
            }.count
            let what = attackToRun.map { "\($0.name) (ε = \(eps))" } ?? "clean"
            print("accuracy \(String(format: "%.2f", 100 * Double(correct) / Double(max(n, 1))))% (\(correct)/\(n), \(what))")
        }
        print("wrote \(paths.filter { labels != nil || $0.hasSuffix("logits.npy") }.joined(separator: ", "))")
    }
}
