// The OpenTelemetry resource of a service's telemetry: who is speaking. Upstream sets service.name
// and service.version; the SDK adds telemetry.sdk.*; OTEL_RESOURCE_ATTRIBUTES adds the user's own.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultResource, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { TelemetryConfig } from './config.ts';

/** The add-on's version: package.json's, which the image ships (Dockerfile) beside bin/ and addon/. */
export const serviceVersion = (
  JSON.parse(readFileSync(resolve(import.meta.dirname, '../../../package.json'), 'utf8')) as {
    version: string;
  }
).version;

/**
 * Later entries win: the SDK's defaults, service.version, OTEL_RESOURCE_ATTRIBUTES (so a user can
 * stamp their own service.version), and last service.name (OTEL_SERVICE_NAME, already resolved in
 * the config against OTEL_RESOURCE_ATTRIBUTES' service.name).
 */
export function telemetryResource(telemetry: TelemetryConfig): Resource {
  return defaultResource().merge(
    resourceFromAttributes({
      'service.version': serviceVersion,
      ...telemetry.resourceAttributes,
      'service.name': telemetry.serviceName,
    }),
  );
}
