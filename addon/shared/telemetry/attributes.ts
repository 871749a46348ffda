// Span attributes of our own, shared by the interceptor and the scaler: `keda.route` is the key a
// trace viewer joins the two processes on (the interceptor's request and cold-start wait, the
// scaler's answer to KEDA), since no single trace can span them (see
// docs/decisions/interceptor-tracing.md).

/** "namespace/name" of the InterceptorRoute (or HTTPScaledObject) a span is about. */
export const attrRoute = 'keda.route';
/** The target Service, "namespace/service", and its port (name or number). */
export const attrTarget = 'keda.target';
export const attrTargetPort = 'keda.target.port';
/** How a cold-start wait ended: ready, readiness_timeout, fallback, deadline, client_left, drain. */
export const attrWaitOutcome = 'keda.cold_start.outcome';
/** The wait was behind the release of a cold start's held requests, not a cold start of its own. */
export const attrWaitBehindRelease = 'keda.cold_start.behind_release';
