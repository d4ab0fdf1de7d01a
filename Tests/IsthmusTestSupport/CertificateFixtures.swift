/// Test certificates made with strongSwan's `pki` (valid 2025-01-01 to 2040-01-01; roots 2024 to 2045): keys and
/// certificates for tests only (the IKEv2 and gateway tests, the fuzzers' certificate variant).
public enum CertificateFixtures {
    /// Test Root A (ECDSA P-256), the roots both test gateways trust.
    public static let rootA = """
        -----BEGIN CERTIFICATE-----
        MIIBqzCCAVKgAwIBAgIIMTYzyY1duH0wCgYIKoZIzj0EAwIwOjELMAkGA1UEBhMC
        Q0gxFTATBgNVBAoTDElzdGhtdXMgVGVzdDEUMBIGA1UEAxMLVGVzdCBSb290IEEw
        HhcNMjQwMTAxMDE0NTEzWhcNNDUwMTAxMDE0NTEzWjA6MQswCQYDVQQGEwJDSDEV
        MBMGA1UEChMMSXN0aG11cyBUZXN0MRQwEgYDVQQDEwtUZXN0IFJvb3QgQTBZMBMG
        ByqGSM49AgEGCCqGSM49AwEHA0IABO+Rr7/+RckX22bKTIG0DRdsw8ZIZTliLxTU
        nRKchNe9mOqAcbC6hQq4p7+UwbJ3tYWQ+861jQ5Q49GsbHAetw6jQjBAMA8GA1Ud
        EwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMB0GA1UdDgQWBBS3OYLCcXD6ohw6
        I4pqxnTD5gxLAjAKBggqhkjOPQQDAgNHADBEAiANBkH54Da1XgkTEMNOlqEH7lgA
        zegnDV2Wzo1UQC9o9wIgNzlwnYHVKxf/tdcziy5cB/5wLpXL0poJODB8HiFEEvI=
        -----END CERTIFICATE-----
        """
    /// Test Root B, a CA nobody trusts.
    public static let rootB = """
        -----BEGIN CERTIFICATE-----
        MIIBnjCCAUSgAwIBAgIIP5XSpkAlFhAwCgYIKoZIzj0EAwIwMzELMAkGA1UEBhMC
        Q0gxDjAMBgNVBAoTBU90aGVyMRQwEgYDVQQDEwtUZXN0IFJvb3QgQjAeFw0yNDAx
        MDEwMTQ1MTNaFw00NTAxMDEwMTQ1MTNaMDMxCzAJBgNVBAYTAkNIMQ4wDAYDVQQK
        EwVPdGhlcjEUMBIGA1UEAxMLVGVzdCBSb290IEIwWTATBgcqhkjOPQIBBggqhkjO
        PQMBBwNCAATFvj1cnqFYGOMnH1tfn/+/exxer1i1VZgT+2zYwrRJ6bCqiGSlHSlb
        a2KgA0seCSQ8rB3LawlnMLG0WChZKoAto0IwQDAPBgNVHRMBAf8EBTADAQH/MA4G
        A1UdDwEB/wQEAwIBBjAdBgNVHQ4EFgQUDorY2VaTkusAkdXeTC7PjBu7QNowCgYI
        KoZIzj0EAwIDSAAwRQIgUxckKyWxGwBCayanuUwdg61aCy+kGHJQ2zSHGpdHUtoC
        IQCu7GZyuTKKKvlhcBeVeV8jQsL4Kawbim6hljmy+gNCiQ==
        -----END CERTIFICATE-----
        """
    /// CN=office, SAN office.example.test, ECDSA P-256, serial 0a11, issued by Root A.
    public static let officeCertificate = """
        -----BEGIN CERTIFICATE-----
        MIIBozCCAUigAwIBAgICChEwCgYIKoZIzj0EAwIwOjELMAkGA1UEBhMCQ0gxFTAT
        BgNVBAoTDElzdGhtdXMgVGVzdDEUMBIGA1UEAxMLVGVzdCBSb290IEEwHhcNMjUw
        MTAxMDE0NTEzWhcNNDAwMTAxMDE0NTEzWjA1MQswCQYDVQQGEwJDSDEVMBMGA1UE
        ChMMSXN0aG11cyBUZXN0MQ8wDQYDVQQDEwZvZmZpY2UwWTATBgcqhkjOPQIBBggq
        hkjOPQMBBwNCAASJnhysAz+6rw2b5EQ3y+4dZutZwpMVmQ4t+zPZJn11PZ0mmoOk
        V1BVCJyXV4uqMQIXjjndh2Ere6fH6Aqy/Gbto0MwQTAfBgNVHSMEGDAWgBS3OYLC
        cXD6ohw6I4pqxnTD5gxLAjAeBgNVHREEFzAVghNvZmZpY2UuZXhhbXBsZS50ZXN0
        MAoGCCqGSM49BAMCA0kAMEYCIQDJK7d8VjBttRU32DzBc91tx32vkKA6ZGrIpiEd
        6iQRuQIhANKQ04zebf7Vt8XE826mgKcsbLJM4ijJpXiBliQURwX5
        -----END CERTIFICATE-----
        """
    /// Its SEC1 key.
    public static let officeKey = """
        -----BEGIN EC PRIVATE KEY-----
        MHcCAQEEIH8HG2+1H32NRrZnIbpZVrCHK1M2W5JGH7UMZo+Sbk8JoAoGCCqGSM49
        AwEHoUQDQgAEiZ4crAM/uq8Nm+REN8vuHWbrWcKTFZkOLfsz2SZ9dT2dJpqDpFdQ
        VQicl1eLqjECF4453YdhK3unx+gKsvxm7Q==
        -----END EC PRIVATE KEY-----
        """
    /// CN=cloud, SAN cloud.example.test, RSA 2048, serial 0c10, issued by Root A.
    public static let cloudCertificate = """
        -----BEGIN CERTIFICATE-----
        MIICbDCCAhGgAwIBAgICDBAwCgYIKoZIzj0EAwIwOjELMAkGA1UEBhMCQ0gxFTAT
        BgNVBAoTDElzdGhtdXMgVGVzdDEUMBIGA1UEAxMLVGVzdCBSb290IEEwHhcNMjUw
        MTAxMDE0NTEzWhcNNDAwMTAxMDE0NTEzWjA0MQswCQYDVQQGEwJDSDEVMBMGA1UE
        ChMMSXN0aG11cyBUZXN0MQ4wDAYDVQQDEwVjbG91ZDCCASIwDQYJKoZIhvcNAQEB
        BQADggEPADCCAQoCggEBAMxTmU9AhDgVxgZq7rkF0Yfv64rXR4pPaGlW2vzh0qos
        K1OUDv6Btb6ac6N6ZoIFRGeLFb3fM8rDIhKbCfK6Ic6aBuXgs1/7OEqDvdALoZR5
        sbEt4mfuiSG32K+HXJ9W8DDQz/dZuJzLgZ1ol25Vf48+tSCd1nHw4CNnozWjUNLB
        MqUj2p8cZMC9QXFqwqCrTnKzNBp4zyVtRt1YGjcSH+Mb1xv+/pa8ssMsmY+SeueH
        lOR6rpzFJ6Or36OtWB1kOPJujIsIiZkGFCzS69b3tBjOmpNSySMXWp0OzSemsgaH
        AjUMKZ0rF0nfaZdRry3RSesN5Gi20wPuOl04XXyl3+UCAwEAAaNCMEAwHwYDVR0j
        BBgwFoAUtzmCwnFw+qIcOiOKasZ0w+YMSwIwHQYDVR0RBBYwFIISY2xvdWQuZXhh
        bXBsZS50ZXN0MAoGCCqGSM49BAMCA0kAMEYCIQC7ecZbPWT/aYOQCDyFVBXVOWV1
        gaE3xfHgYcJDXhgCTwIhAO/Wjk96/PK/UMC1BsAa72Ow+zjYsb7NzJRcK8+UrPQf
        -----END CERTIFICATE-----
        """
    /// Its PKCS#1 key.
    public static let cloudKey = """
        -----BEGIN RSA PRIVATE KEY-----
        MIIEogIBAAKCAQEAzFOZT0CEOBXGBmruuQXRh+/ritdHik9oaVba/OHSqiwrU5QO
        /oG1vppzo3pmggVEZ4sVvd8zysMiEpsJ8rohzpoG5eCzX/s4SoO90AuhlHmxsS3i
        Z+6JIbfYr4dcn1bwMNDP91m4nMuBnWiXblV/jz61IJ3WcfDgI2ejNaNQ0sEypSPa
        nxxkwL1BcWrCoKtOcrM0GnjPJW1G3VgaNxIf4xvXG/7+lryywyyZj5J654eU5Hqu
        nMUno6vfo61YHWQ48m6MiwiJmQYULNLr1ve0GM6ak1LJIxdanQ7NJ6ayBocCNQwp
        nSsXSd9pl1GvLdFJ6w3kaLbTA+46XThdfKXf5QIDAQABAoIBACOL+bR9c2M0eoZ8
        TPq4ZesB1NcLO+F2jiIhX6i1+snrNEBulis10rINucd7kGDXXL6sxkQJlD+WshNN
        kK3/Lsl8J24PqPUuRe1EvR14IIytnTnHU0ekiovoqZRj9rurys6bTUrpe4Ifr3V8
        kDe8PRxlGurJOtkIwF24dn7q4jE/5pg9ve38HDYV1qtMgVVLYpY+s+t6l9iplT8x
        YxgFPGoAbSd5xzZLiAoaH0gd3P24LH6a4uqnZ8VR6LUaBh3aLCGydw1+aoHb0zqG
        b8epN5RdUmN13u9WTwxQWtuwmYaiO3ARCwhEYWebRQnsVMx9tz93jGKxsNEXUVzI
        Iu+3MgECgYEA7P8ZqeQjR8e6ivA9Giv3EZg15wI4hKjiUkBZ97NQHiQ6E1cX4bZm
        CNoEd4mDQ2JBdwynwxHc3AiKtjiEYrD40yP7JFy5z8d1BgLzvtr9YB1d+BZQ24w2
        /bw1aueXNYTPmvmuNq/ZCPMyoLG5SJP6xugL4JyIn1/nGcVhD61cuwECgYEA3LXf
        ewXahCyj/QnHlTfOXVn+ndfx5kttk9s1HcG1wpRZEPRE8MERJwF1bjxTVmFyNbc8
        XBl6WAGc8hI9fLqsceaB2ZfFVbR1t3Plbu1Wo5DP4B2wHGwKn02l82544HOqiTVF
        eQWPikqrd82HRnaTK1bUhyptDyXiAIQ6ayuqmOUCgYA+Ol1KtpRs7IyWnq3siU6+
        V/EPTw34B0AlyK/W0kZfI7P8EAo9Qd9Yw6YYnQrSTqJR2AjUt4P+Yl/JqN1Z7I3p
        IrF2wsInRH/9rBjELEwLSKq70WA5xX9K8Hg2MckKTG0WjCiqQ1IBf5nzh7bWz8Qx
        Jgy4VWGqN0w/AAyUSTjoAQKBgDO7SVtrftFWKUXJAge+odcNnflfQSqqaU+rpKKJ
        4dFutgWcS4BmsF+FHwIsj5gClSN0BGjN6/guwJuYnOLcWkkEL1FSGoXBG4pZVuCO
        Lq195stwCfRPepnmOEx7i0eItOMeIl+AZymR4OjeuqNQbaRN4NihoBhZ18QpOgwe
        mwjlAoGAYwkKMo4LfzaQ/4jbfd2NCGKkkP8T6YnF65dON47jivWQk/4ds+w/oY/C
        l0TAcNE5c+CNXIMIVK0PJIir8yhmJwTic7V+p8b96sCKrTV5MuJ/GxyNO5XjAtx0
        RL+lw1+o2P2Z8yRNMlRZr+wfJKRGPyYgwdfxP/X4bsstjZcEE58=
        -----END RSA PRIVATE KEY-----
        """
    /// CN=office of O=Other, ECDSA P-384, issued by Root B.
    public static let strangerCertificate = """
        -----BEGIN CERTIFICATE-----
        MIIBtjCCAV2gAwIBAgIIPq7VJti0M5owCgYIKoZIzj0EAwIwMzELMAkGA1UEBhMC
        Q0gxDjAMBgNVBAoTBU90aGVyMRQwEgYDVQQDEwtUZXN0IFJvb3QgQjAeFw0yNTAx
        MDEwMTQ1MTNaFw00MDAxMDEwMTQ1MTNaMC4xCzAJBgNVBAYTAkNIMQ4wDAYDVQQK
        EwVPdGhlcjEPMA0GA1UEAxMGb2ZmaWNlMHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE
        xa1GHzCeLOSQjfO8eAYunaXMrPYRhFxLgKrjYoAp7szZZd6xSTUmNqu+qSrdW2CF
        hW/YnSgr8VEaVw6BmKxfSzPzGCRioHVmnSenuInuwWX89jy/F/cBG42o3nUNrhKj
        o0MwQTAfBgNVHSMEGDAWgBQOitjZVpOS6wCR1d5MLs+MG7tA2jAeBgNVHREEFzAV
        ghNvZmZpY2UuZXhhbXBsZS50ZXN0MAoGCCqGSM49BAMCA0cAMEQCIDI6+4FNkNjf
        EFtWDxRGsMWsmGC/+8jV+D+Q0oK1l91IAiAFgpTNYKQP7S6avacqPHvBihj28e/I
        vrsFypceYMeJuQ==
        -----END CERTIFICATE-----
        """
    /// Its SEC1 key.
    public static let strangerKey = """
        -----BEGIN EC PRIVATE KEY-----
        MIGkAgEBBDCSjdTGLIGha/VY0VqTtgP71uG1n0a+NZWVgJIV7r7ZEKkpGIAMBuen
        2yNxSDrHcrygBwYFK4EEACKhZANiAATFrUYfMJ4s5JCN87x4Bi6dpcys9hGEXEuA
        quNigCnuzNll3rFJNSY2q76pKt1bYIWFb9idKCvxURpXDoGYrF9LM/MYJGKgdWad
        J6e4ie7BZfz2PL8X9wEbjajedQ2uEqM=
        -----END EC PRIVATE KEY-----
        """
}
