import CLibcrypto
import Synchronization

/// One keyed `EVP_CIPHER_CTX` of the system libcrypto, owned by one SA direction.
///
/// The key schedule is done once in `init`; each packet only resets the IV. A `Mutex` serialises
/// use, so one SA may be shared between threads (uncontended locking is a few nanoseconds; give each
/// core its own SA state if it ever shows up in profiles). `EVP_CIPHER_CTX_free` wipes the key schedule.
final class LibcryptoCipherContext: @unchecked Sendable {
    private let context: OpaquePointer
    private let lock = Mutex(())

    /// Creates a context for `cipher`, keyed with `key`, for encryption or decryption.
    init(cipher: OpaquePointer, key: SecretBytes, encrypt: Bool, ivLength: Int? = nil) throws(IsthmusCryptoError) {
        guard let context = EVP_CIPHER_CTX_new() else {
            throw .backendFailure("EVP_CIPHER_CTX_new failed")
        }
        self.context = context
        let direction: Int32 = encrypt ? 1 : 0
        guard EVP_CipherInit_ex(context, cipher, nil, nil, nil, direction) == 1 else {
            throw .backendFailure("EVP_CipherInit_ex(cipher) failed")
        }
        if let ivLength {
            guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_IVLEN, Int32(ivLength), nil) == 1 else {
                throw .backendFailure("EVP_CTRL_AEAD_SET_IVLEN failed")
            }
        }
        // No padding: ESP and IKE pad themselves (RFC 4303 section 2.4, RFC 7296 section 3.14).
        guard EVP_CIPHER_CTX_set_padding(context, 0) == 1 else {
            throw .backendFailure("EVP_CIPHER_CTX_set_padding failed")
        }
        let keyed = key.withUnsafeBytes { bytes in
            EVP_CipherInit_ex(context, nil, nil, bytes.bindMemory(to: UInt8.self).baseAddress, nil, direction)
        }
        guard keyed == 1 else {
            throw .backendFailure("EVP_CipherInit_ex(key) failed")
        }
    }

    /// Re-initialises the keyed context with `iv` only (`EVP_CipherInit_ex` with no cipher and no key keeps
    /// the key schedule and the direction) and runs it over `buffer` in place: the CBC path, which allocates
    /// nothing. `buffer` must be whole blocks (no padding is configured); `false` when libcrypto fails.
    ///
    /// No `EVP_CipherFinal_ex`: with padding off and whole blocks it has nothing to emit, and the next
    /// IV re-initialisation resets the context anyway. `produced == count` confirms nothing was held back.
    func cipherInPlace(_ buffer: UnsafeMutableRawBufferPointer, iv: UnsafeRawBufferPointer) -> Bool {
        // A nil IV would silently keep the previous packet's chaining state.
        guard let count = Int32(exactly: buffer.count),
            let ivBytes = iv.baseAddress?.assumingMemoryBound(to: UInt8.self)
        else { return false }
        let context = self.context
        let bytes = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self)
        return lock.withLock { _ -> Bool in
            guard EVP_CipherInit_ex(context, nil, nil, nil, ivBytes, -1) == 1 else { return false }
            guard count > 0 else { return true }
            var produced: Int32 = 0
            return EVP_CipherUpdate(context, bytes, &produced, bytes, count) == 1 && produced == count
        }
    }

    /// Runs `body` with exclusive use of the context.
    func withContext<R: Sendable>(_ body: (OpaquePointer) throws(IsthmusCryptoError) -> R)
        throws(IsthmusCryptoError) -> R
    {
        let context = self.context
        let result: Result<R, IsthmusCryptoError> = lock.withLock { _ in
            do throws(IsthmusCryptoError) {
                return .success(try body(context))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    deinit {
        EVP_CIPHER_CTX_free(context)
    }
}
