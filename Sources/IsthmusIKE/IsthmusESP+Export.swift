// The cores speak the ESP engine's vocabulary (ESPSecurityAssociation, ESPSAChange, ESPLifetime) in their
// actions; re-exported so that whoever reads IKEActions can look inside them.
@_exported import IsthmusESP
