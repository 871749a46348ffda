// The controller runtime shared by the add-on operator and the manager. See README.md.
export * from './client.ts';
export * from './conditions.ts';
export * from './controller.ts';
export * from './events.ts';
export * from './informer.ts';
export * from './leader-election.ts';
export * from './manager.ts';
export * from './metrics.ts';
export * from './objects.ts';
export * from './sleep.ts';
export * from './workqueue.ts';
