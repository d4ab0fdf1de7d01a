/// How SPIs are written in events, logs and status, so every module prints them the same way.
public enum SAIdentifier {
    /// An ESP SPI: `0x520462f0` (8 hex digits, RFC 4303's 32-bit SPI).
    public static func esp(_ spi: UInt32) -> String {
        let digits = String(spi, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }

    /// An IKE SPI: `7a176b124198518d` (16 hex digits, as strongSwan prints them).
    public static func ike(_ spi: UInt64) -> String {
        let digits = String(spi, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
