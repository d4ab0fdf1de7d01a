// Fixtures made with strongSwan's `pki` (the CA and moon, ECDSA P-256) and `openssl` (carol, RSA 2048 with a
// PKCS#1 key), valid from 2026-12-07 for ten years, and signatures made by `openssl dgst` over `signedData`.
enum Fixtures {
    static let signedData = Array("isthmus fixture data".utf8)

    static let caPEM = """
        -----BEGIN CERTIFICATE-----
        MIIBtzCCAVygAwIBAgIIUjlGJAfUgmwwCgYIKoZIzj0EAwIwPzELMAkGA1UEBhMC
        Q0gxEzARBgNVBAoTCnN0cm9uZ1N3YW4xGzAZBgNVBAMTEnN0cm9uZ1N3YW4gUm9v
        dCBDQTAeFw0yNjEyMDcwMTQzMTVaFw0zNjEyMDQwMTQzMTVaMD8xCzAJBgNVBAYT
        AkNIMRMwEQYDVQQKEwpzdHJvbmdTd2FuMRswGQYDVQQDExJzdHJvbmdTd2FuIFJv
        b3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAT+IjUZJYKbeiD62GTysvv5
        4+CvnJXhODNjMJ4Iq1GCUvaQr13NgniIUxoMoiW1xE3qdoc27cotjPnTTkR5Dk9S
        o0IwQDAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAdBgNVHQ4EFgQU
        us18LpiTFGZLPAOnh8avPoATJwEwCgYIKoZIzj0EAwIDSQAwRgIhANAyE1DGRtI3
        qAbEJQpshGt+LY5lftGrLwYk8GZIq686AiEAsTAbsQVPEzXNeSILZZcEX5RHsAbE
        9KwcEpjNk4pmZCE=
        -----END CERTIFICATE-----
        """

    static let caKeyPEM = """
        -----BEGIN EC PRIVATE KEY-----
        MHcCAQEEIDcSQtXmf4Sy0qH2ZN9k1stknBrRY6GV+HMbjaPLr3kaoAoGCCqGSM49
        AwEHoUQDQgAE/iI1GSWCm3og+thk8rL7+ePgr5yV4TgzYzCeCKtRglL2kK9dzYJ4
        iFMaDKIltcRN6naHNu3KLYz5005EeQ5PUg==
        -----END EC PRIVATE KEY-----
        """

    static let moonPEM = """
        -----BEGIN CERTIFICATE-----
        MIIB3TCCAYOgAwIBAgIIDHnABKAYQhUwCgYIKoZIzj0EAwIwPzELMAkGA1UEBhMC
        Q0gxEzARBgNVBAoTCnN0cm9uZ1N3YW4xGzAZBgNVBAMTEnN0cm9uZ1N3YW4gUm9v
        dCBDQTAeFw0yNjEyMDcwMTQzMTVaFw0zNjEyMDQwMTQzMTVaMEAxCzAJBgNVBAYT
        AkNIMRMwEQYDVQQKEwpzdHJvbmdTd2FuMRwwGgYDVQQDExNtb29uLnN0cm9uZ3N3
        YW4ub3JnMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEi5LCtcYSRDOEIRCBKRk1
        6BeSBwaLmyI5scIfOsDztdvV/rJwpsrw7umX08sZFFbc9q+JcaQhJB25BNOs35nf
        46NoMGYwHwYDVR0jBBgwFoAUus18LpiTFGZLPAOnh8avPoATJwEwJAYDVR0RBB0w
        G4ITbW9vbi5zdHJvbmdzd2FuLm9yZ4cEwAACATAdBgNVHSUEFjAUBggrBgEFBQcD
        AQYIKwYBBQUIAgIwCgYIKoZIzj0EAwIDSAAwRQIhAPtC9IGoNiLMc93Ex0q2EV1z
        GDjFkiQU1j7BzAxZb+xiAiBH3YqaoTCWWFsytY/tsNJ6srkDMBETEtFhJzDveguU
        mw==
        -----END CERTIFICATE-----
        """

    static let moonKeyPEM = """
        -----BEGIN EC PRIVATE KEY-----
        MHcCAQEEILl4M/xvMwGKbINdnPsMwGlrTcbk/LiwlwRG7FqToylCoAoGCCqGSM49
        AwEHoUQDQgAEi5LCtcYSRDOEIRCBKRk16BeSBwaLmyI5scIfOsDztdvV/rJwpsrw
        7umX08sZFFbc9q+JcaQhJB25BNOs35nf4w==
        -----END EC PRIVATE KEY-----
        """

