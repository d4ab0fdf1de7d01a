"""The harness itself, end to end (no bash counterpart): the fixtures the strongSwan ports build on. A
strongSwan peer (scene.strongswan) loads a swanctl configuration and lists no SA; an Isthmus gateway
(scene.isthmus, from YAML text) initiates to it; both agree (ikev2_checks.verify_established, the checks of
test_ikev2_strongswan.py case a); strongSwan rekeys the CHILD SA (swanctl --rekey); the capture (scene.capture) holds
the IKE_AUTH response and, read back, the rekey's CREATE_CHILD_SA exchange. ~3 s."""

from harness import capture, prereq, proc
from harness.config import EXAMPLES
from harness.ikev2_checks import verify_established
from harness.isthmus import child_sas
from harness.sites import CLOUD_PUBLIC, OFFICE_PUBLIC

SWANCTL = f"""connections {{
    s2s {{
        version = 2
        local_addrs = {CLOUD_PUBLIC}
        remote_addrs = {OFFICE_PUBLIC}
        proposals = aes256gcm16-prfsha256-ecp256
        local {{
            auth = psk
            id = {CLOUD_PUBLIC}
        }}
        remote {{
            auth = psk
            id = {OFFICE_PUBLIC}
        }}
        children {{
            net {{
                local_ts = 10.0.1.0/24
                remote_ts = 192.168.1.0/24
                esp_proposals = aes256gcm16
            }}
        }}
    }}
}}
secrets {{
    ike-s2s {{
        id-a = {OFFICE_PUBLIC}
        id-b = {CLOUD_PUBLIC}
        secret = "isthmus-demo-key-change-me-0123456789"
    }}
}}
"""


def test_harness(scene, checks, isthmus_bin):
    prereq.require(checks, tools=["ip", "swanctl", "tcpdump"], isthmus=isthmus_bin,
                   files=["/usr/lib/ipsec/charon", "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so"])
    sites = scene.two_sites(tuns=False)
    wire = scene.capture(sites.ofc, "wan0")
    ss = scene.strongswan(sites.cld)
    r = ss.load(SWANCTL)
    checks.check("harness.strongswan-loads", r.returncode == 0, (r.stdout + r.stderr)[-300:])
    checks.check("harness.strongswan-no-sa-yet", ss.list_sas() == [], str(ss.list_sas()))
    yaml = (EXAMPLES / "office-dynamic.yaml").read_text().replace("esp: [aes256gcm16, aes256-sha256]",
                                                                   "esp: [aes256gcm16]")
    gw = scene.isthmus(sites.ofc, yaml, name="isthmus", log_format="text", log_level="debug")
    checks.require("harness.established", gw.wait_for(lambda s: child_sas(s)) and ss.wait_ready("s2s"),
                   f"isthmus: {gw.log_tail(5)}")
    checks.extend("harness", verify_established(
        ss.list_sas(), gw.status(), ss_conn="s2s", ist_conn="office-cloud",
        ike="AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256", esp="AES_GCM_16-256", lts="10.0.1.0/24",
        rts="192.168.1.0/24", isthmus_role="initiator"))
    spi = child_sas(gw.status())[0].get("inboundSPI")
    r = ss.rekey(child="net")
    checks.check("harness.strongswan-rekeys", r.returncode == 0, (r.stdout + r.stderr)[-300:])
    checks.check("harness.isthmus-sees-the-rekey",
                 gw.wait_for(lambda s: any(c.get("inboundSPI") != spi for c in child_sas(s))),
                 f"Isthmus's CHILD SA still has inbound SPI {spi}")
    # The answer leaves after the status changed (through the data plane's queue): wait until tcpdump (-U,
    # packet-buffered) has written it rather than for a fixed time, which a loaded machine can overrun.
    proc.wait_for(lambda: any("CREATE_CHILD_SA response" in line for line in capture.ike_summary(wire.path)), 10,
                  interval=0.1)
    wire.stop()
    lines = capture.ike_summary(wire.path)
    scene.write("wire.txt", "\n".join(lines) + "\n", mode=0o644)
    checks.check("harness.capture-has-ike-auth", any("IKE_AUTH response" in line for line in lines),
                 f"{len(lines)} datagrams captured")
    checks.check("harness.capture-has-rekey", any("CREATE_CHILD_SA response" in line for line in lines),
                 f"{len(lines)} datagrams captured")
