import ArgumentParser
import IsthmusCrypto

/// `isthmus algorithms`: the registry, so users can see every keyword and the numbers each maps to.
struct Algorithms: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List supported algorithms: strongSwan keyword, IKEv2 transform ID, IKEv1 values, guidance."
    )

    func run() {
        print("keyword            type        name                       IKEv2  IKEv1-P1  IKEv1-P2  note")
        for algorithm in AlgorithmRegistry.all {
            let v2 = algorithm.keyLengthBits.map { "\(algorithm.ikev2ID)/\($0)" } ?? "\(algorithm.ikev2ID)"
            let p1 = algorithm.ikev1Phase1Value.map(String.init) ?? "-"
            let p2 = algorithm.ikev1Phase2Value.map(String.init) ?? "-"
            var note = ""
            if case .legacy(let reason) = algorithm.guidance { note = reason }
            let keywords = algorithm.keywords.joined(separator: ",")
            print(
                pad(keywords, 18) + " " + pad(algorithm.type.description, 11) + " " + pad(algorithm.displayName, 26)
                    + " " + pad(v2, 6) + " " + pad(p1, 9) + " " + pad(p2, 9) + " " + note)
        }
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
