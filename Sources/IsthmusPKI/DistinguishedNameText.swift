import SwiftASN1
import X509

/// Distinguished names as strongSwan writes them (`id = "C=CH, O=strongSwan, CN=moon"`): the RDNs in their
/// DER order, `KEY=value` separated by ", ", and back to DER for an IKE ID_DER_ASN1_DN.
public enum DistinguishedNameText {
    /// strongSwan's short names of the attribute types (its `oid_names` table); others print as dotted OIDs.
    static let names: [(oid: ASN1ObjectIdentifier, name: String)] = [
        ([2, 5, 4, 6], "C"), ([2, 5, 4, 8], "ST"), ([2, 5, 4, 7], "L"), ([2, 5, 4, 10], "O"),
        ([2, 5, 4, 11], "OU"), ([2, 5, 4, 3], "CN"), ([2, 5, 4, 4], "SN"), ([2, 5, 4, 5], "serialNumber"),
        ([2, 5, 4, 9], "street"), ([2, 5, 4, 12], "T"), ([2, 5, 4, 42], "G"), ([2, 5, 4, 43], "I"),
        ([2, 5, 4, 41], "N"), ([2, 5, 4, 46], "dnQualifier"), ([2, 5, 4, 65], "pseudonym"),
        ([1, 2, 840, 113_549, 1, 9, 1], "E"), ([0, 9, 2342, 19_200_300, 100, 1, 25], "DC"),
        ([0, 9, 2342, 19_200_300, 100, 1, 1], "UID"),
    ]

    /// Other spellings strongSwan accepts when it reads a DN.
    static let aliases: [String: String] = [
        "emailaddress": "E", "email": "E", "s": "ST", "stateorprovincename": "ST", "commonname": "CN",
        "countryname": "C", "localityname": "L", "organizationname": "O", "organizationalunitname": "OU",
        "surname": "SN", "title": "T", "givenname": "G", "initials": "I", "name": "N",
        "domaincomponent": "DC", "userid": "UID",
    ]

    /// The text of a parsed DN.
    public static func text(of name: DistinguishedName) -> String {
        var parts: [String] = []
        for rdn in name {
            for attribute in rdn {
                let key =
                    names.first(where: { $0.oid == attribute.type })?.name ?? attribute.type.description
                let value = String(attribute.value) ?? attribute.value.description
                parts.append("\(key)=\(value)")
            }
        }
        return parts.joined(separator: ", ")
    }

    /// The text of a DER-encoded DN (the body of an ID_DER_ASN1_DN identity or a certificate's subject).
    public static func text(fromDER der: [UInt8]) throws(CertificateFailure) -> String {
        do {
            return text(of: try DistinguishedName(derEncoded: DER.parse(der)))
        } catch {
            throw .malformed("the distinguished name does not decode (\(error))")
        }
    }

    /// The DER of a DN written as strongSwan does ("C=CH, O=strongSwan, CN=moon"; `\,` escapes a comma).
    /// Strings are PrintableString where they fit (C always), E is IA5String, others UTF8String, as strongSwan
    /// encodes them, so the bytes match strongSwan's for the same text.
    public static func der(fromText text: String) throws(CertificateFailure) -> [UInt8] {
        var rdns: [RelativeDistinguishedName] = []
        for part in splitUnescaped(text) {
            guard let equals = part.firstIndex(of: "=") else {
                throw .malformed("'\(part)' in the distinguished name '\(text)' has no '='")
            }
            let rawKey = part[..<equals].trimmingWhitespace()
            let value = String(part[part.index(after: equals)...].trimmingWhitespace())
            let key = aliases[rawKey.lowercased()] ?? String(rawKey)
            let oid: ASN1ObjectIdentifier
            if let known = names.first(where: { $0.name.lowercased() == key.lowercased() }) {
                oid = known.oid
            } else if let dotted = try? ASN1ObjectIdentifier(dotRepresentation: key) {
                oid = dotted
            } else {
                throw .malformed("'\(rawKey)' in the distinguished name '\(text)' is not an attribute type")
            }
            guard !value.isEmpty else {
                throw .malformed("'\(rawKey)' in the distinguished name '\(text)' has an empty value")
            }
            let attribute: RelativeDistinguishedName.Attribute
            do {
                if oid == [1, 2, 840, 113_549, 1, 9, 1] {
                    attribute = try .init(type: oid, ia5String: value)
                } else if isPrintable(value) {
                    attribute = try .init(type: oid, printableString: value)
                } else if oid == [2, 5, 4, 6] {
                    throw CertificateFailure.malformed("the country '\(value)' is not printable")
                } else {
                    attribute = .init(type: oid, utf8String: value)
                }
            } catch {
                throw .malformed("'\(value)' cannot be encoded in the distinguished name '\(text)'")
            }
            rdns.append(RelativeDistinguishedName(attribute))
        }
        guard !rdns.isEmpty else { throw .malformed("the distinguished name is empty") }
        var serializer = DER.Serializer()
        do {
            try serializer.serialize(DistinguishedName(rdns))
        } catch {
            throw .malformed("the distinguished name '\(text)' cannot be encoded")
        }
        return serializer.serializedBytes
    }

    /// Whether two DER DNs name the same subject: equal bytes, or the same attributes in the same order with
    /// values equal ignoring case (strongSwan's `same_dn` compares string types loosely the same way).
    public static func matches(_ first: [UInt8], _ second: [UInt8]) -> Bool {
        if first == second { return true }
        guard let one = try? DistinguishedName(derEncoded: DER.parse(first)),
            let other = try? DistinguishedName(derEncoded: DER.parse(second))
        else { return false }
        let lhs = one.flatMap { Array($0) }
        let rhs = other.flatMap { Array($0) }
        guard lhs.count == rhs.count else { return false }
        return zip(lhs, rhs).allSatisfy { left, right in
            left.type == right.type
                && (String(left.value) ?? left.value.description).lowercased()
                    == (String(right.value) ?? right.value.description).lowercased()
        }
    }

    /// PrintableString's alphabet (X.680 41.4).
    static func isPrintable(_ value: String) -> Bool {
        value.unicodeScalars.allSatisfy { scalar in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", " ", "'", "(", ")", "+", ",", "-", ".", "/", ":", "=", "?": true
            default: false
            }
        }
    }

    /// Splits at commas that are not escaped with a backslash, removing the escapes.
    static func splitUnescaped(_ text: String) -> [Substring] {
        var parts: [Substring] = []
        var current = ""
        var escaped = false
        for character in text {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "," {
                parts.append(Substring(current))
                current = ""
            } else {
                current.append(character)
            }
        }
        if !Substring(current).trimmingWhitespace().isEmpty { parts.append(Substring(current)) }
        return parts.filter { !$0.trimmingWhitespace().isEmpty }
    }
}