    static let carolPEM = """
        -----BEGIN CERTIFICATE-----
        MIIC0zCCAnqgAwIBAgIUPXIYnhpV0GJCXTYSNZQpApvNjY4wCgYIKoZIzj0EAwIw
        PzELMAkGA1UEBhMCQ0gxEzARBgNVBAoTCnN0cm9uZ1N3YW4xGzAZBgNVBAMTEnN0
        cm9uZ1N3YW4gUm9vdCBDQTAeFw0yNjEyMDcwMTQzMTZaFw0zNjEyMDQwMTQzMTZa
        MEExCzAJBgNVBAYTAkNIMRMwEQYDVQQKDApzdHJvbmdTd2FuMR0wGwYDVQQDDBRj
        YXJvbEBzdHJvbmdzd2FuLm9yZzCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoC
        ggEBAKP+YMDzez0a527lc/I04vqcq29YLqHXbS5m4aBgkOtA8IEGscQZ1kwoDJ2H
        P1DHZfdnFSMZ6K60bY1IpTPXLOE3p/lGg8hZWkwu4NjGILjy+fW2RKOwKD68pmiv
        b8fJvMIG+qOwZgcQQEm8V09V0O/Tsc+xQWWW2UMtu0mAmGwSo2LM5hHNJ4PGZIK6
        5i7JZ18+MoL9SwvTbx8z0xSW/1AhjDQ6FukZaedhTXQbZmAYdpif82AA+Ntc+KS1
        Q9LGDKy/JFYWD9JiA3ABvn0A0m8f5dRle5TVOUZnPA/C157UXoF523KTYAhc7OuT
        Gwotwz6YISiA8T7ZVxXf4WP+PEECAwEAAaOBhjCBgzAfBgNVHREEGDAWgRRjYXJv
        bEBzdHJvbmdzd2FuLm9yZzATBgNVHSUEDDAKBggrBgEFBQcDAjALBgNVHQ8EBAMC
        B4AwHQYDVR0OBBYEFHiaYAdUmv9SUgSSCFDu9SUaTXKzMB8GA1UdIwQYMBaAFLrN
        fC6YkxRmSzwDp4fGrz6AEycBMAoGCCqGSM49BAMCA0cAMEQCIEGI2sgNlT5VCaoo
        9k10sUF3X3VATX+Ee9br+hTh3IulAiAt2dgpeX2p8EHRlQAhocigN5f/j0oC6twb
        VHdVgZ9zGw==
        -----END CERTIFICATE-----
        """

    static let carolKeyPEM = """
        -----BEGIN RSA PRIVATE KEY-----
        MIIEowIBAAKCAQEAo/5gwPN7PRrnbuVz8jTi+pyrb1guoddtLmbhoGCQ60DwgQax
        xBnWTCgMnYc/UMdl92cVIxnorrRtjUilM9cs4Ten+UaDyFlaTC7g2MYguPL59bZE
        o7AoPrymaK9vx8m8wgb6o7BmBxBASbxXT1XQ79Oxz7FBZZbZQy27SYCYbBKjYszm
        Ec0ng8ZkgrrmLslnXz4ygv1LC9NvHzPTFJb/UCGMNDoW6Rlp52FNdBtmYBh2mJ/z
        YAD421z4pLVD0sYMrL8kVhYP0mIDcAG+fQDSbx/l1GV7lNU5Rmc8D8LXntRegXnb
        cpNgCFzs65MbCi3DPpghKIDxPtlXFd/hY/48QQIDAQABAoIBADuSN5ZPvAg94i0M
        B7rHkF4mFDZdq47ZwQz2jWZjPbFfhR3xjxijpA9FCxQcIZlX3Yfp96kpC7eOzi7g
        4TX8J47mV0u7XDqmjqEW9FF6Yz+b78XcgIGPh4cGo1JqzCmgdENtIpXciatuMVQ3
        qOWmUEAWP8So6I8dJW38SkjQgE3dQIQ+v0HtvqaUJ7V+wVSNN6q5kAy4sPzvxha5
        6gMRIGt2Vd5kNvhgdXZFtCEhAIFXJkKHs0QcYefSe1WNqjKuopmgHIbRwzWcA40I
        YXvXVeDy67BgD0WD2Rd1Z7ozhTTSAG8EIQZ8Ukn0pI5G7MHDCHMwff9OafDO9S7p
        6YO9q9sCgYEAzoO+5xmANJCXSA5WHLu8KRSxTqUWlaRW0HNhMgyBDkxbSWVQzgBI
        pdeWC1R9h6xH3O3T2soP3blKdDD2bstp83iTmcHv6f8j+TgYchjOUrL3BpBI6ASx
        dPj4XYez/ORtDZOovCa7d6CREQDcFg/GPvKeZEMg98nFHRFNXss/rdcCgYEAy0pD
        TOXOBVRPfefJ1/Jw4xTv3dNjH2+5961CIMxDZAVifNjbc7vVvbQ3bs43uOaQTggN
        BYyFML7Cxi0ji6OAG8KiPv/aA3xUzDVoEdTg22eFppOWSsyyLYgXvPVUwJVCXAVY
        NgGSUIF8oi1x9KGKcmJ44je8Yt7FAbWQ+SJ+M6cCgYA9KcPWijTwXIqRqr1SUT/P
        IvPIiRiBRWT449M7kXx/kZnPyRP/jxH1HD6yKFntXtcB1eZS/Flqn8AvXXj/I3vD
        wkhk142IzioHW9fRowsobxy+culE3m74Z+yXNuPV2Il75empoAcRzRpp4MlON2nN
        punGZCNVgArDKyaxFp1LjQKBgBJEZRHG4KFn9xCoQGHwPiaZngg/03tircJMxlFu
        KWwWc8gmMGoQ6d73D7gcPbOWvEbWwFzMSLednKD0M2p70aos7ildEjkX9gK3ldds
        Wpw8jCzwvCOSizw+K2vmW6xGfUUJkeigcYZcbFeiX8gMsAUhRh2Fxp7Xx7okl5db
        ex2nAoGBAK01DHSxplXplV+HZ/5HD3wMmom+ln0A/LzommfP8HsJEcFTEV8U5jww
        X0qagTjdND0qamqC0qOGZQT/VY1KMPn0k2nBTDBa5X2Kd6l3LI4pFFWUmViLC29Q
        LZ//k0+RNPI5/RHLUEoCbbkTCbPiSUCOTYrhbcEvcLaYNR0hTC8+
        -----END RSA PRIVATE KEY-----
        """

