export { EnclaveClient } from './client.js';
export { EnclaveStream } from './stream.js';
export {
  AuthenticationError,
  CancelledError,
  ConflictError,
  EnclaveError,
  NetworkError,
  NotFoundError,
  ProtocolError,
  RateLimitError,
  RequestError,
  SandboxError,
  TooManySessionsError,
  UnavailableError,
  isEnclaveError,
  type ClientErrorCode,
  type EnclaveErrorInit,
} from './errors.js';
export { getDocumentation } from './tools.js';
export type {
  ApprovalAnswer,
  ApprovalDecisionBody,
  ApprovalRequest,
  ClientToolDefinition,
  ClientToolHandler,
  ClientTools,
  EnclaveClientOptions,
  ExecuteOptions,
  FollowOptions,
  HeadersSource,
  HealthInfo,
  LimitName,
  RetryOptions,
  RunResult,
  SessionInfo,
  ToolAnswer,
  ToolCallContext,
} from './types.js';
export type {
  ApprovalRequiredPayload,
  EventFilter,
  EventType,
  FinalPayload,
  LogPayload,
  StreamEvent,
  ToolCallPayload,
} from '../protocol/events.js';
