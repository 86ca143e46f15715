// The session engine's public surface (RFC 5024 §3, §4, §9): see engine.ts for the theory of operation.
export { OftpSession } from './engine.ts';
export { BoundaryFramer, type Framer, StbFramer } from './framer.ts';
export { ProtocolViolation } from './protocol-violation.ts';
export { APP_COMMANDS, PEER_TRANSITIONS } from './transitions.ts';
export * from './types.ts';
