import Foundation

/// A property list value, written as Apple's XML property list (the text of a `.mobileconfig`). Dictionaries
/// keep their keys in the order given, so a profile reads in the order it was built.
enum PlistValue: Sendable, Hashable {
    case string(String)
    case integer(Int)
    case bool(Bool)
    case data([UInt8])
    case array([PlistValue])
    case dictionary([(String, PlistValue)])

    static func == (lhs: PlistValue, rhs: PlistValue) -> Bool { lhs.xml(indent: 0) == rhs.xml(indent: 0) }

    func hash(into hasher: inout Hasher) { hasher.combine(xml(indent: 0)) }

    /// The whole XML document with `root` as its top value.
    static func document(_ root: PlistValue) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
        <plist version="1.0">
        \(root.xml(indent: 0))
        </plist>

        """
    }

    func xml(indent: Int) -> String {
        let pad = String(repeating: "\t", count: indent)
        switch self {
        case .string(let text): return pad + "<string>\(Self.escape(text))</string>"
        case .integer(let value): return pad + "<integer>\(value)</integer>"
        case .bool(let value): return pad + (value ? "<true/>" : "<false/>")
        case .data(let bytes):
            let encoded = Data(bytes).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
            let body = encoded.split(separator: "\n").map { pad + String($0) }.joined(separator: "\n")
            return pad + "<data>\n" + body + "\n" + pad + "</data>"
        case .array(let items):
            return ([pad + "<array>"] + items.map { $0.xml(indent: indent + 1) } + [pad + "</array>"])
                .joined(separator: "\n")
        case .dictionary(let entries):
            var lines = [pad + "<dict>"]
            for (key, value) in entries {
                lines.append(pad + "\t<key>\(Self.escape(key))</key>")
                lines.append(value.xml(indent: indent + 1))
            }
            lines.append(pad + "</dict>")
            return lines.joined(separator: "\n")
        }
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            default: out.append(character)
            }
        }
        return out
    }
}
