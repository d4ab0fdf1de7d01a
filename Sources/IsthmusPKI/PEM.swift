import SwiftASN1

/// PEM documents (RFC 7468): the blocks of a file, by label.
public enum PEM {
    /// The DER bytes of every block labelled `label` ("CERTIFICATE", "PRIVATE KEY", ...) in `text`, in order;
    /// blocks with other labels and text between blocks are skipped, a block that does not decode is left out.
    public static func blocks(_ text: String, label: String) -> [[UInt8]] {
        documents(text).filter { $0.label == label }.map(\.der)
    }

    /// Every PEM block of `text` that decodes, with its label.
    public static func documents(_ text: String) -> [(label: String, der: [UInt8])] {
        var result: [(label: String, der: [UInt8])] = []
        var current: (label: String, lines: [Substring])?
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingWhitespace()
            if line.hasPrefix("-----BEGIN "), line.hasSuffix("-----") {
                current = (String(line.dropFirst(11).dropLast(5)), [line])
            } else if line.hasPrefix("-----END "), line.hasSuffix("-----"), var open = current {
                open.lines.append(line)
                if String(line.dropFirst(9).dropLast(5)) == open.label,
                    let document = try? PEMDocument(pemString: open.lines.joined(separator: "\n"))
                {
                    result.append((open.label, Array(document.derBytes)))
                }
                current = nil
            } else if current != nil {
                current?.lines.append(line)
            }
        }
        return result
    }

    /// One PEM block of `der` labelled `label`, 64 characters a line, ending with a newline.
    public static func encode(_ der: [UInt8], label: String) -> String {
        PEMDocument(type: label, derBytes: der).pemString + "\n"
    }
}

extension Substring {
    func trimmingWhitespace() -> Substring {
        var text = self
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return text
    }
}
