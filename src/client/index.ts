export { EnclaveClient } from './client.js';
export { EnclaveStream } from './stream.js';
export { EnclaveError, isEnclaveError, type ClientErrorCode, type EnclaveErrorInit } from './errors.js';
export type {
  ApprovalAnswer,
  ApprovalDecisionBody,
  ApprovalRequest,
  ClientToolHandler,
  ClientTools,
  EnclaveClientOptions,
  ExecuteOptions,
  FollowOptions,
  HeadersSource,
  HealthInfo,
  LimitName,
  RetryOptions,
  SessionInfo,
  ToolAnswer,
  ToolCallContext,
} from './types.js';
export type {
  ApprovalRequiredPayload,
  EventFilter,
  EventType,
  FinalPayload,
  StreamEvent,
  ToolCallPayload,
} from '../protocol/events.js';
