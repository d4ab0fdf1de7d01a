/// Cuts consecutive keys from a block of keying material.
struct KeyMaterialReader {
    private let material: SecretBytes
    private var offset = 0

    init(_ material: SecretBytes) {
        self.material = material
    }

    /// The next `length` bytes (fewer only if the material is exhausted, which callers size to avoid).
    mutating func take(_ length: Int) -> SecretBytes {
        let piece = material.slice(offset..<(offset + length))
        offset += length
        return piece
    }
}
