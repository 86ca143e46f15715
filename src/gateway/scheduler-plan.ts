// From the station's configuration (station.scheduler, partners[].schedule) to the scheduler core's
// plan: windows and cron expressions parsed, station-wide retry defaults under per-partner overrides.
import type { StationConfig } from '../store/station-config.ts';
import type { PartnerPlan, SchedulerPlan } from './scheduler-core.ts';
import { parseCron, parseWindow } from './scheduler-calendar.ts';

export function schedulerPlan(config: StationConfig): SchedulerPlan {
  const s = config.station.scheduler;
  const partners: PartnerPlan[] = config.partners.map((p) => {
    const sch = p.schedule ?? {};
    return {
      name: p.name,
      dialable: p.host !== undefined,
      dialOnQueue: sch.dialOnQueue ?? true,
      windows: (sch.windows ?? []).map(parseWindow),
      dialAt: (sch.dialAt ?? []).map(parseCron),
      pollEveryMs: sch.pollEverySeconds === undefined ? undefined : sch.pollEverySeconds * 1000,
      pollAt: (sch.pollAt ?? []).map(parseCron),
      dialInWindows: (sch.dialInWindows ?? []).map(parseWindow),
      retry: { ...s.retry, ...sch.retry },
      configKey: JSON.stringify(p),
    };
  });
  return {
    timeZone: s.timeZone,
    maxSessions: s.maxSessions,
    maxSessionsPerPartner: s.maxSessionsPerPartner,
    debounceMs: s.debounceMs,
    maxDebounceMs: s.maxDebounceMs,
    partners,
  };
}
