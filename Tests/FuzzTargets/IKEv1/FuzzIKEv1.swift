import IsthmusFuzzSupport

#if FUZZING
    /// libFuzzer's entry point (scripts/fuzz builds with `--sanitize fuzzer -Xswiftc -DFUZZING`).
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzz(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
        FuzzEntry.fuzz(IKEv1FuzzCore.self, data, size)
    }
#else
    /// Replays corpus files, or writes the seed scripts (`--write-seeds DIR`).
    @main
    struct ReplayIKEv1 {
        static func main() {
            FuzzEntry.replay(IKEv1FuzzCore.self, seeds: FuzzSeeds.ikev1(variant: 0) + FuzzSeeds.ikev1(variant: 1))
        }
    }
#endif
