// The scaler's spans, when traces are on (service keda-http-external-scaler):
//   externalscaler.ExternalScaler/<Method>   a server span per unary call KEDA makes (IsActive,
//                                            GetMetricSpec, GetMetrics): the route, the answer
//   StreamIsActive send                      a message to KEDA on a StreamIsActive stream whose
//                                            answer changed; when an interceptor's activation push
//                                            caused it, the span starts when the push arrived and
//                                            carries it as the event `activation pushed`
// KEDA starts no trace of its own around these calls, and the interceptor's push is not tied to
// one request, so these spans join the interceptor's by `keda.route` and time, not by trace id
// (docs/decisions/interceptor-tracing.md).
import type { Metadata } from '@grpc/grpc-js';
import { type Attributes, SpanKind, SpanStatusCode, type TextMapGetter } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE, ATTR_RPC_METHOD } from '@opentelemetry/semantic-conventions';
import { attrRoute } from '../../shared/telemetry/attributes.ts';
import type { Tracing } from '../../shared/telemetry/tracing.ts';
import type { ScaledObjectRef } from './messages.ts';
import { ScalerError, triggerKey } from './trigger-metrics.ts';

const rpcService = 'externalscaler.ExternalScaler';

/** What the interceptor's /queue/watch stream said, when it moved a StreamIsActive answer. */
export interface ActivationPush {
  /** The interceptor pod that reported it. */
  pod: string;
  concurrency: number;
  /** Date.now() when the push arrived. */
  at: number;
}

const metadataGetter: TextMapGetter<Metadata> = {
  keys: (m) => Object.keys(m.getMap()),
  get: (m, key) => {
    const v = m.get(key);
    return v.length === 0 ? undefined : v.map(String);
  },
};

/** The route and ScaledObject a call is about, as KEDA's ref names them. */
function refAttributes(ref: ScaledObjectRef): Attributes {
  const md = ref.scalerMetadata ?? {};
  const key = triggerKey(ref);
  return {
    'keda.scaledobject': `${ref.namespace}/${ref.name}`,
    ...(key === undefined ? {} : { [attrRoute]: key }),
    ...(md['hosts'] === undefined ? {} : { 'keda.scaler.hosts': md['hosts'] }),
  };
}

/** The scaler's spans for one Tracing; scaler.ts loads this file only when traces are on. */
export interface ScalerSpans {
  call<T>(
    method: string,
    ref: ScaledObjectRef,
    metadata: Metadata,
    run: () => T,
    describe: (answer: T) => Attributes,
  ): T;
  streamSend(ref: ScaledObjectRef, result: boolean, push: ActivationPush | undefined): void;
}

export function scalerSpans(tracing: Tracing): ScalerSpans {
  return {
    call: (method, ref, metadata, run, describe) => tracedCall(tracing, method, ref, metadata, run, describe),
    streamSend: (ref, result, push) => traceStreamSend(tracing, ref, result, push),
  };
}

/**
 * Runs one unary call inside its server span. `describe` turns the answer into attributes
 * (IsActive's result, GetMetrics' values).
 */
export function tracedCall<T>(
  tracing: Tracing,
  method: string,
  ref: ScaledObjectRef,
  metadata: Metadata,
  run: () => T,
  describe: (answer: T) => Attributes,
): T {
  const parent = tracing.propagator.extract(tracing.root, metadata, metadataGetter);
  const span = tracing.tracer.startSpan(
    `${rpcService}/${method}`,
    {
      kind: SpanKind.SERVER,
      attributes: {
        'rpc.system': 'grpc',
        'rpc.service': rpcService,
        [ATTR_RPC_METHOD]: method,
        ...refAttributes(ref),
      },
    },
    parent,
  );
  try {
    const answer = run();
    span.setAttributes(describe(answer));
    span.setAttribute('rpc.grpc.status_code', 0);
    return answer;
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    span.setAttribute('rpc.grpc.status_code', err instanceof ScalerError ? err.code : 2);
    span.setAttribute(ATTR_ERROR_TYPE, e.name);
    span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
    throw err;
  } finally {
    span.end();
  }
}

/** A StreamIsActive message whose answer changed; from the push that caused it, if one did. */
export function traceStreamSend(
  tracing: Tracing,
  ref: ScaledObjectRef,
  result: boolean,
  push: ActivationPush | undefined,
): void {
  const span = tracing.tracer.startSpan(
    'StreamIsActive send',
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        'rpc.system': 'grpc',
        'rpc.service': rpcService,
        [ATTR_RPC_METHOD]: 'StreamIsActive',
        ...refAttributes(ref),
        'keda.scaler.active': result,
        'keda.scaler.cause': push === undefined ? 'poll' : 'activation_push',
      },
      ...(push === undefined ? {} : { startTime: push.at }),
    },
    tracing.root,
  );
  if (push !== undefined) {
    span.addEvent(
      'activation pushed',
      { 'keda.interceptor.pod': push.pod, 'keda.route.concurrency': push.concurrency },
      push.at,
    );
  }
  span.end();
}
