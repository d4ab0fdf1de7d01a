// The shared core interface (IKESession, IKEInput, IKEAction, ...), re-exported so that importers of
// IsthmusIKEv1 see it as importers of IsthmusIKEv2 do.
@_exported import IsthmusIKE
