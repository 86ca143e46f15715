// systemd service notifications (sd_notify(3)) for Type=notify units: READY=1 once listening,
// WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 at shutdown, STATUS= for `systemctl status`.
//
// The protocol is a datagram on the AF_UNIX socket named by $NOTIFY_SOCKET. Node's core has no unix
// datagram sockets, so each notification runs `systemd-notify` (Debian's systemd package, present
// wherever systemd runs us). Because the sender is then a child process, the unit needs
// NotifyAccess=all (image/systemd/oftp2.service); READY=1 also carries MAINPID (--pid) so systemd
// knows which process is the daemon. systemd-notify (v252+) waits on a barrier until systemd has
// read the message, so the child exiting first does not lose its attribution.
// Without $NOTIFY_SOCKET (not started by systemd) nothing is sent.
import { execFile } from 'node:child_process';
import type { Log } from '../station/session-handler.ts';

/** The watchdog ping interval (half of WATCHDOG_USEC), or undefined when no watchdog is asked of this process. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  // WATCHDOG_PID names the process the watchdog is for; another process (a child) must not ping.
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== '' && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

export class SystemdNotifier {
  readonly #socket: string;
  readonly #log: Log;
  readonly #command: string;
  readonly #watchdogMs: number | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #warned = false;

  private constructor(socket: string, log: Log, command: string, watchdogMs: number | undefined) {
    this.#socket = socket;
    this.#log = log;
    this.#command = command;
    this.#watchdogMs = watchdogMs;
  }

  /**
   * A notifier when $NOTIFY_SOCKET is set. $OFTP2_SYSTEMD_NOTIFY may name another systemd-notify
   * binary (default: systemd-notify from PATH).
   */
  static fromEnv(env: NodeJS.ProcessEnv, log: Log): SystemdNotifier | undefined {
    const socket = env.NOTIFY_SOCKET;
    if (!socket) return undefined;
    return new SystemdNotifier(socket, log, env.OFTP2_SYSTEMD_NOTIFY || 'systemd-notify', watchdogIntervalMs(env, process.pid));
  }

  get watchdogMs(): number | undefined {
    return this.#watchdogMs;
  }

  /** Sends `KEY=value` assignments in one datagram; a failure is logged once, never thrown. */
  send(assignments: string[], withPid = false): Promise<void> {
    const args = [...(withPid ? [`--pid=${process.pid}`] : []), ...assignments];
    return new Promise((resolve) => {
      execFile(this.#command, args, { env: { ...process.env, NOTIFY_SOCKET: this.#socket }, timeout: 5000 }, (err, _stdout, stderr) => {
        if (err && !this.#warned) {
          this.#warned = true;
          this.#log.warn({ err: String(err), stderr: String(stderr).trim() || undefined, socket: this.#socket }, 'systemd notification failed (is systemd-notify installed?)');
        }
        resolve();
      });
    });
  }

  ready(status: string): Promise<void> {
    return this.send(['READY=1', `STATUS=${status}`], true);
  }

  stopping(): Promise<void> {
    return this.send(['STOPPING=1', 'STATUS=stopping']);
  }

  /** Pings WATCHDOG=1 at half of WATCHDOG_USEC from the event loop: a stuck loop misses them. */
  startWatchdog(): void {
    if (this.#watchdogMs === undefined || this.#watchdog) return;
    void this.send(['WATCHDOG=1']);
    this.#watchdog = setInterval(() => void this.send(['WATCHDOG=1']), this.#watchdogMs);
    this.#watchdog.unref();
  }

  stopWatchdog(): void {
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }
}