    static let moonECDSASHA256DERHex =
        "3046022100a390af96e92665f92bb4ede77e1765f02bfeb4e23302de303f1e2a31a9fe2b68022100f6b62155d9b6c35f9c9e"
        + "63a962d8f5aacf775a939157471548167b65d8974b96"

    static let carolPSSSHA256Hex =
        "5e8c7bf6761f3eb3dd6094e34c63fcbe79f9aadedbf24398c1bd470602d045f39ad933a16efc48e4b12c52bc0493d1c11c28"
        + "4f1ea1cdf57143a4af0ad350bb2eeb2308742cd522fc91601bdfee81d21129b64039a4878cb5f62da1b4174917c54d67a63c"
        + "2082fd90aa4b9311434a2751d3bcd69b9754bae921422287ec4a9a72b4660bbd768189d522024a6dc445bcf24d3c38e9eb7f"
        + "6d6cd802a78a90d61785947a8f79ace73dadc52bf41adc344ee2af035aecd3ebf99d93302d59eeaef208d2ce32c5e580fb86"
        + "7d580d5378d48b77c24e13cdcf482d01f7e3a95d29474267d55c014654ecd4386bc99b1a6fbbd946dd3d3009625a7b7583e7"
        + "c64c61d8c018"

    static let carolPKCS1SHA384Hex =
        "62409d42b591188948d9af738213c748dd72961e9553afb73fb5f5e468f8192c511f238479806b6c9fb67d7cc26f674c4737"
        + "31ee4294334163187b6470c5da21aa0d06e1e1428d4bcfc4c9f28826e7e1ba0b39eb514629474ccad932eee4bdfd4724b2aa"
        + "7ae0b7bf2b43ea32679540aa1bb05333fd2988c2f2748ad5f1bb2f67eaefd8be9a67fe341ff06a5529ebdd01b5149a08757b"
        + "199b83eb6a16540a5af5f43c6db18490c62555eb3b31aec6092d1192d27bcbbb7ac4619744f4f67ab5ac1fd2c66484ddf45e"
        + "5d372b00668e96cfd963507f0c6748249212cc2d0af7dca44b7a85866fc0c2611fb6b7d3a072d29bec96d60486b8244816fe"
        + "1041fdb1a1d9"

    /// SHA-1 of the CA's SubjectPublicKeyInfo DER: openssl's, and strongSwan's `pki --keyid` "keyid" of the CA.
    static let caSPKISHA1Hex = "52d832bef1e3319bef312ec9ae344499bac5e561"
}
