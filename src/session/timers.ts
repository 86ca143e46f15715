// Which inactivity timer runs in which state (RFC 5024 §4.7.2; §9: every transition stops and
// restarts "the inactivity timer"; §9.9 says what its expiry does). The RFC has one timer; we give
// it a duration per kind of wait, so a slow peer, a slow application and a lingering connection
// can be bounded separately. Durations and expiry actions are data: DEFAULT_TIMERS in types.ts.
import { SESSION_STATES, type SessionState, type TimerKind } from './types.ts';

const WAIT_TIMER = { peer: 'response', application: 'application', transport: undefined, nothing: undefined } as const;

/** The timer each state starts on entry; undefined: no timer (before connection, closed). */
export const STATE_TIMER: Readonly<Record<SessionState, TimerKind | undefined>> = Object.fromEntries(
  Object.entries(SESSION_STATES).map(([state, info]) => [
    state,
    state === 'ExpectDisconnect' ? 'disconnect' : WAIT_TIMER[info.waitsFor],
  ]),
) as Record<SessionState, TimerKind | undefined>;
