// The one set of API types every component imports: `import type { InterceptorRoute } from '../api/index.ts'`.
export * from './meta.ts';
export * from './kinds.ts';
export * from './interceptor-route.ts';
export * from './http-scaled-object.ts';
export * from './scaled-object.ts';
export * from './keda.ts';
