// The interface every IKE core shares (IKESession, IKEInput, IKEAction, ...) lives in IsthmusIKE so IKEv1 can
// implement it without depending on IKEv2; re-exported so that importers of IsthmusIKEv2 (the daemon, tests)
// see it unchanged.
@_exported import IsthmusIKE
