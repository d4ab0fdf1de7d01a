import CLibcrypto

/// Small typed wrappers over EVP calls that take `Int32` lengths.
enum EVP {
    /// Sets the IV of a keyed context (`EVP_CipherInit_ex` with only the IV, `enc = -1` keeps the direction).
    static func setIV(_ context: OpaquePointer, _ iv: UnsafeRawBufferPointer) throws(IsthmusCryptoError) {
        guard EVP_CipherInit_ex(context, nil, nil, nil, iv.bindMemory(to: UInt8.self).baseAddress, -1) == 1 else {
            throw .backendFailure("EVP_CipherInit_ex(iv) failed")
        }
    }

    /// Feeds associated data (no output) to an AEAD context.
    static func updateAAD(_ context: OpaquePointer, _ aad: UnsafeRawBufferPointer) throws(IsthmusCryptoError) {
        guard aad.count > 0 else { return }
        var produced: Int32 = 0
        guard let count = Int32(exactly: aad.count),
            EVP_CipherUpdate(context, nil, &produced, aad.bindMemory(to: UInt8.self).baseAddress, count) == 1
        else {
            throw .backendFailure("EVP_CipherUpdate(aad) failed")
        }
    }

    /// Encrypts or decrypts `buffer` in place (libcrypto allows `out == in`).
    static func updateInPlace(_ context: OpaquePointer, _ buffer: UnsafeMutableRawBufferPointer)
        throws(IsthmusCryptoError)
    {
        guard buffer.count > 0 else { return }
        let pointer = buffer.bindMemory(to: UInt8.self).baseAddress
        var produced: Int32 = 0
        guard let count = Int32(exactly: buffer.count),
            EVP_CipherUpdate(context, pointer, &produced, pointer, count) == 1,
            produced == count
        else {
            throw .backendFailure("EVP_CipherUpdate failed")
        }
    }

    /// Finishes the operation; for AEAD decryption `false` means the tag did not verify.
    static func finish(_ context: OpaquePointer) -> Bool {
        // Without padding and for GCM nothing is written, but libcrypto wants a valid pointer.
        var scratch: (UInt64, UInt64) = (0, 0)
        var produced: Int32 = 0
        return withUnsafeMutableBytes(of: &scratch) { raw in
            EVP_CipherFinal_ex(context, raw.bindMemory(to: UInt8.self).baseAddress, &produced) == 1
        }
    }
}
