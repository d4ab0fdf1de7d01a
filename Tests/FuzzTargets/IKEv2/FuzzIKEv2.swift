import IsthmusFuzzSupport

#if FUZZING
    /// libFuzzer's entry point (scripts/fuzz builds with `--sanitize fuzzer -Xswiftc -DFUZZING`).
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzz(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
        FuzzEntry.fuzz(IKEv2FuzzCore.self, data, size)
    }
#else
    /// Replays corpus files, or writes the seed scripts (`--write-seeds DIR`).
    @main
    struct ReplayIKEv2 {
        static func main() {
            FuzzEntry.replay(
                IKEv2FuzzCore.self,
                seeds: (0..<UInt8(FuzzConfigurations.ikev2VariantCount)).flatMap { FuzzSeeds.ikev2(variant: $0) })
        }
    }
#endif
