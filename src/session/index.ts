export { SessionManager, type CreateSessionInput, type SessionManagerOptions } from './manager.js';
export { Session, type ApprovalDecision } from './session.js';
export type { EventCursor } from './cursor.js';
export { brokerLimits, requestLimits, DEFAULT_LIMITS, type BrokerLimits } from './limits.js';
export { createToolResolver, type ToolResolverOptions, type ToolRoute } from './tool-resolver.js';
export { Emitter } from './emitter.js';
export * from './types.js';
