import Attacks
import NN

/// Method names → configured methods. Adding a method is one file in Methods/ plus one case here.
public enum MethodRegistry {
    public static var names: [String] { MethodConfig.methods.keys.sorted() }

    /// Builds the method with the config's parameters over its defaults. `numClasses` sets the default
    /// loss scale (×10 on ≥ 100 classes, as the paper does on CIFAR-100).
    public static func make(_ config: RunConfig, numClasses: Int) throws -> Method {
        let m = config.method, a = config.attack
        let reduction = KLReduction(rawValue: m.klReduction ?? "mean") ?? .mean
        switch m.name {
        case "natural": return NaturalTraining()
        case "pgd_at": return PGDAdversarialTraining(attack: TrainingAttack(a, method: m, defaultStart: .uniform))
        case "trades":
            return TRADESTraining(attack: TrainingAttack(a, method: m, defaultStep: 0.007, defaultStepEps: 0.031,
                                                         defaultStart: .gaussian(sigma: 0.001)), beta: m.beta ?? 6)
        case "ard":
            return ARDTraining(attack: TrainingAttack(a, method: m, defaultStart: .uniform, defaultTrainBN: true),
                               temperature: m.temperature ?? 30, alpha: m.alpha ?? 1)
        case "iad":
            return IADTraining(attack: TrainingAttack(a, method: m, defaultStart: .uniform, defaultTrainBN: true),
                               temperature: m.temperature ?? 30, alpha: m.alpha ?? 1, startEpoch: m.iadStartEpoch ?? 60)
        case "rslad":
            return RSLADTraining(attack: TrainingAttack(a, method: m, defaultStart: .gaussian(sigma: 0.001)), reduction: reduction)
        case "adaad":
            return AdaADTraining(attack: TrainingAttack(a, method: m, defaultStart: .gaussian(sigma: 0.001)),
                                 reduction: KLReduction(rawValue: m.klReduction ?? "batchmean") ?? .batchmean)
        case "mtard", "bmtard":
            return MultiTeacherDistillation(
                name: m.name, attack: TrainingAttack(a, method: m, defaultStart: .gaussian(sigma: 0.001)),
                reduction: reduction, lossScale: m.lossScale ?? (numClasses >= 100 ? 10 : 1),
                balancesTemperature: m.name == "bmtard", eta: m.eta ?? 0.001, rate: m.weightRate ?? 0.025, beta: m.beta ?? 1)
        default:
            throw ConfigError.invalid(field: "method.name", message: "unknown method '\(m.name)'")
        }
    }
}

extension MethodRegistry {
    /// A method with its defaults and the given training attack, for benchmarks (no config file).
    public static func bench(name: String, eps: Float, stepSize: Float, steps: Int) throws -> Method {
        let json = """
        {"name": "bench", "data": {"train": {"path": "-"}, "test": {"path": "-"}}, "model": {"arch": "smallcnn"},
         "teachers": {"natural": {"checkpoint": "-"}, "robust": {"checkpoint": "-"}},
         "method": {"name": "\(name)"}, "attack": {"eps": \(eps), "step_size": \(stepSize), "steps": \(steps)}, "epochs": 1}
        """
        let config = try JSONDecoder().decode(RunConfig.self, from: Data(json.utf8))
        return try make(config, numClasses: 10)
    }
}

import Foundation
